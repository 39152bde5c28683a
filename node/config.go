package node

import (
	"errors"
	"fmt"
	"github.com/aonode/aonode/consensus"
	"log/slog"
	"net"
	"net/url"
	"slices"
	"time"

	"github.com/aonode/aonode/dataitem"
	"github.com/aonode/aonode/dataitem/aoapi"
	"github.com/aonode/aonode/node/clock"
	"github.com/aonode/aonode/p2p"
	"github.com/aonode/aonode/su"
)

// Roles a node can take.
const (
	RoleSU      = "su"
	RoleCU      = "cu"
	RoleMU      = "mu"
	RoleGateway = "gateway"
)

// AllRoles lists the roles this build can run, which is what a dev node runs.
var AllRoles = []string{RoleSU, RoleCU, RoleMU, RoleGateway}

// Config is everything a node needs. DefaultConfig fills the defaults; flags and YAML fill the
// same struct.
type Config struct {
	// Roles to run, e.g. ["su"] (default: AllRoles).
	Roles []string
	// SUURL is the SU the CU reads schedules from and the MU sends to, when this node runs
	// no SU itself (with the su role the node's own /su is used). GatewayURL is the gateway
	// the CU loads modules from when the node runs no gateway (optional). CUURL is the CU the
	// MU reads results from when the node runs no CU.
	SUURL      string
	GatewayURL string
	CUURL      string
	// NoLocalShortcut makes the node's units call each other over its listener, as they
	// call other nodes, instead of in-process (the default; tests of the network path).
	NoLocalShortcut bool
	// CompileCacheDir keeps the machine code of compiled modules across restarts (default
	// <DataDir>/wasm-cache; with InMemory and no CompileCacheDir, a memory cache only).
	CompileCacheDir string
	// CronInterval is how often the MU polls the CU for the cron results of monitored
	// processes (default mu.DefaultCronInterval).
	CronInterval time.Duration
	// DataDir holds the store (ignored when InMemory).
	DataDir string
	// InMemory keeps the store in memory: for tests only, nothing survives Close.
	InMemory bool
	// HTTPAddr is the one listener of the node (host:port; port 0 picks a free one).
	HTTPAddr string
	// KeyFile is the node key as JWK (ed25519 OKP by default, or an Arweave RSA JWK); Signer,
	// when set, is used instead.
	KeyFile string
	Signer  dataitem.Signer
	// MaxItemBytes bounds one POSTed item (the reference's 10 MiB by default).
	MaxItemBytes int64
	// BlockHeight is the Arweave height stamped on assignments while no gateway answers;
	// with no ArweaveURL it is the height, fixed (default 0).
	BlockHeight uint64
	// ArweaveURL, when set, is polled at {ArweaveURL}/info every ArweavePollInterval for the
	// current height, as the reference SU does.
	ArweaveURL          string
	ArweavePollInterval time.Duration
	// ShutdownTimeout bounds how long Close waits for in-flight HTTP requests.
	ShutdownTimeout time.Duration
	// Limits bounds what clients can make the node hold and compute (limits.go).
	Limits Limits
	// TrustedMUs are wallet addresses of other nodes' MUs whose pushes (items carrying
	// From-Process or From-Module) the SU accepts; with p2p, nodes whose signed record
	// announces the mu role are trusted too (trust.go).
	TrustedMUs []string
	// StoreBatchDelay lets the store's committer wait this long to gather more batches into
	// one fsync (0: take what is queued and go).
	StoreBatchDelay time.Duration
	// Follow lists processes the CU computes from the start, besides those it is asked
	// about; FollowAll ("all") among them makes it compute every process it hears of on the
	// network (peers' topic subscriptions): testnets and watchtowers.
	Follow []string
	// ResultQuorum is how many distinct CUs must attest the same Result-SHA256 before the
	// MU cranks a result's outbox (default 1: the one CU asked).
	ResultQuorum int
	// alterResult makes the CU deliberately wrong: tests only.
	alterResult func(pid string, nonce uint64, result []byte) []byte
	// P2P, when set (a filled p2p.DefaultConfig), starts a libp2p host: the node announces
	// itself in the node directory and finds the SUs and CUs it lacks through it, so SUURL
	// and CUURL may stay empty (see network.go).
	P2P *p2p.Config
	// PublicURL is the base URL clients and other nodes reach this node's HTTP listener at:
	// announced in its node record, and its /su is the Url of the SU's Scheduler-Location
	// (default: the listener's own URL, right only on one machine).
	PublicURL string
	// SchedulerLocationTTL is the Time-To-Live of the SU's Scheduler-Location: how long
	// clients cache it (default DefaultSchedulerLocationTTL). The SU re-signs it well before.
	SchedulerLocationTTL time.Duration
	// Raft tunes the Raft groups of processes with several schedulers (needs P2P); zero
	// fields take consensus.DefaultTimeouts (failover well under a second on a LAN). Raise
	// them above the members' round trips for a set spread over a WAN.
	Raft consensus.Timeouts
	// Clock drives the node's own timers (so far the Scheduler-Location refresh and the
	// gateway's negative cache); nil is the wall clock.
	Clock  Clock
	Logger *slog.Logger
}

