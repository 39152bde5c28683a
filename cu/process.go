package cu

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aonode/aonode/cu/memhash"
	"github.com/aonode/aonode/cu/module"
	"github.com/aonode/aonode/dataitem/aoapi"
	"github.com/aonode/aonode/store"
)

// procState is where a process's evaluation stands. It is saved in checkpoint heads.
type procState struct {
	HasAny       bool   `json:"hasAny"` // a scheduled slot was evaluated
	Nonce        uint64 `json:"nonce"`  // of the last scheduled slot evaluated
	Seq          uint32 `json:"seq"`    // of the last evaluation (0, or the cron after Nonce)
	Timestamp    int64  `json:"timestamp"`
	BlockHeight  uint64 `json:"blockHeight"`
	AssignmentID string `json:"assignment,omitempty"`
	HashChain    string `json:"hashChain,omitempty"`
	Booted       bool   `json:"booted"` // the process message was evaluated
	// CronTime is the last second (unix) up to which time crons were generated; CronHeight
	// the last block height for block crons.
	CronTime   int64  `json:"cronTime,omitempty"`
	CronHeight uint64 `json:"cronHeight,omitempty"`
	MemorySHA  []byte `json:"memorySha256,omitempty"`
	Evaluated  uint64 `json:"evaluated"`
}

// procDef is everything loaded once per process: definitions, compiled module, env.
type procDef struct {
	process     ProcessDef
	module      moduleDef
	opts        CompileOptions
	mod         Module
	env         []byte
	owner       string // address of the process owner
	checkChain  bool
	crons       []cronSpec
	memoryLimit uint64
	// schedulers is the process's scheduler set (aoapi.SchedulersOf its tags): every slot
	// must be signed by one of them, whichever member led when it was assigned.
	schedulers []string
}

// proc evaluates one process. Whoever holds sem owns def, inst, mem, st and the pending
// batch; mu guards the progress fields that waiters read.
type proc struct {
	c   *CU
	pid string
	sem chan struct{}

	def       *procDef
	inst      Instance
	mem       []byte // memory after the last evaluation (owned copy); nil before the first
	st        procState
	batch     *store.Batch
	pending   int
	sinceCkpt int
	lastCkpt  time.Time
	ckptSHA   []byte
	ckptParts uint32
	diverged  bool // memory moved past a result that was not buffered
	// memShared: a snapshot holds the mem buffer, so the next evaluation writes a new one.
	memShared bool
	// tree is the page Merkle tree of mem (attestation format 2); invalid when unknown.
	tree    memhash.Tree
	current evalRef // what is being evaluated, for the pause status
	// pendingIDs and pendingDedupe are what the unflushed batch holds for duplicate checks.
	pendingIDs    map[string]uint64
	pendingDedupe map[string]uint64
	// pendingRecs are the buffered evaluations, published once durable (agreement.go).
	pendingRecs []store.EvalResult

	// dirty mirrors sinceCkpt > 0 for the evaluator goroutine, which reads it without sem.
	dirty atomic.Int64
	wake  chan struct{}
	// snap is the committed state dry-runs read without sem (dryrun.go); wantSnap when one
	// last asked for it (unix ns).
	snap     atomic.Pointer[memSnapshot]
	wantSnap atomic.Int64

	mu        sync.Mutex
	running   bool
	again     bool
	idle      bool // running, but only waiting to write an idle checkpoint
	passDone  uint64
	passErr   error
	committed procState
	progress  chan struct{}
	paused    *pauseState // evaltime.go

	lruSize int64
	lruIn   bool
	lruPrev *proc
	lruNext *proc
}

func newProc(c *CU, pid string) *proc {
	return &proc{c: c, pid: pid, sem: make(chan struct{}, 1), progress: make(chan struct{}), wake: make(chan struct{}, 1)}
}

