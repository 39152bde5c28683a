package consensus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aonode/aonode/dataitem"
	"github.com/aonode/aonode/dataitem/aoapi"
	"github.com/aonode/aonode/store"
	"github.com/aonode/aonode/su"
	"github.com/hashicorp/raft"
)

// errRetry marks an outcome the caller cannot know yet (no leader, leadership lost while an
// entry was in flight, a pipeline reset): the request is retried, which is safe because a
// message that did get a slot is answered with that slot.
var errRetry = errors.New("consensus: retry")

func retry(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errRetry, fmt.Sprintf(format, args...))
}

// pending is one request waiting for its slot.
type pending struct {
	req   su.Request
	pid   string
	mid   string
	item  *dataitem.Item // the scheduled item (loaded from the store for an assign)
	done  chan struct{}
	res   su.Scheduled
	index uint64 // Raft index of the entry that holds the slot (0: read from the store)
	err   error

	assignment *dataitem.Item // built by the leader
	followers  []*pending     // requests for the same message that arrived meanwhile
}

func (p *pending) finish(res su.Scheduled, index uint64, err error) {
	p.res, p.index, p.err = res, index, err
	close(p.done)
	for _, f := range p.followers {
		f.finish(res, index, err)
	}
}

// proposal is an entry handed to Raft, waiting for its outcome.
type proposal struct {
	fut     raft.ApplyFuture
	waiters []*pending
	ids     []string
	start   time.Time
}

// group is this member's part of one Raft group.
type group struct {
	m       *Manager
	id      string
	members []string
	log     *slog.Logger

	raft  *raft.Raft
	fsm   *fsm
	trans RaftTransport
	snaps *snapshotStore
	obs   *raft.Observer
	obsCh chan raft.Observation

	reqs     chan *pending
	inflight chan *proposal
	fwd      chan *fwdReq

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	// Builder state.
	heads     map[string]*su.Head // nil value: the process has no slot
	readyTerm uint64
	broken    atomic.Bool

	mu    sync.Mutex
	byMsg map[[2]string]*pending // requests in flight by (process, message)

	leader atomic.Bool
}

func (m *Manager) openGroup(id string, members []string) (*group, error) {
	log := m.log.With("group", id)
	rs, err := m.opts.DB.RaftStore(id)
	if err != nil {
		return nil, err
	}
	logs, err := raft.NewLogCache(1024, rs)
	if err != nil {
		return nil, err
	}
	trans, err := m.opts.Network.Transport(id, members)
	if err != nil {
		return nil, err
	}
	f := newFSM(m.opts.DB, id, members, log, m.metrics)
	f.conflicts = m.opts.Conflicts
	snaps := newSnapshotStore(m.opts.DB, rs, f, m.opts.TempDir)
	fail := func(err error) (*group, error) {
		_ = trans.Close()
		f.close()
		return nil, err
	}
	cfg := raft.DefaultConfig()
	cfg.LocalID = raft.ServerID(m.self)
	cfg.HeartbeatTimeout = m.opts.Raft.Heartbeat
	cfg.ElectionTimeout = m.opts.Raft.Election
	cfg.LeaderLeaseTimeout = m.opts.Raft.LeaderLease
	cfg.CommitTimeout = m.opts.Raft.Commit
	cfg.MaxAppendEntries = 64
	// An unbuffered apply channel: an entry Raft accepted is always answered (with its
	// outcome or ErrLeadershipLost); a buffered one can strand futures at shutdown. Entries
	// are batches already.
	cfg.BatchApplyCh = false
	// The store already holds the state a snapshot would restore.
	cfg.NoSnapshotRestoreOnStart = true
	cfg.SnapshotThreshold = m.opts.SnapshotThreshold
	cfg.TrailingLogs = m.opts.TrailingLogs
	cfg.SnapshotInterval = m.opts.SnapshotInterval
	cfg.Logger = newHCLogger(log, "raft")
	if err := raft.ValidateConfig(cfg); err != nil {
		return fail(fmt.Errorf("consensus: raft config: %w", err))
	}
	has, err := raft.HasExistingState(logs, rs, snaps)
	if err != nil {
		return fail(err)
	}
	if !has {
		// Every member bootstraps the same configuration, derived from the signed Process
		// item; Raft accepts identical bootstraps.
		var conf raft.Configuration
		for _, a := range members {
			conf.Servers = append(conf.Servers, raft.Server{Suffrage: raft.Voter, ID: raft.ServerID(a), Address: raft.ServerAddress(a)})
		}
		if err := raft.BootstrapCluster(cfg, logs, rs, snaps, trans, conf); err != nil {
			return fail(fmt.Errorf("consensus: bootstrap %s: %w", id, err))
		}
	}
	r, err := raft.NewRaft(cfg, f, logs, rs, snaps, trans)
	if err != nil {
		return fail(fmt.Errorf("consensus: start raft %s: %w", id, err))
	}
	g := &group{
		m: m, id: id, members: members, log: log,
		raft: r, fsm: f, trans: trans, snaps: snaps,
		reqs:     make(chan *pending, 4096),
		inflight: make(chan *proposal, m.opts.Pipeline),
		fwd:      make(chan *fwdReq, 1024),
		heads:    map[string]*su.Head{},
		byMsg:    map[[2]string]*pending{},
		obsCh:    make(chan raft.Observation, 16),
	}
	g.obs = raft.NewObserver(g.obsCh, false, func(o *raft.Observation) bool {
		_, ok := o.Data.(raft.LeaderObservation)
		return ok
	})
	r.RegisterObserver(g.obs)
	g.ctx, g.cancel = context.WithCancel(context.Background())
	g.wg.Add(3 + forwarders)
	go g.builder()
	go g.completer()
	go g.watch()
	for range forwarders {
		go g.forwarder()
	}
	return g, nil
}

