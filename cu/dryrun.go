package cu

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"time"

	"github.com/aonode/aonode/node/httplimit"
)

// Defaults of the CU's limits (Config).
const (
	DefaultMaxMemoryLimit      = 1 << 30
	DefaultMaxComputeLimit     = 9e12
	DefaultInstanceBudgetBytes = 1 << 30
	DefaultDryRunPerProcess    = 2
	DefaultDryRunQueue         = 4
	DefaultDryRunTimeout       = 5 * time.Second
	// DefaultDryRunRate and DefaultDryRunBurst: 5 dry-runs per second per client address,
	// bursts of 20 (a page of a dApp reads several balances at once). The reference CU
	// allows 6 per minute; the concurrency, memory and time caps here bound the cost of each
	// dry-run, so the rate only keeps one client from taking every slot.
	DefaultDryRunRate  = 5
	DefaultDryRunBurst = 20
	DefaultDryRunWait  = 2 * time.Second
	// DefaultEvalTimeout is generous: aos with the largest Compute-Limit (9e12) ran out of
	// gas in 6-7 minutes on a 2-core machine. Modules of the WASI format meter no gas, so
	// this cap is what ends their runaway loops.
	DefaultEvalTimeout = 10 * time.Minute
	DefaultPauseRetry  = time.Minute
	maxPauseRetry      = time.Hour
	// snapshotInterest is how long after a dry-run the evaluator keeps publishing the
	// committed memory for dry-runs (after that, the memory is not shared and the last
	// snapshot is dropped).
	snapshotInterest = 5 * time.Minute
)

func (c *Config) setLimitDefaults() {
	if c.DryRunConcurrency == 0 {
		c.DryRunConcurrency = runtime.NumCPU()
	}
	if c.DryRunPerProcess == 0 {
		c.DryRunPerProcess = DefaultDryRunPerProcess
	}
	if c.DryRunQueue == 0 {
		c.DryRunQueue = DefaultDryRunQueue
	}
	if c.DryRunTimeout == 0 {
		c.DryRunTimeout = DefaultDryRunTimeout
	}
	if c.DryRunRate == 0 {
		c.DryRunRate = DefaultDryRunRate
	}
	if c.DryRunBurst == 0 {
		c.DryRunBurst = DefaultDryRunBurst
	}
	if c.DryRunWait == 0 {
		c.DryRunWait = DefaultDryRunWait
	}
	if c.EvalTimeout == 0 {
		c.EvalTimeout = DefaultEvalTimeout
	}
	if c.PauseRetry == 0 {
		c.PauseRetry = DefaultPauseRetry
	}
}

// memSnapshot is a process's committed state as dry-runs and /state read it: the memory
// after the last durable result, never written again (the evaluator copies on its next
// write, see keepMemory), so readers need no lock and never make the evaluator wait.
type memSnapshot struct {
	def *procDef
	mem []byte
	st  procState
}

func sameBuffer(a, b []byte) bool {
	return len(a) > 0 && len(b) > 0 && &a[0] == &b[0]
}

// wantSnapshots records that a reader needs the process's committed memory: for a while the
// evaluator publishes it at every commit.
func (p *proc) wantSnapshots() { p.wantSnap.Store(p.c.cfg.Clock.Now().UnixNano()) }

// publishSnapshot makes the current memory the committed snapshot when readers want one, and
// drops the snapshot when they no longer do. The caller holds sem, and p.mem is at p.st,
// which is durable.
func (p *proc) publishSnapshot() {
	if time.Duration(p.c.cfg.Clock.Now().UnixNano()-p.wantSnap.Load()) > snapshotInterest {
		p.snap.Store(nil)
		return
	}
	if p.def == nil || p.mem == nil {
		return
	}
	if s := p.snap.Load(); s != nil && sameBuffer(s.mem, p.mem) && s.st.HasAny == p.st.HasAny &&
		s.st.Nonce == p.st.Nonce && s.st.Seq == p.st.Seq {
		return
	}
	p.snap.Store(&memSnapshot{def: p.def, mem: p.mem, st: p.st})
	p.memShared = true
}