func (p *proc) acquire(ctx context.Context) error {
	select {
	case p.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (p *proc) tryAcquire() bool {
	select {
	case p.sem <- struct{}{}:
		return true
	default:
		return false
	}
}

func (p *proc) release() { <-p.sem }

// kickLocked makes sure a catch-up pass starts after this call and returns the pass count
// that proves it finished. p.mu is held.
func (p *proc) kickLocked() (uint64, error) {
	if err := p.pausedErrLocked(p.c.cfg.Clock.Now()); err != nil {
		return 0, err
	}
	if p.running {
		p.again = true
		if p.idle {
			// The evaluator is waiting to write an idle checkpoint: wake it for a pass.
			select {
			case p.wake <- struct{}{}:
			default:
			}
			return p.passDone + 1, nil
		}
		return p.passDone + 2, nil
	}
	c := p.c
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return 0, ErrClosed
	}
	c.wg.Add(1)
	c.mu.Unlock()
	p.running = true
	go p.run()
	return p.passDone + 1, nil
}

// run is the process's evaluator goroutine: it catches up with the source until nobody asks
// for more, then, if it evaluated anything since the last checkpoint, waits IdleCheckpoint
// for more work before writing one. Owned by the CU (wg), stopped by its context.
func (p *proc) run() {
	defer p.c.wg.Done()
	ctx := p.c.ctx
	for {
		err := p.pass(ctx)
		if err != nil && ctx.Err() == nil {
			p.c.log.Warn("evaluation stopped", "process", p.pid, "err", err)
		}
		p.mu.Lock()
		p.passDone++
		p.passErr = err
		close(p.progress)
		p.progress = make(chan struct{})
		if ctx.Err() != nil {
			p.running = false
			p.mu.Unlock()
			return
		}
		if p.again && p.pausedErrLocked(p.c.cfg.Clock.Now()) == nil {
			p.again = false
			p.mu.Unlock()
			continue
		}
		// Asks that came in while the pass ran wait for the pause like later ones.
		p.again = false
		if p.dirty.Load() == 0 || p.c.cfg.IdleCheckpoint < 0 {
			p.running = false
			p.mu.Unlock()
			return
		}
		p.idle = true
		p.mu.Unlock()
		if p.idleWait(ctx) {
			continue
		}
		return
	}
}

// idleWait waits for a kick (true: run another pass) or for the idle delay, after which it
// writes the checkpoint and ends the goroutine's work (false).
func (p *proc) idleWait(ctx context.Context) bool {
	select {
	case <-p.wake:
	case <-ctx.Done():
	case <-p.c.cfg.Clock.After(p.c.cfg.IdleCheckpoint):
		if err := p.acquire(ctx); err == nil {
			p.mu.Lock()
			again := p.again
			p.mu.Unlock()
			if !again && p.def != nil && p.sinceCkpt > 0 {
				if err := p.checkpoint(ctx); err != nil {
					p.c.log.Warn("idle checkpoint failed", "process", p.pid, "err", err)
				}
			}
			p.release()
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.idle = false
	if p.again && ctx.Err() == nil && p.pausedErrLocked(p.c.cfg.Clock.Now()) == nil {
		p.again = false
		return true
	}
	p.again = false
	p.running = false
	close(p.progress) // lets observers see that the evaluator stopped
	p.progress = make(chan struct{})
	return false
}

// errNotYet: the source has not scheduled the slot a caller waits for.
var errNotYet = errors.New("not yet scheduled")

// catchUp evaluates pid up to slot nonce (nonce < 0: everything the source has now) and
// returns the process once the results are durable.
func (c *CU) catchUp(ctx context.Context, pid string, nonce int64) (*proc, error) {
	p, err := c.getProc(pid)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	reached := func() bool { return nonce >= 0 && p.committed.HasAny && p.committed.Nonce >= uint64(nonce) }
	if reached() {
		return p, nil
	}
	need, err := p.kickLocked()
	if errors.Is(err, ErrPaused) && nonce < 0 {
		return p, nil // the latest there is: what was committed before the pause
	}
	if err != nil {
		return nil, err
	}
	for {
		if reached() {
			return p, nil
		}
		// A paused process does not run the pass asked for (run skips it).
		if p.passDone >= need || !p.running {
			if err := p.pausedErrLocked(p.c.cfg.Clock.Now()); err != nil || errors.Is(p.passErr, ErrPaused) {
				if nonce < 0 {
					return p, nil
				}
				if err != nil {
					return nil, err
				}
			}
			if p.passErr != nil {
				return nil, p.passErr
			}
			if nonce >= 0 {
				return nil, errorf(ErrNotFound, "slot %d of process %s is %v", nonce, pid, errNotYet)
			}
			return p, nil
		}
		ch := p.progress
		p.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			p.mu.Lock()
			return nil, ctx.Err()
		case <-c.ctx.Done():
			p.mu.Lock()
			return nil, ErrClosed
		}
		p.mu.Lock()
	}
}

// pass evaluates everything the source has after the process's position.
func (p *proc) pass(ctx context.Context) (err error) {
	if err := p.acquire(ctx); err != nil {
		return err
	}
	defer p.release()
	if p.def == nil {
		if err := p.load(ctx); err != nil {
			if isNotFound(err) {
				p.forget()
			}
			return err
		}
	}
	defer func() {
		ferr := p.flush(context.WithoutCancel(ctx))
		if ferr != nil || p.diverged {
			// The memory is ahead of what is durable: drop it, the next pass reloads the
			// checkpoint and replays.
			p.drop(ctx)
			err = errors.Join(err, ferr)
			return
		}
		if p.sinceCkpt > 0 && (p.sinceCkpt >= p.c.cfg.CheckpointEvery || p.c.cfg.Clock.Now().Sub(p.lastCkpt) >= p.c.cfg.CheckpointInterval) {
			if cerr := p.checkpoint(ctx); cerr != nil {
				p.c.log.Warn("checkpoint failed", "process", p.pid, "err", cerr)
			}
		}
		p.publishSnapshot()
		if errors.Is(err, errEvalTimeout) {
			err = p.pause()
		} else {
			p.resumeIfMoved()
		}
		p.dirty.Store(int64(p.sinceCkpt))
		p.c.lru.touch(p)
	}()
	after := int64(-1)
	if p.st.HasAny {
		after = int64(p.st.Nonce)
	}
	var applyErr error
	srcErr := p.c.src.Scheduled(ctx, p.pid, after, func(s Scheduled) bool {
		applyErr = p.apply(ctx, s)
		return applyErr == nil && ctx.Err() == nil
	})
	if applyErr != nil {
		return applyErr
	}
	if srcErr != nil {
		return srcErr
	}
	if len(p.def.crons) > 0 && p.st.HasAny {
		// Crons due after the last message up to the source's clock are final: any later
		// message is assigned a later timestamp.
		ts, height, err := p.c.src.Timestamp(ctx, p.pid)
		if err != nil {
			return err
		}
		if err := p.cronsUntil(ctx, ts, height); err != nil {
			return err
		}
	}
	return ctx.Err()
}

// forget removes a process that could not be loaded from the CU's table.
func (p *proc) forget() {
	c := p.c
	c.mu.Lock()
	if c.procs[p.pid] == p {
		delete(c.procs, p.pid)
	}
	c.mu.Unlock()
}

// load reads the definitions, compiles the module and restores the latest checkpoint.
func (p *proc) load(ctx context.Context) error {
	c := p.c
	pdef, err := c.src.Process(ctx, p.pid)
	if err != nil {
		return err
	}
	if v, _ := tagValue(pdef.Tags, "Data-Protocol"); v != "ao" {
		return errorf(ErrInvalidDefinition, "process %s has no Data-Protocol: ao tag", p.pid)
	}
	if v, _ := tagValue(pdef.Tags, "Type"); v != "Process" {
		return errorf(ErrInvalidDefinition, "%s is not a Process", p.pid)
	}
	modID, ok := tagValue(pdef.Tags, "Module")
	if !ok || modID == "" {
		return errorf(ErrInvalidDefinition, "process %s has no Module tag", p.pid)
	}
	mdef, err := c.loadModule(ctx, modID)
	if err != nil {
		return err
	}
	opts, err := c.compileOptions(pdef, mdef)
	if err != nil {
		return err
	}
	crons, err := parseCrons(pdef.Tags)
	if err != nil {
		return err
	}
	mod, err := c.compile(ctx, mdef, opts)
	if err != nil {
		return err
	}
	owner := addressFrom(pdef.Owner)
	env, err := jsText(aoEnv{
		Process: aoEnvEntity{ID: p.pid, Owner: owner, Tags: nonNilTags(pdef.Tags)},
		Module:  aoEnvEntity{ID: mdef.ID, Owner: addressFrom(mdef.Owner), Tags: nonNilTags(mdef.Tags)},
	})
	if err != nil {
		return err
	}
	def := &procDef{
		process: pdef, module: moduleDef{ID: mdef.ID, Owner: mdef.Owner, Tags: mdef.Tags},
		opts: opts, mod: mod, env: env, owner: owner, crons: crons,
		checkChain:  pdef.BlockHeight >= c.cfg.HashChainFromHeight,
		schedulers:  aoapi.SchedulersOf(pdef.Tags),
		memoryLimit: opts.MemoryLimit,
	}
	st, mem, head, err := c.restore(ctx, p.pid)
	if err != nil {
		return err
	}
	p.def, p.st, p.mem, p.inst = def, st, mem, nil
	p.tree.Invalidate()
	if mem != nil && c.cfg.AttestationFormat == 2 {
		// The checkpoint names its memory by its SHA-256; attestations carry the root.
		p.tree.Reset(mem)
		root := p.tree.Root()
		p.st.MemorySHA = root[:]
	}
	p.ckptSHA, p.ckptParts, p.lastCkpt, p.sinceCkpt = head.sha, head.Chunks, p.c.cfg.Clock.Now(), 0
	p.batch, p.pending, p.pendingRecs = nil, 0, nil
	clear(p.pendingIDs)
	clear(p.pendingDedupe)
	p.setCommitted()
	return nil
}

func nonNilTags(t []Tag) []Tag {
	if t == nil {
		return []Tag{}
	}
	return t
}

// compileOptions applies the reference's rules for Module-Format and the limits.
func (c *CU) compileOptions(pdef ProcessDef, mdef moduleDef) (CompileOptions, error) {
	format, _ := tagValue(mdef.Tags, "Module-Format")
	if format == "" {
		return CompileOptions{}, errorf(ErrUnsupportedFormat, "module %s has no Module-Format tag", mdef.ID)
	}
	if c.cfg.Runtimes[module.Format(format)] == nil {
		return CompileOptions{}, errorf(ErrUnsupportedFormat, "Module-Format %q is not supported", format)
	}
	for _, name := range []string{"Input-Encoding", "Output-Encoding"} {
		if v, _ := tagValue(mdef.Tags, name); v == "" {
			return CompileOptions{}, errorf(ErrUnsupportedFormat, "module %s has no %s tag", mdef.ID, name)
		}
	}
	limit := func(name string) (string, bool) {
		if v, ok := tagValue(pdef.Tags, name); ok {
			return v, true
		}
		return tagValue(mdef.Tags, name)
	}
	memTag, ok := limit("Memory-Limit")
	if !ok {
		return CompileOptions{}, errorf(ErrLimitExceeded, "no Memory-Limit on process %s or module %s", pdef.ID, mdef.ID)
	}
	mem, ok := parseMemoryLimit(memTag)
	if !ok {
		return CompileOptions{}, errorf(ErrInvalidDefinition, "Memory-Limit %q is not a size (e.g. 512-mb)", memTag)
	}
	if mem > c.cfg.MaxMemoryLimit {
		return CompileOptions{}, errorf(ErrLimitExceeded, "Memory-Limit %q is above the CU maximum of %d bytes", memTag, c.cfg.MaxMemoryLimit)
	}
	cmpTag, ok := limit("Compute-Limit")
	if !ok {
		return CompileOptions{}, errorf(ErrLimitExceeded, "no Compute-Limit on process %s or module %s", pdef.ID, mdef.ID)
	}
	cmp, ok := parseIntPrefix(cmpTag)
	if !ok && strings.TrimSpace(cmpTag) != "" && strings.TrimSpace(cmpTag)[0] >= '0' && strings.TrimSpace(cmpTag)[0] <= '9' {
		cmp, ok = math.MaxUint64, true // digits too many for a uint64: above any maximum
	}
	if !ok {
		return CompileOptions{}, errorf(ErrInvalidDefinition, "Compute-Limit %q is not a number", cmpTag)
	}
	if cmp > c.cfg.MaxComputeLimit {
		return CompileOptions{}, errorf(ErrLimitExceeded, "Compute-Limit %q is above the CU maximum of %d", cmpTag, c.cfg.MaxComputeLimit)
	}
	return CompileOptions{Format: module.Format(format), ComputeLimit: cmp, MemoryLimit: mem}, nil
}

// apply evaluates slot s (and the crons due before it).
func (p *proc) apply(ctx context.Context, s Scheduled) error {
	if p.st.HasAny && s.Nonce <= p.st.Nonce {
		p.checkConflict(s)
		return nil
	}
	var want uint64
	if p.st.HasAny {
		want = p.st.Nonce + 1
	}
	if s.Nonce != want {
		return errorf(ErrSourceUnavailable, "process %s: source skipped from slot %d to %d", p.pid, want, s.Nonce)
	}
	if len(p.def.schedulers) > 0 && !slices.Contains(p.def.schedulers, s.Signer) {
		return errorf(ErrWrongScheduler, "assignment %s of slot %d is signed by %q, not a scheduler of process %s",
			s.AssignmentID, s.Nonce, s.Signer, p.pid)
	}
	if p.def.checkChain {
		prevA, prevHC := "", ""
		if p.st.HasAny {
			prevA, prevHC = p.st.AssignmentID, p.st.HashChain
		}
		if !verifyHashChain(p.pid, s, prevA, prevHC) {
			if p.st.HasAny {
				p.findFork(ctx, s.Nonce-1)
			}
			return errorf(ErrHashChain, "HashChain invalid on message %s", s.MessageID)
		}
	}
	hydrated := s.Message == nil
	if hydrated {
		if err := p.c.hydrate(ctx, &s); err != nil {
			return err
		}
	}
	if !p.st.Booted {
		p.st.Booted = true
		if !isProcessSlot(p.pid, s) {
			// A legacy process: its first slot is a message, so the process message is
			// evaluated first, as the reference does, and not stored.
			pm, err := p.processMessage()
			if err != nil {
				return err
			}
			p.current = evalRef{nonce: s.Nonce, message: p.pid}
			if _, _, err := p.eval(ctx, pm); err != nil {
				p.st.Booted = false
				return err
			}
		}
	}
	if p.st.HasAny {
		if err := p.cronsUntil(ctx, s.Timestamp, s.BlockHeight); err != nil {
			return err
		}
	}
	dup, err := p.duplicate(s, hydrated)
	if err != nil {
		return err
	}
	if dup {
		p.c.m.duplicates.Inc()
		p.advance(s)
		return nil
	}
	msg, err := jsText(messageFor(s))
	if err != nil {
		return err
	}
	p.current = evalRef{nonce: s.Nonce, message: s.MessageID}
	res, hasErr, err := p.eval(ctx, msg)
	if err != nil {
		return err
	}
	if alter := p.c.cfg.TestAlterResult; alter != nil {
		if r := alter(p.pid, s.Nonce, res); r != nil {
			res = r
		}
	}
	rec := store.EvalResult{
		Process: p.pid, Nonce: s.Nonce, MessageID: s.MessageID,
		Timestamp: s.Timestamp, BlockHeight: s.BlockHeight, HasError: hasErr, Result: res,
		MemorySHA256: p.st.MemorySHA, HashChain: s.HashChain, AssignmentID: s.AssignmentID,
	}
	p.advance(s)
	return p.record(ctx, rec)
}

// advance moves the position to slot s.
func (p *proc) advance(s Scheduled) {
	p.st.HasAny, p.st.Nonce, p.st.Seq = true, s.Nonce, 0
	p.st.Timestamp, p.st.BlockHeight = s.Timestamp, s.BlockHeight
	p.st.AssignmentID, p.st.HashChain = s.AssignmentID, s.HashChain
	if p.st.CronTime == 0 {
		p.st.CronTime = s.Timestamp / 1000
	}
	if p.st.CronHeight == 0 {
		p.st.CronHeight = s.BlockHeight
	}
}

// duplicate applies the reference's deduplication: a forwarded message (one with
// From-Process, pushed by an MU) whose data, tags, target and anchor were already scheduled
// in an earlier slot is skipped, and so is an assignment of a message the process has already
// evaluated. The first occurrence's slot is recorded, so a replay after a restart evaluates
// exactly what the first run did.
func (p *proc) duplicate(s Scheduled, hydrated bool) (bool, error) {
	m := s.Message
	if _, fwd := tagValue(m.Tags, "From-Process"); fwd {
		key := dedupeKey(m)
		first, seen := p.pendingDedupe[string(key)]
		if !seen {
			n, err := p.c.db.CUDedupe(p.pid, key)
			switch {
			case err == nil:
				first, seen = n, true
			case !errors.Is(err, store.ErrNotFound):
				return false, err
			}
		}
		if seen && first < s.Nonce {
			return true, nil
		}
		if !seen {
			if p.batch == nil {
				p.batch = p.c.db.NewBatch()
			}
			if err := p.batch.PutCUDedupe(p.pid, key, s.Nonce); err != nil {
				return false, err
			}
			if p.pendingDedupe == nil {
				p.pendingDedupe = make(map[string]uint64)
			}
			p.pendingDedupe[string(key)] = s.Nonce
		}
	}
	if hydrated {
		if first, ok := p.pendingIDs[s.MessageID]; ok && first < s.Nonce {
			return true, nil
		}
		rec, err := p.c.db.EvalResultByMessage(p.pid, s.MessageID)
		switch {
		case err == nil:
			return rec.Nonce < s.Nonce, nil
		case !errors.Is(err, store.ErrNotFound):
			return false, err
		}
	}
	return false, nil
}

// dedupeKey hashes what makes two forwarded messages the same: data, tags, target, anchor.
func dedupeKey(m *SourceMessage) []byte {
	h := sha256.New()
	field := func(b string) {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(b)))
		h.Write(n[:])
		h.Write([]byte(b))
	}
	if m.Data != nil {
		field(*m.Data)
	} else {
		field("")
	}
	field(m.Target)
	field(m.Anchor)
	for _, t := range m.Tags {
		field(t.Name)
		field(t.Value)
	}
	return h.Sum(nil)
}