// close stops the group: no new proposals, every entry in flight decided (Raft answers each
// while it runs, at the latest when a partitioned leader's lease ends), then Raft shut down.
func (g *group) close() error {
	g.cancel()
	g.wg.Wait()
	err := g.raft.Shutdown().Error()
	g.raft.DeregisterObserver(g.obs)
	g.fsm.close()
	if g.leader.Load() && g.m.metrics != nil {
		g.m.metrics.leaderOf.Dec()
	}
	g.snaps.close()
	if cerr := g.trans.Close(); err == nil {
		err = cerr
	}
	return err
}

// watch counts leader changes and tracks whether this member leads.
func (g *group) watch() {
	defer g.wg.Done()
	for {
		select {
		case <-g.ctx.Done():
			return
		case o := <-g.obsCh:
			lo := o.Data.(raft.LeaderObservation)
			if g.m.metrics != nil {
				g.m.metrics.leaderChanges.Inc()
			}
			isLeader := string(lo.LeaderID) == g.m.self
			if was := g.leader.Swap(isLeader); was != isLeader && g.m.metrics != nil {
				if isLeader {
					g.m.metrics.leaderOf.Inc()
				} else {
					g.m.metrics.leaderOf.Dec()
				}
			}
			if lo.LeaderID != "" {
				g.log.Info("consensus: leader", "leader", string(lo.LeaderID))
			}
		}
	}
}

// leaderAddr is the member this one believes leads, or "".
func (g *group) leaderAddr() string {
	_, id := g.raft.LeaderWithID()
	return string(id)
}

// schedule orders req: proposed here when this member leads, forwarded to the leader
// otherwise, retried across leader changes until ctx ends.
func (g *group) schedule(ctx context.Context, req su.Request) (su.Scheduled, error) {
	backoff := 5 * time.Millisecond
	var last error
	for {
		var (
			res su.Scheduled
			err error
		)
		switch leader := g.leaderAddr(); {
		case g.raft.State() == raft.Leader:
			res, _, err = g.propose(ctx, req)
		case leader != "" && leader != g.m.self:
			res, err = g.forward(ctx, leader, req)
		default:
			err = retry("no leader")
		}
		if err == nil || !errors.Is(err, errRetry) {
			return res, err
		}
		last = err
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return su.Scheduled{}, fmt.Errorf("%w: %v (%v)", su.ErrUnavailable, ctx.Err(), last)
		case <-g.ctx.Done():
			t.Stop()
			return su.Scheduled{}, fmt.Errorf("%w: group stopped", su.ErrUnavailable)
		case <-t.C:
		}
		backoff = min(backoff*2, 100*time.Millisecond)
	}
}

// propose queues req for the leader's pipeline and waits for its outcome.
func (g *group) propose(ctx context.Context, req su.Request) (su.Scheduled, uint64, error) {
	p := &pending{req: req, pid: req.Process, done: make(chan struct{})}
	if req.Item != nil {
		p.mid = req.Item.ID()
		p.item = req.Item
	} else {
		p.mid = req.Message
	}
	select {
	case g.reqs <- p:
	case <-ctx.Done():
		return su.Scheduled{}, 0, ctx.Err()
	case <-g.ctx.Done():
		return su.Scheduled{}, 0, retry("group stopped")
	}
	select {
	case <-p.done:
		return p.res, p.index, p.err
	case <-ctx.Done():
		return su.Scheduled{}, 0, ctx.Err()
	}
}