// committedState returns the snapshot a dry-run or /state reads: after waiting up to
// DryRunWait for the process to catch up (to slot nonce, or to what its source has when
// nonce < 0), the last committed state. A process stuck in a long message, or paused, is
// read as it stood before that message; one with no committed state yet (loading, or on its
// first message) is waited for, as long as the request lasts.
func (c *CU) committedState(ctx context.Context, pid string, nonce int64) (*memSnapshot, error) {
	p, err := c.getProc(pid)
	if err != nil {
		return nil, err
	}
	p.wantSnapshots()
	wctx, cancel := context.WithTimeout(ctx, c.cfg.DryRunWait)
	_, err = c.catchUp(wctx, pid, nonce)
	cancel()
	switch {
	case ctx.Err() != nil:
		return nil, ctx.Err()
	case err == nil, errors.Is(err, context.DeadlineExceeded), errors.Is(err, ErrPaused):
	default:
		return nil, err
	}
	fits := func(s *memSnapshot) bool {
		return s != nil && s.st.HasAny && (nonce < 0 || s.st.Nonce >= uint64(nonce))
	}
	for {
		s := p.snap.Load()
		if !fits(s) && p.tryAcquire() {
			// Nothing was published since the interest began: an idle process publishes now.
			p.publishSnapshot()
			p.release()
			s = p.snap.Load()
		}
		if fits(s) {
			return s, nil
		}
		p.mu.Lock()
		running, progress := p.running, p.progress
		p.mu.Unlock()
		switch {
		case s != nil && s.st.HasAny:
			return nil, retryLater(ErrBusy, time.Second, "process %s has not evaluated slot %d yet; retry shortly", pid, nonce)
		case !running:
			return nil, errorf(ErrNotFound, "process %s has no evaluated state", pid)
		}
		select {
		case <-progress:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-c.ctx.Done():
			return nil, ErrClosed
		}
	}
}

// dryRunGate admits dry-runs: a token bucket per client address, at most perProc running or
// queued per process, concurrency slots and a queue of queue waiters.
type dryRunGate struct {
	rate    *httplimit.RateByAddr
	slots   chan struct{}
	queue   chan struct{}
	perProc int
	wait    time.Duration

	mu    sync.Mutex
	procs map[string]int
}

func newDryRunGate(cfg Config) *dryRunGate {
	g := &dryRunGate{
		slots:   make(chan struct{}, cfg.DryRunConcurrency),
		queue:   make(chan struct{}, max(cfg.DryRunQueue, 0)),
		perProc: cfg.DryRunPerProcess,
		// Long enough for a dry-run that holds a slot to reach its cap and be torn down.
		wait:  2 * cfg.DryRunTimeout,
		procs: map[string]int{},
	}
	if cfg.DryRunRate > 0 {
		g.rate = httplimit.NewRateByAddr(cfg.DryRunRate, cfg.DryRunBurst, cfg.Clock.Now)
	}
	return g
}

// allow spends a token of addr's bucket: the per-address rate limit.
func (g *dryRunGate) allow(addr string) error {
	if ok, wait := g.rate.Allow(addr); !ok {
		return retryLater(ErrRateLimited, wait, "Rate limit exceeded")
	}
	return nil
}

// enter takes a slot for a dry-run of pid, queueing when every slot is taken and the queue
// has room; release gives it back. A refusal comes with its metric label.
func (g *dryRunGate) enter(ctx context.Context, pid string) (release func(), refused string, err error) {
	g.mu.Lock()
	if g.procs[pid] >= g.perProc {
		g.mu.Unlock()
		return nil, "process", retryLater(ErrBusy, time.Second, "too many dry-runs of process %s in progress; retry shortly", pid)
	}
	g.procs[pid]++
	g.mu.Unlock()
	leave := func() {
		g.mu.Lock()
		if g.procs[pid]--; g.procs[pid] == 0 {
			delete(g.procs, pid)
		}
		g.mu.Unlock()
	}
	select {
	case g.slots <- struct{}{}:
		return func() { <-g.slots; leave() }, "", nil
	default:
	}
	select {
	case g.queue <- struct{}{}:
	default:
		leave()
		return nil, "busy", retryLater(ErrBusy, time.Second, "all dry-runs slots are taken and the queue is full; retry shortly")
	}
	defer func() { <-g.queue }()
	timer := time.NewTimer(g.wait)
	defer timer.Stop()
	select {
	case g.slots <- struct{}{}:
		return func() { <-g.slots; leave() }, "", nil
	case <-timer.C:
		leave()
		return nil, "busy", retryLater(ErrBusy, time.Second, "no dry-run slot freed within %v; retry shortly", g.wait)
	case <-ctx.Done():
		leave()
		return nil, "cancelled", ctx.Err()
	}
}