func isProcessSlot(pid string, s Scheduled) bool {
	if s.MessageID != pid || s.Message == nil {
		return false
	}
	v, _ := tagValue(s.Message.Tags, "Type")
	return v == "Process"
}

// processMessage is the msg object of the process itself, for legacy processes.
func (p *proc) processMessage() ([]byte, error) {
	d := p.def.process
	m := aoMessage{
		ID: p.pid, Signature: d.Signature, Owner: p.def.owner, Target: p.pid, Anchor: d.Anchor,
		From: p.def.owner, Tags: removeInvalidTags(d.Tags), Timestamp: d.Timestamp, BlockHeight: d.BlockHeight,
	}
	if d.Data != nil {
		m.Data = jsString(*d.Data)
	}
	return jsText(m)
}

// record stores one evaluation with its attestation (buffered; flushed in batches). The
// memory has already moved past the message, so a failure to buffer the result marks the
// state diverged: the pass then drops it instead of continuing without that result.
func (p *proc) record(ctx context.Context, rec store.EvalResult) error {
	p.st.Evaluated++
	att, err := p.c.attest(rec)
	if err != nil {
		p.diverged = true
		return fmt.Errorf("cu: signing the attestation of %s slot %d: %w", p.pid, rec.Nonce, err)
	}
	rec.Attestation = att
	if p.batch == nil {
		p.batch = p.c.db.NewBatch()
	}
	if err := p.batch.PutEvalResult(rec); err != nil {
		p.diverged = true
		return err
	}
	p.pendingRecs = append(p.pendingRecs, rec)
	if rec.MessageID != "" {
		if p.pendingIDs == nil {
			p.pendingIDs = make(map[string]uint64)
		}
		p.pendingIDs[rec.MessageID] = rec.Nonce
	}
	p.pending++
	p.sinceCkpt++
	ckpt := p.sinceCkpt >= p.c.cfg.CheckpointEvery
	if p.pending >= p.c.cfg.CommitEvery || ckpt {
		if err := p.flush(ctx); err != nil {
			return err
		}
	}
	if ckpt {
		if err := p.checkpoint(ctx); err != nil {
			p.c.log.Warn("checkpoint failed", "process", p.pid, "err", err)
		}
	}
	return nil
}

