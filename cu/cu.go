package cu

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/aonode/aonode/cu/module"
	"github.com/aonode/aonode/dataitem"
	"github.com/aonode/aonode/node/clock"
	"github.com/aonode/aonode/store"
)

// Config configures a CU. Store, Signer, Source and Runtimes are required.
type Config struct {
	Store  *store.DB
	Signer dataitem.Signer // the node key; signs attestations
	Source Source          // where schedules come from (NewSUClient for an SU URL)
	// Gateway loads modules (and hydrates pure assignments) that the node's store lacks.
	// Optional.
	Gateway *Gateway
	// Items are the node's own data items, searched for modules before the gateway.
	// Default: Store.
	Items ItemLookup
	// Runtimes by module format; a process whose module has another Module-Format gets 422.
	Runtimes map[module.Format]Runtime

	MaxMemoryLimit  uint64 // largest Memory-Limit accepted (default 1 GiB)
	MaxComputeLimit uint64 // largest Compute-Limit accepted (default 9e12)
	// InstanceBudgetBytes bounds the memory held by live processes and dry-runs (LRU,
	// default 1 GiB): idle processes are unloaded to make room, and a dry-run that still
	// does not fit is refused (503).
	InstanceBudgetBytes int64
	// Dry-run admission (dryrun.go): DryRunConcurrency dry-runs evaluate at once (default
	// the number of CPUs), at most DryRunPerProcess of one process; DryRunQueue more wait at
	// most twice DryRunTimeout (< 0: no queue); others get 503 with Retry-After. DryRunTimeout is
	// also the wall-clock cap of a dry-run's evaluation (413 past it). One client address may
	// start DryRunRate dry-runs per second in bursts of DryRunBurst (< 0: no rate limit; 429
	// past it). DryRunWait is how long a dry-run waits for its process to catch up before it
	// runs on the last committed state instead.
	DryRunConcurrency int
	DryRunPerProcess  int
	DryRunQueue       int
	DryRunTimeout     time.Duration
	DryRunRate        float64
	DryRunBurst       int
	DryRunWait        time.Duration
	// EvalTimeout caps the wall-clock time of one evaluation (default DefaultEvalTimeout,
	// < 0: no cap). A message that runs longer is not recorded: its process pauses and tries
	// it again after PauseRetry, doubling up to an hour (evaltime.go).
	EvalTimeout time.Duration
	PauseRetry  time.Duration
	// CheckpointEvery writes a checkpoint after this many evaluations (default 500);
	// CheckpointInterval writes one when a catch-up ends and the last is older (default 1 min).
	// IdleCheckpoint writes one when a process has had nothing to evaluate for this long
	// (default 10 s; < 0 disables).
	CheckpointEvery    int
	CheckpointInterval time.Duration
	IdleCheckpoint     time.Duration
	// CommitEvery bounds how many results are buffered before a durable commit (default 64).
	CommitEvery int
	// HashChainFromHeight: hash chains are verified for processes spawned at or above this
	// block height (default 0: always). The reference uses 1440000.
	HashChainFromHeight uint64
	// Conflicts hears of two assignments with different ids for one slot of a process (the
	// node turns them into equivocation evidence). Optional.
	Conflicts ConflictSink
	// MaxDryRunBytes bounds a dry-run request body (default 1 MiB).
	MaxDryRunBytes int64
	// MaxPageBytes ends a page of /results or /cron early (hasNextPage) once its results add
	// up to this many bytes (default 16 MiB; a page holds at least one result).
	MaxPageBytes int
	// Registerer receives the CU's metrics; Gatherer serves GET /metrics. Both optional: a
	// private registry is used when Registerer is nil.
	Registerer prometheus.Registerer
	Gatherer   prometheus.Gatherer
	Logger     *slog.Logger
	// AttestationFormat is the format of the attestations the CU signs (ATTESTATION.md):
	// 2 (default), memory hashed as a Merkle root over pages (Memory-Root), or 1, the
	// SHA-256 of the whole memory (Memory-SHA256) after every message.
	AttestationFormat int
	// OnAttest, when set, receives each attestation the CU signs once its result is durable
	// (a node gossips it). It must not block. OnEvidence receives the proof of a CU that
	// signed two different attestations of one evaluation.
	OnAttest   func(pid string, raw []byte)
	OnEvidence func(Evidence)
	// MaxHeldAttestations bounds the evaluations other CUs' attestations are held for
	// (default DefaultMaxHeldAttestations).
	MaxHeldAttestations int
	// TestAlterResult is for tests only: it replaces the result of every message it returns
	// non-nil for, making a deliberately wrong CU.
	TestAlterResult func(pid string, nonce uint64, result []byte) []byte
	// Clock is the time GET / reports and checkpoints are timed by (the age of the last one,
	// and the idle wait before one), and the time of the dry-run rate limit and of a paused
	// process's retry (default: the wall clock). Evaluation never reads it.
	Clock Clock
}