// builder is the leader's pipeline: it takes queued requests, assigns them on its in-memory
// heads, and proposes them as one entry; up to Pipeline entries are in flight.
func (g *group) builder() {
	defer g.wg.Done()
	defer close(g.inflight)
	for {
		var first *pending
		select {
		case <-g.ctx.Done():
			g.failQueued()
			return
		case first = <-g.reqs:
		}
		batch := g.take(first)
		if err := g.ready(); err != nil {
			for _, p := range batch {
				p.finish(su.Scheduled{}, 0, err)
			}
			continue
		}
		recs, waiters, ids := g.build(batch)
		if len(recs) == 0 {
			continue
		}
		if g.m.metrics != nil {
			g.m.metrics.entryRecords.Observe(float64(len(recs)))
		}
		fut := g.raft.Apply(encodeEntry(recs), g.m.opts.WriteTimeout)
		pr := &proposal{fut: fut, waiters: waiters, ids: ids, start: time.Now()}
		// Never blocks for long: the completer drains inflight until the builder closes it.
		g.inflight <- pr
	}
}

func (g *group) failQueued() {
	for {
		select {
		case p := <-g.reqs:
			p.finish(su.Scheduled{}, 0, retry("group stopped"))
		default:
			return
		}
	}
}

// take adds queued requests to first, up to the entry bounds.
func (g *group) take(first *pending) []*pending {
	batch := []*pending{first}
	size := first.size()
	for len(batch) < g.m.opts.MaxEntryRecords && size < g.m.opts.MaxEntryBytes {
		select {
		case p := <-g.reqs:
			batch = append(batch, p)
			size += p.size()
		default:
			return batch
		}
	}
	return batch
}

func (p *pending) size() int {
	n := 1024
	if p.item != nil {
		n += len(p.item.Raw())
	}
	return n
}

// ready makes sure this member leads and that its heads are what the log says: after each
// change of leader or a failed entry, a Barrier (every earlier entry applied here) and empty
// heads, reloaded from the store as needed.
func (g *group) ready() error {
	if g.raft.State() != raft.Leader {
		return retry("not the leader")
	}
	term := g.raft.CurrentTerm()
	if term == g.readyTerm && !g.broken.Load() {
		return nil
	}
	// Everything proposed before is decided once the barrier is applied.
	g.broken.Store(false)
	if err := g.raft.Barrier(g.m.opts.WriteTimeout).Error(); err != nil {
		g.broken.Store(true)
		return retry("barrier: %v", err)
	}
	// The barrier is applied once the FSM has staged every earlier entry; the heads are
	// read from the store, so wait until those are on disk too.
	if err := g.fsm.flush(); err != nil {
		g.broken.Store(true)
		return retry("apply: %v", err)
	}
	clear(g.heads)
	g.readyTerm = term
	return nil
}

// maxHeads bounds the heads a leader (and an FSM) caches; past it the cache starts over and
// heads are read from the store again as needed.
const maxHeads = 100000