// flush makes the buffered results durable and tells waiters.
func (p *proc) flush(ctx context.Context) error {
	if p.pending == 0 {
		return nil
	}
	if err := p.c.db.Commit(ctx, p.batch); err != nil {
		return fmt.Errorf("cu: storing results of %s: %w", p.pid, err)
	}
	p.batch, p.pending = nil, 0
	clear(p.pendingIDs)
	clear(p.pendingDedupe)
	p.setCommitted()
	recs := p.pendingRecs
	p.pendingRecs = nil
	p.c.attested(recs)
	return nil
}

func (p *proc) setCommitted() {
	p.publishSnapshot()
	p.mu.Lock()
	p.committed = p.st
	close(p.progress)
	p.progress = make(chan struct{})
	p.mu.Unlock()
}

// eval runs one message on the live instance. It returns the result as served and whether it
// is an error result. A trap or an Error result leaves the memory as it was; any other
// failure (instantiation, cancellation) is returned as an error and nothing is recorded.
func (p *proc) eval(ctx context.Context, msg []byte) ([]byte, bool, error) {
	ectx, cancel := p.evalContext(ctx)
	defer cancel()
	if p.inst == nil {
		inst, err := p.def.mod.Instantiate(ectx, p.mem)
		if err != nil {
			if ctx.Err() != nil {
				return nil, false, ctx.Err()
			}
			if ectx.Err() != nil {
				return nil, false, errEvalTimeout
			}
			return nil, false, fmt.Errorf("cu: instantiating %s: %w", p.pid, err)
		}
		p.inst = inst
		if p.mem == nil {
			p.keepMemory(inst.Memory())
		}
	}
	start := time.Now()
	var r module.Result
	var herr error
	if kh, ok := p.inst.(KeptMemoryHandler); ok && p.mem != nil {
		// p.mem is the instance's memory (kept after its last message, or loaded into it).
		r, herr = kh.HandleKept(ectx, msg, p.def.env, p.mem)
	} else {
		r, herr = p.inst.Handle(ectx, msg, p.def.env)
	}
	p.c.m.evalSeconds.Observe(time.Since(start).Seconds())
	if (herr != nil || r.Threw) && ectx.Err() != nil {
		// Stopped by the cap (or by Close): what the module did is no result. A trap that
		// raced the deadline comes back, deterministic, on the next attempt.
		p.closeInstance(ctx)
		if ctx.Err() != nil {
			return nil, false, ctx.Err()
		}
		return nil, false, errEvalTimeout
	}
	if herr != nil {
		p.closeInstance(ctx)
		if ctx.Err() != nil {
			return nil, false, ctx.Err()
		}
		p.c.m.evaluations.WithLabelValues("trap").Inc()
		p.c.log.Warn("host failure evaluating a message", "process", p.pid, "err", herr)
		res, err := encodeResult(resultWithError(herr, 0))
		return res, true, err
	}
	if r.Threw || isErrorValue(r.Error) {
		// The reference keeps the previous memory on an Error result and discards the
		// instance after a throw.
		if rs, ok := p.inst.(MemoryRestorer); r.Threw || !ok || !rs.RestoresMemoryOnError() {
			p.closeInstance(ctx)
		}
		outcome := "error"
		if r.Threw {
			outcome = "trap"
		}
		p.c.m.evaluations.WithLabelValues(outcome).Inc()
		res, err := encodeResult(r)
		return res, true, err
	}
	mem := p.inst.Memory()
	if uint64(linearMemoryLen(p.inst, mem)) > p.def.memoryLimit {
		p.closeInstance(ctx)
		p.c.m.evaluations.WithLabelValues("trap").Inc()
		res, err := encodeResult(resultWithError(fmt.Errorf("memory limit of %d bytes exceeded", p.def.memoryLimit), r.GasUsed))
		return res, true, err
	}
	p.keepMemory(mem)
	p.c.m.evaluations.WithLabelValues("ok").Inc()
	res, err := encodeResult(r)
	return res, false, err
}