// Clock is what the CU reads and waits on.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

func (c *Config) setDefaults() {
	if c.Items == nil && c.Store != nil {
		c.Items = c.Store
	}
	if c.MaxMemoryLimit == 0 {
		c.MaxMemoryLimit = DefaultMaxMemoryLimit
	}
	if c.MaxComputeLimit == 0 {
		c.MaxComputeLimit = DefaultMaxComputeLimit
	}
	if c.InstanceBudgetBytes == 0 {
		c.InstanceBudgetBytes = DefaultInstanceBudgetBytes
	}
	c.setLimitDefaults()
	if c.AttestationFormat == 0 {
		c.AttestationFormat = DefaultAttestationFormat
	}
	if c.MaxHeldAttestations == 0 {
		c.MaxHeldAttestations = DefaultMaxHeldAttestations
	}
	if c.CheckpointEvery == 0 {
		c.CheckpointEvery = 500
	}
	if c.CheckpointInterval == 0 {
		c.CheckpointInterval = time.Minute
	}
	if c.IdleCheckpoint == 0 {
		c.IdleCheckpoint = 10 * time.Second
	}
	if c.CommitEvery == 0 {
		c.CommitEvery = 64
	}
	if c.MaxDryRunBytes == 0 {
		c.MaxDryRunBytes = 1 << 20
	}
	if c.MaxPageBytes == 0 {
		c.MaxPageBytes = 16 << 20
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Clock == nil {
		c.Clock = clock.Wall{}
	}
	if c.Registerer == nil {
		reg := prometheus.NewRegistry()
		c.Registerer = reg
		if c.Gatherer == nil {
			c.Gatherer = reg
		}
	}
	if c.Gatherer == nil {
		if g, ok := c.Registerer.(prometheus.Gatherer); ok {
			c.Gatherer = g
		}
	}
}

// Validate reports a configuration the CU cannot run with.
func (c *Config) Validate() error {
	switch {
	case c.Store == nil:
		return errors.New("cu: Config.Store is required")
	case c.Signer == nil:
		return errors.New("cu: Config.Signer is required")
	case c.Source == nil:
		return errors.New("cu: Config.Source is required")
	case len(c.Runtimes) == 0:
		return errors.New("cu: Config.Runtimes is empty")
	case c.CheckpointEvery < 0 || c.CommitEvery < 0 || c.InstanceBudgetBytes < 0 || c.MaxDryRunBytes < 0 ||
		c.DryRunConcurrency < 0 || c.DryRunPerProcess < 0 || c.DryRunTimeout < 0 || c.DryRunBurst < 0 ||
		c.DryRunWait < 0 || c.PauseRetry < 0 || c.MaxPageBytes < 0 || c.MaxHeldAttestations < 0:
		return errors.New("cu: negative limit in Config")
	case c.AttestationFormat < 0 || c.AttestationFormat > 2:
		return fmt.Errorf("cu: attestation format %d (1 or 2)", c.AttestationFormat)
	}
	return nil
}

// CU is a compute unit. Its methods are safe for concurrent use.
type CU struct {
	cfg     Config
	db      *store.DB
	src     Source
	gateway *Gateway
	items   ItemLookup
	log     *slog.Logger
	m       *metrics
	address string
	agree   *agreement

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	closed  bool
	procs   map[string]*proc
	modules map[moduleKey]*compiled

	lru     lru
	dryRuns *dryRunGate
}

type moduleKey struct {
	id   string
	opts CompileOptions
}

type compiled struct {
	once sync.Once
	mod  Module
	err  error
}

// New returns a CU. It starts no goroutine until a process is evaluated.
func New(cfg Config) (*CU, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	agree, err := newAgreement(cfg.Registerer, cfg.MaxHeldAttestations)
	if err != nil {
		return nil, err
	}
	owner := cfg.Signer.Owner()
	sum := sha256.Sum256(owner)
	ctx, cancel := context.WithCancel(context.Background())
	c := &CU{
		cfg:     cfg,
		db:      cfg.Store,
		src:     cfg.Source,
		gateway: cfg.Gateway,
		items:   cfg.Items,
		log:     cfg.Logger.With("role", "cu"),
		m:       m,
		agree:   agree,
		address: dataitem.EncodeID(sum[:]),
		ctx:     ctx,
		cancel:  cancel,
		procs:   make(map[string]*proc),
		modules: make(map[moduleKey]*compiled),
	}
	c.lru.init(cfg.InstanceBudgetBytes, m)
	c.dryRuns = newDryRunGate(cfg)
	return c, nil
}

// Address is the CU's wallet address (base64url(sha256(owner))).
func (c *CU) Address() string { return c.address }

// Close stops every evaluation, writes a checkpoint for each process that has evaluated
// messages since its last one, and releases the instances and modules. The store stays open.
func (c *CU) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	c.mu.Unlock()
	c.cancel()
	c.wg.Wait()

	// No evaluator runs any more: the state of each process is only ours to save.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var errs []error
	c.mu.Lock()
	procs := make([]*proc, 0, len(c.procs))
	for _, p := range c.procs {
		procs = append(procs, p)
	}
	mods := c.modules
	c.modules = nil
	c.mu.Unlock()
	for _, p := range procs {
		// A request handler may still hold the process (a dry-run instantiating).
		if err := p.acquire(ctx); err != nil {
			errs = append(errs, fmt.Errorf("cu: checkpoint %s: %w", p.pid, err))
			continue
		}
		if err := p.unload(ctx, true); err != nil {
			errs = append(errs, fmt.Errorf("cu: checkpoint %s: %w", p.pid, err))
		}
		p.release()
	}
	for _, m := range mods {
		if m.mod != nil {
			if err := m.mod.Close(ctx); err != nil {
				errs = append(errs, err)
			}
		}
	}
	c.m.unregister(c.cfg.Registerer)
	return errors.Join(errs...)
}