// head returns the leader's head of pid.
func (g *group) head(pid string) (*su.Head, error) {
	if h, ok := g.heads[pid]; ok {
		return h, nil
	}
	if len(g.heads) >= maxHeads {
		clear(g.heads)
	}
	s, err := g.m.opts.DB.LastSlot(pid)
	if errors.Is(err, store.ErrNotFound) {
		g.heads[pid] = nil
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	h := &su.Head{Process: s.Process, Nonce: s.Nonce, Timestamp: s.Timestamp, HashChain: s.HashChain, AssignmentID: s.AssignmentID}
	g.heads[pid] = h
	return h, nil
}

// build assigns the batch's requests; requests answered at once (refused, already
// scheduled, or waiting on an identical request) are not in the returned records.
func (g *group) build(batch []*pending) ([]record, []*pending, []string) {
	var (
		recs    []record
		waiters []*pending
		ids     []string
	)
	for _, p := range batch {
		key := [2]string{p.pid, p.mid}
		g.mu.Lock()
		if q := g.byMsg[key]; q != nil {
			q.followers = append(q.followers, p)
			g.mu.Unlock()
			continue
		}
		g.mu.Unlock()
		if res, ok, err := g.m.existing(p.pid, p.mid); err != nil {
			p.finish(su.Scheduled{}, 0, err)
			continue
		} else if ok {
			// A retry of a request that got its slot: that slot (exactly once).
			p.finish(res, 0, nil)
			continue
		}
		rec, err := g.assign(p)
		if err != nil {
			p.finish(su.Scheduled{}, 0, err)
			continue
		}
		g.mu.Lock()
		g.byMsg[key] = p
		g.mu.Unlock()
		g.fsm.trust(p.assignment)
		recs = append(recs, rec)
		waiters = append(waiters, p)
		ids = append(ids, p.assignment.ID())
	}
	return recs, waiters, ids
}

// assign checks p against the head of its process and signs its assignment.
func (g *group) assign(p *pending) (record, error) {
	db := g.m.opts.DB
	if p.item == nil {
		raw, err := db.Item(p.mid)
		if errors.Is(err, store.ErrNotFound) {
			return record{}, su.Refuse(su.ErrNotHeld, "Message %s is not held by this SU", p.mid)
		}
		if err != nil {
			return record{}, err
		}
		if p.item, err = dataitem.Parse(raw); err != nil {
			return record{}, fmt.Errorf("consensus: stored item %s: %w", p.mid, err)
		}
	}
	head, err := g.head(p.pid)
	if err != nil {
		return record{}, err
	}
	nonce0 := p.req.Item != nil && p.pid == p.mid
	in := su.Input{
		Process:     p.pid,
		Exclude:     p.req.Exclude,
		NowMs:       g.m.opts.Clock(),
		BlockHeight: g.m.opts.BlockHeight(),
		Anchor:      make([]byte, 32),
	}
	if nonce0 {
		if head != nil {
			return record{}, su.Refuse(su.ErrDuplicate, "Process %s already exists", p.pid)
		}
		if set := aoapi.Schedulers(p.item.Tags); !equal(set, g.members) {
			return record{}, su.Refuse(su.ErrWrongScheduler, "Process %s names another scheduler set", p.pid)
		}
	} else {
		if head == nil {
			return record{}, su.Refuse(su.ErrUnknownProcess, "Process %s not found on this SU", p.pid)
		}
		in.Message = p.mid
	}
	if err := g.m.anchor(in.Anchor); err != nil {
		return record{}, err
	}
	a, next, err := g.m.signer.Assign(head, in)
	if err != nil {
		return record{}, err
	}
	p.assignment = a
	g.heads[p.pid] = &next
	return record{Assignment: a.Raw(), Item: p.item.Raw()}, nil
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// completer answers the waiters of each proposal, in order, once Raft has decided it.
func (g *group) completer() {
	defer g.wg.Done()
	for pr := range g.inflight {
		g.complete(pr)
	}
}

func (g *group) complete(pr *proposal) {
	err := pr.fut.Error()
	done := func(p *pending, res su.Scheduled, index uint64, err error) {
		g.mu.Lock()
		delete(g.byMsg, [2]string{p.pid, p.mid})
		g.mu.Unlock()
		p.finish(res, index, err)
	}
	if err != nil {
		// Committed or not, nobody can tell yet: the retry finds out.
		g.broken.Store(true)
		g.fsm.forget(pr.ids)
		for _, p := range pr.waiters {
			done(p, su.Scheduled{}, 0, retry("entry: %v", err))
		}
		return
	}
	if g.m.metrics != nil {
		g.m.metrics.commitSeconds.Observe(time.Since(pr.start).Seconds())
	}
	res, _ := pr.fut.Response().(*entryResult)
	if res != nil && res.Err == nil {
		// Acknowledged only once the slots are on this member's disk.
		if err := res.durable(context.Background()); err != nil {
			g.broken.Store(true)
			for _, p := range pr.waiters {
				done(p, su.Scheduled{}, 0, retry("apply: %v", err))
			}
			return
		}
	}
	if res == nil || res.Err != nil || len(res.Outcomes) != len(pr.waiters) {
		g.broken.Store(true)
		for _, p := range pr.waiters {
			done(p, su.Scheduled{}, 0, retry("entry refused"))
		}
		return
	}
	for i, p := range pr.waiters {
		o := res.Outcomes[i]
		switch {
		case o.Err == nil:
			done(p, su.Scheduled{Slot: o.Slot, Assignment: p.assignment}, pr.fut.Index(), nil)
		case errors.Is(o.Err, ErrScheduled):
			g.broken.Store(true)
			r, ok, err := g.m.existing(p.pid, p.mid)
			if err == nil && !ok {
				err = retry("%v", o.Err)
			}
			done(p, r, 0, err)
		default:
			// The leader's own record refused: its heads were wrong (an earlier entry of the
			// pipeline failed). Reset and retry.
			g.broken.Store(true)
			g.log.Warn("consensus: own record refused", "process", p.pid, "err", o.Err)
			done(p, su.Scheduled{}, 0, retry("%v", o.Err))
		}
	}
}