// DryRun evaluates msg on a copy of pid's committed memory (after catching up to message to,
// or to the latest slot, for at most DryRunWait); nothing is stored and the process's memory
// is untouched. It never waits for the process's own evaluation and the process never waits
// for it. Dry-runs share DryRunConcurrency slots, their instances count against the memory
// budget, and each runs at most DryRunTimeout.
func (c *CU) DryRun(ctx context.Context, pid, to string, in DryRunMessage) ([]byte, error) {
	nonce := int64(-1)
	if to != "" {
		n, err := c.slotNonce(ctx, pid, to)
		if err != nil {
			return nil, err
		}
		nonce = int64(n)
	}
	s, err := c.committedState(ctx, pid, nonce)
	if err != nil {
		return nil, err
	}
	release, refused, err := c.dryRuns.enter(ctx, pid)
	if err != nil {
		c.m.dryRunRefused.WithLabelValues(refused).Inc()
		return nil, err
	}
	defer release()
	// The instance holds a copy of the memory; it may grow, but what it starts from is what
	// the budget can know.
	size := int64(len(s.mem))
	if !c.lru.reserve(size) {
		c.m.dryRunRefused.WithLabelValues("memory").Inc()
		return nil, retryLater(ErrBusy, time.Second, "the CU's memory budget is taken by live processes and other dry-runs; retry shortly")
	}
	defer c.lru.unreserve(size)
	ectx, cancel := context.WithTimeout(ctx, c.cfg.DryRunTimeout)
	defer cancel()
	inst, err := s.def.mod.Instantiate(ectx, s.mem)
	if err != nil {
		return nil, c.dryRunStopped(ctx, ectx, err)
	}
	defer func() { _ = inst.Close(context.WithoutCancel(ctx)) }()
	mb, err := jsText(dryRunMessage(pid, in, s.st))
	if err != nil {
		return nil, err
	}
	c.m.dryRuns.Inc()
	r, herr := inst.Handle(ectx, mb, s.def.env)
	if herr != nil {
		if ctx.Err() != nil || ectx.Err() != nil {
			return nil, c.dryRunStopped(ctx, ectx, herr)
		}
		return encodeResult(resultWithError(herr, 0))
	}
	return encodeResult(r)
}

// dryRunStopped is the error of a dry-run whose instantiation or evaluation failed: the
// client's cancellation, the wall-clock cap, or the instantiation's own error.
func (c *CU) dryRunStopped(ctx, ectx context.Context, err error) error {
	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case ectx.Err() != nil:
		c.m.dryRunTimeouts.Inc()
		return errorf(ErrLimitExceeded, "dry-run stopped after %v: this CU's wall-clock limit per dry-run", c.cfg.DryRunTimeout)
	}
	return err
}

// dryRunMessage is the message a dry-run evaluates: the client's fields, Read-Only, with the
// timestamp and height of the state it runs on unless the client gives them.
func dryRunMessage(pid string, in DryRunMessage, st procState) aoMessage {
	msg := aoMessage{
		ID: in.ID, Signature: in.Signature, Data: in.Data, Owner: in.Owner, Target: in.Target,
		Anchor: in.Anchor, From: in.From, Tags: removeInvalidTags(in.Tags),
		Timestamp: st.Timestamp, BlockHeight: st.BlockHeight, ReadOnly: true,
	}
	if msg.Target == "" {
		msg.Target = pid
	}
	// A dry-run is unsigned and stores nothing, so it may speak as any process (as the
	// reference's does): From-Process is only trusted where it can change state.
	if fp, ok := tagValue(in.Tags, "From-Process"); ok {
		msg.From = fp
	} else if msg.From == "" {
		msg.From = in.Owner
	}
	if in.Timestamp != nil {
		msg.Timestamp = *in.Timestamp
	}
	if in.BlockHeight != nil {
		msg.BlockHeight = *in.BlockHeight
	}
	return msg
}

// stateOf is GET /state's memory: the committed snapshot, served without a copy.
func (c *CU) stateOf(ctx context.Context, pid string) (*memSnapshot, func(), error) {
	s, err := c.committedState(ctx, pid, -1)
	if err != nil {
		return nil, nil, err
	}
	release, refused, err := c.dryRuns.enter(ctx, pid)
	if err != nil {
		c.m.dryRunRefused.WithLabelValues(refused).Inc()
		return nil, nil, err
	}
	return s, release, nil
}