func isErrorValue(v json.RawMessage) bool {
	v = bytes.TrimSpace(v)
	return len(v) > 0 && !bytes.Equal(v, []byte("null"))
}

// keepMemory copies the instance's memory as the process's memory and hashes it: the
// SHA-256 of all of it (attestation format 1), or the page tree's root (format 2), which
// compares the memory with the previous copy and copies and re-hashes only the pages that
// changed.
func (p *proc) keepMemory(mem []byte) {
	if p.c.cfg.AttestationFormat == 2 {
		if p.memShared {
			// A snapshot reads the old buffer: compare against it, write a new one.
			p.tree.Update(p.mem, mem)
			p.mem, p.memShared = bytes.Clone(mem), false
		} else {
			p.mem, _ = p.tree.CopyUpdate(p.mem, mem)
		}
		root := p.tree.Root()
		p.st.MemorySHA = root[:]
		return
	}
	if p.memShared {
		// A snapshot reads the old buffer: leave it to the readers.
		p.mem, p.memShared = nil, false
	}
	if cap(p.mem) >= len(mem) {
		p.mem = p.mem[:len(mem)]
	} else {
		p.mem = make([]byte, len(mem))
	}
	copy(p.mem, mem)
	sum := sha256.Sum256(p.mem)
	p.st.MemorySHA = sum[:]
}

