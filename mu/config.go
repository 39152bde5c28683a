package mu

import (
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/aonode/aonode/dataitem"
	"github.com/aonode/aonode/node/clock"
	"github.com/aonode/aonode/store"
	"github.com/prometheus/client_golang/prometheus"
)

// Defaults; the retry figures follow the reference (10 result retries, 1 s base backoff).
const (
	DefaultWorkers        = 8
	DefaultMaxAttempts    = 10
	DefaultRetryBase      = time.Second
	DefaultRetryMax       = 30 * time.Second
	DefaultCronInterval   = 10 * time.Second
	DefaultCronPageSize   = 50
	DefaultMaxItemBytes   = 10 << 20
	DefaultMaxResult      = 64 << 20
	DefaultRequestTimeout = 2 * time.Minute
	DefaultMemberTimeout  = 10 * time.Second
	// lookBackMs: how far before a task was queued its assignment may carry a timestamp, to
	// absorb clock skew between this MU and the SU when an assignment id has to be found again.
	lookBackMs = 10 * 60 * 1000
)

// Config configures an MU. Store, Signer, Router and one of Compute or CUURL are required.
type Config struct {
	Store  *store.DB
	Signer dataitem.Signer // signs pushed messages, spawns and notices
	Router Router          // finds SUs; StaticRouter{Default: localSU} for one node
	// Scheduler and Compute default to an HTTPClient (Compute at CUURL).
	Scheduler  Scheduler
	Compute    Compute
	CUURL      string
	HTTPClient *http.Client // for the default clients; nil = a client with RequestTimeout

	Registerer prometheus.Registerer // nil registers no metrics
	Logger     *slog.Logger          // nil = slog.Default()

	Workers        int           // concurrent crank steps
	MaxAttempts    int           // attempts of a step before its task is dead-lettered
	RetryBase      time.Duration // first retry delay, doubled per attempt
	RetryMax       time.Duration // cap of the retry delay
	CronInterval   time.Duration // how often monitored processes are polled
	CronPageSize   int           // cron results read per request
	MaxItemBytes   int64         // POST / body limit, and the largest item the MU builds
	MaxResultBytes int64         // largest SU/CU response read
	RequestTimeout time.Duration // per SU/CU call
	// MemberTimeout bounds a call to one SU of a scheduler set when other members remain to
	// try: a hung member costs this long, not RequestTimeout.
	MemberTimeout time.Duration
	// NoBootCrank disables pulling and cranking the boot result of a spawned process (the
	// reference's SPAWN_PUSH_ENABLED, on by default here).
	NoBootCrank bool
	// ResultQuorum is how many distinct CUs must attest the same Result-SHA256 before a
	// result's outbox is cranked (default 1: the result of Compute, unchecked). Above 1,
	// Attesters is required; a step waits up to QuorumWait (default DefaultQuorumWait) for
	// the quorum, then the task is retried later, as long as it takes (quorum.go).
	ResultQuorum int
	QuorumWait   time.Duration
	Attesters    Attesters
	// Clock is the time tasks are stamped with and retries and cron polls wait on; tests
	// pass a manual one (nil: the wall clock).
	Clock Clock
}

// Clock is what the MU reads and waits on.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

// Validate reports the first setting that cannot work.
func (c Config) Validate() error {
	switch {
	case c.Store == nil:
		return errors.New("mu: config: Store is required")
	case c.Signer == nil:
		return errors.New("mu: config: Signer is required")
	case c.Router == nil:
		return errors.New("mu: config: Router is required")
	case c.Compute == nil && c.CUURL == "":
		return errors.New("mu: config: Compute or CUURL is required")
	case c.Workers < 0, c.MaxAttempts < 0, c.CronPageSize < 0:
		return errors.New("mu: config: Workers, MaxAttempts and CronPageSize must not be negative")
	case c.ResultQuorum < 0 || c.ResultQuorum > 1 && c.Attesters == nil:
		return errors.New("mu: config: a ResultQuorum above 1 needs Attesters")
	case c.CronPageSize > 1000:
		return errors.New("mu: config: CronPageSize above the CU's cap of 1000")
	case c.RetryBase < 0, c.RetryMax < 0, c.CronInterval < 0, c.RequestTimeout < 0, c.MemberTimeout < 0:
		return errors.New("mu: config: durations must not be negative")
	case c.MaxItemBytes < 0, c.MaxResultBytes < 0:
		return errors.New("mu: config: sizes must not be negative")
	}
	return nil
}

func (c Config) withDefaults() Config {
	if c.Workers == 0 {
		c.Workers = DefaultWorkers
	}
	if c.MaxAttempts == 0 {
		c.MaxAttempts = DefaultMaxAttempts
	}
	if c.RetryBase == 0 {
		c.RetryBase = DefaultRetryBase
	}
	if c.ResultQuorum == 0 {
		c.ResultQuorum = 1
	}
	if c.QuorumWait == 0 {
		c.QuorumWait = DefaultQuorumWait
	}
	if c.RetryMax == 0 {
		c.RetryMax = DefaultRetryMax
	}
	if c.RetryMax < c.RetryBase {
		c.RetryMax = c.RetryBase
	}
	if c.CronInterval == 0 {
		c.CronInterval = DefaultCronInterval
	}
	if c.CronPageSize == 0 {
		c.CronPageSize = DefaultCronPageSize
	}
	if c.MaxItemBytes == 0 {
		c.MaxItemBytes = DefaultMaxItemBytes
	}
	if c.MaxResultBytes == 0 {
		c.MaxResultBytes = DefaultMaxResult
	}
	if c.RequestTimeout == 0 {
		c.RequestTimeout = DefaultRequestTimeout
	}
	if c.MemberTimeout == 0 {
		c.MemberTimeout = min(DefaultMemberTimeout, c.RequestTimeout)
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Clock == nil {
		c.Clock = clock.Wall{}
	}
	if c.Scheduler == nil || c.Compute == nil {
		hc := c.HTTPClient
		if hc == nil {
			hc = &http.Client{Timeout: c.RequestTimeout}
		}
		cl := &HTTPClient{HTTP: hc, CUURL: c.CUURL, MaxResponseBytes: c.MaxResultBytes}
		if c.Scheduler == nil {
			c.Scheduler = cl
		}
		if c.Compute == nil {
			c.Compute = cl
		}
	}
	return c
}