// compile returns the compiled module for (def, opts), compiling it once.
func (c *CU) compile(ctx context.Context, def moduleDef, opts CompileOptions) (Module, error) {
	rt := c.cfg.Runtimes[opts.Format]
	if rt == nil {
		return nil, errorf(ErrUnsupportedFormat, "Module-Format %q is not supported", opts.Format)
	}
	key := moduleKey{id: def.ID, opts: opts}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, ErrClosed
	}
	m := c.modules[key]
	if m == nil {
		m = &compiled{}
		c.modules[key] = m
	}
	c.mu.Unlock()
	m.once.Do(func() {
		start := time.Now()
		m.mod, m.err = rt.Compile(ctx, def.Wasm, opts)
		c.m.compileSeconds.Observe(time.Since(start).Seconds())
	})
	if m.err != nil {
		// A failed compile (e.g. cancelled) may succeed later: forget it.
		c.mu.Lock()
		if c.modules != nil && c.modules[key] == m {
			delete(c.modules, key)
		}
		c.mu.Unlock()
		if errors.Is(m.err, context.Canceled) || errors.Is(m.err, context.DeadlineExceeded) {
			return nil, m.err
		}
		return nil, errorf(ErrInvalidDefinition, "module %s: %v", def.ID, m.err)
	}
	return m.mod, nil
}

// getProc returns the evaluator of pid, creating it.
func (c *CU) getProc(pid string) (*proc, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, ErrClosed
	}
	p := c.procs[pid]
	if p == nil {
		p = newProc(c, pid)
		c.procs[pid] = p
	}
	return p, nil
}