func (p *proc) closeInstance(ctx context.Context) {
	if p.inst == nil {
		return
	}
	if err := p.inst.Close(context.WithoutCancel(ctx)); err != nil {
		p.c.log.Warn("closing instance", "process", p.pid, "err", err)
	}
	p.inst = nil
}

// drop forgets the in-memory state without saving it. sem is held.
func (p *proc) drop(ctx context.Context) {
	p.closeInstance(ctx)
	p.def, p.mem, p.batch, p.pending, p.diverged = nil, nil, nil, 0, false
	p.pendingRecs = nil
	p.tree.Invalidate()
	p.snap.Store(nil)
	p.memShared = false
	clear(p.pendingIDs)
	clear(p.pendingDedupe)
	p.st = procState{}
	p.c.lru.remove(p)
}

// unload checkpoints (when save and there is something new) and frees the instance and
// memory. The caller must own the process (hold sem, or be Close after all passes ended).
func (p *proc) unload(ctx context.Context, save bool) error {
	if p.def == nil {
		return nil
	}
	var err error
	if save {
		if err = p.flush(ctx); err == nil && p.sinceCkpt > 0 {
			err = p.checkpoint(ctx)
		}
	}
	p.drop(ctx)
	return err
}

// hydrate loads the item of a pure assignment from the gateway (ao-protocol.md §2.3).
func (c *CU) hydrate(ctx context.Context, s *Scheduled) error {
	if c.gateway == nil {
		return errorf(ErrNotFound, "message %s of assignment %s is not on the SU and no gateway is configured", s.MessageID, s.AssignmentID)
	}
	meta, err := c.gateway.Tx(ctx, s.MessageID)
	if err != nil {
		return err
	}
	excluded := func(f string) bool {
		for _, e := range s.Exclude {
			for _, part := range bytes.Split([]byte(e), []byte(",")) {
				if string(bytes.TrimSpace(part)) == f {
					return true
				}
			}
		}
		return false
	}
	m := &SourceMessage{ID: s.MessageID, Owner: meta.Owner, Tags: meta.Tags, Signature: meta.Signature, Anchor: str(meta.Anchor), Target: meta.Recipient}
	if excluded("Tags") {
		m.Tags = nil
	}
	if excluded("Signature") {
		m.Signature = ""
	}
	if excluded("Anchor") {
		m.Anchor = ""
	}
	if !excluded("Data") {
		data, err := c.gateway.Raw(ctx, s.MessageID)
		if err != nil {
			return err
		}
		d := string(data)
		m.Data = &d
	}
	s.Message = m
	return nil
}

// slotNonce finds the slot of message msgID in pid: from the CU's results, else the source.
func (c *CU) slotNonce(ctx context.Context, pid, msgID string) (uint64, error) {
	if r, err := c.db.EvalResultByMessage(pid, msgID); err == nil {
		return r.Nonce, nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return 0, err
	}
	if msgID == pid {
		// The process is its own first slot (AOP-6); an SU asked for it by id answers with the
		// process's message list, not a slot. The MU asks for this boot result after a spawn.
		return 0, nil
	}
	s, err := c.src.Slot(ctx, pid, msgID)
	if err != nil {
		return 0, err
	}
	return s.Nonce, nil
}

func formatNonce(n uint64) string { return strconv.FormatUint(n, 10) }