// DefaultConfig returns a Config with every default filled in; DataDir and the key remain
// to be set.
func DefaultConfig() Config {
	return Config{
		Roles:                slices.Clone(AllRoles),
		HTTPAddr:             "127.0.0.1:8734",
		MaxItemBytes:         su.DefaultMaxItemBytes,
		ArweavePollInterval:  5 * time.Second,
		ShutdownTimeout:      10 * time.Second,
		SchedulerLocationTTL: DefaultSchedulerLocationTTL,
		Limits:               DefaultLimits(),
	}
}

// withDefaults fills zero values, so a Config built by hand works too.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if len(c.Roles) == 0 {
		c.Roles = d.Roles
	}
	if c.HTTPAddr == "" {
		c.HTTPAddr = d.HTTPAddr
	}
	if c.MaxItemBytes == 0 {
		c.MaxItemBytes = d.MaxItemBytes
	}
	if c.ArweavePollInterval == 0 {
		c.ArweavePollInterval = d.ArweavePollInterval
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = d.ShutdownTimeout
	}
	if c.SchedulerLocationTTL == 0 {
		c.SchedulerLocationTTL = d.SchedulerLocationTTL
	}
	if c.Clock == nil {
		c.Clock = clock.Wall{}
	}
	c.Limits = c.Limits.withDefaults()
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Validate reports the first setting that cannot work.
func (c Config) Validate() error {
	c = c.withDefaults()
	seen := map[string]bool{}
	for _, r := range c.Roles {
		if !slices.Contains(AllRoles, r) {
			return fmt.Errorf("node: unknown role %q (this build runs: %v)", r, AllRoles)
		}
		if seen[r] {
			return fmt.Errorf("node: role %q given twice", r)
		}
		seen[r] = true
	}
	if err := c.Raft.Validate(); err != nil {
		return fmt.Errorf("node: %w", err)
	}
	if !c.InMemory && c.DataDir == "" {
		return errors.New("node: a data directory is required")
	}
	if _, _, err := net.SplitHostPort(c.HTTPAddr); err != nil {
		return fmt.Errorf("node: HTTP address %q: %w", c.HTTPAddr, err)
	}
	if c.Signer == nil && c.KeyFile == "" {
		return errors.New("node: a key file is required")
	}
	for _, pid := range c.Follow {
		if pid == FollowAll {
			continue
		}
		if id, err := dataitem.DecodeID(pid); err != nil || dataitem.EncodeID(id[:]) != pid {
			return fmt.Errorf("node: follow %q: not a process id (or %q)", pid, FollowAll)
		}
	}
	if c.ResultQuorum < 0 || c.ResultQuorum > 64 {
		return fmt.Errorf("node: result quorum %d outside 0..64", c.ResultQuorum)
	}
	if c.MaxItemBytes < 1024 || c.MaxItemBytes > 1<<30 {
		return fmt.Errorf("node: MaxItemBytes %d outside 1 KiB..1 GiB", c.MaxItemBytes)
	}
	if c.ArweaveURL != "" {
		u, err := url.Parse(c.ArweaveURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("node: Arweave URL %q is not an http(s) URL", c.ArweaveURL)
		}
		if c.ArweavePollInterval < 100*time.Millisecond {
			return fmt.Errorf("node: Arweave poll interval %v is below 100ms", c.ArweavePollInterval)
		}
	}
	for _, u := range []struct{ name, url string }{{"SU", c.SUURL}, {"gateway", c.GatewayURL}, {"CU", c.CUURL}} {
		if u.url == "" {
			continue
		}
		p, err := url.Parse(u.url)
		if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			return fmt.Errorf("node: %s URL %q is not an http(s) URL", u.name, u.url)
		}
	}
	for _, a := range c.TrustedMUs {
		if _, err := dataitem.DecodeID(a); err != nil {
			return fmt.Errorf("node: trusted MU %q is not a wallet address (43 base64url characters)", a)
		}
	}
	if err := c.validateNetwork(); err != nil {
		return err
	}
	if (c.has(RoleCU) || c.has(RoleMU)) && !c.has(RoleSU) && c.SUURL == "" && c.P2P == nil {
		return errors.New("node: the cu and mu roles need an SU: run the su role too or give its URL (--su)")
	}
	if c.has(RoleMU) && !c.has(RoleCU) && c.CUURL == "" && c.P2P == nil {
		return errors.New("node: the mu role needs a CU: run the cu role too or give its URL (--cu)")
	}
	if c.SchedulerLocationTTL < aoapi.MinLocationTTL || c.SchedulerLocationTTL > aoapi.MaxLocationTTL {
		return fmt.Errorf("node: SchedulerLocationTTL %v outside %v..%v", c.SchedulerLocationTTL, aoapi.MinLocationTTL, aoapi.MaxLocationTTL)
	}
	if c.CronInterval < 0 {
		return errors.New("node: CronInterval must not be negative")
	}
	if c.ShutdownTimeout < 0 {
		return errors.New("node: ShutdownTimeout must not be negative")
	}
	if c.StoreBatchDelay < 0 || c.StoreBatchDelay > time.Second {
		return fmt.Errorf("node: StoreBatchDelay %v outside 0..1s", c.StoreBatchDelay)
	}
	return c.Limits.Validate()
}

func (c Config) has(role string) bool { return slices.Contains(c.Roles, role) }
