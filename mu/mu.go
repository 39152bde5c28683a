package mu

import (
	"container/heap"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aonode/aonode/dataitem"
	"github.com/aonode/aonode/dataitem/aoapi"
	"github.com/aonode/aonode/store"
)

// MU is a messenger unit. New builds it, Start loads the durable queue and starts the workers
// and the cron poller, Close stops them. The HTTP API is Handler.
type MU struct {
	cfg    Config
	db     *store.DB
	log    *slog.Logger
	met    *metrics
	sched  Scheduler
	comp   Compute
	router Router

	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	started atomic.Bool
	closed  atomic.Bool
	once    sync.Once

	qmu      sync.Mutex
	known    map[taskKey]*entry // queued, claimed or in flight
	cranking map[string]bool    // results whose outbox a worker is turning into tasks
	queue    entryHeap
	notify   chan struct{}
	ready    chan *entry
	seq      atomic.Uint64

	pmu   sync.Mutex
	procs map[string]Process

	monMu    sync.Mutex // orders monitor record writes (DELETE against a cron commit)
	cronWake chan struct{}
}

// entry is the in-memory handle of a queued task. What it remembers beyond the key (a step
// already done) is only an optimisation: after a crash the step is repeated, and the SU's
// duplicate check makes that harmless.
type entry struct {
	key          taskKey
	readyAt      time.Time
	created      int64
	seq          uint64
	attempts     int
	sent         bool   // send: the SU has the item
	assignmentID string // assign: the SU's answer
	claimed      bool   // held by an HTTP request, not in the heap
	index        int
}

// New checks cfg and builds an MU; nothing runs until Start.
func New(cfg Config) (*MU, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	m := &MU{
		cfg:      cfg,
		db:       cfg.Store,
		log:      cfg.Logger.With("component", "mu"),
		met:      newMetrics(),
		sched:    cfg.Scheduler,
		comp:     cfg.Compute,
		router:   cfg.Router,
		known:    map[taskKey]*entry{},
		cranking: map[string]bool{},
		notify:   make(chan struct{}, 1),
		ready:    make(chan *entry),
		procs:    map[string]Process{},
		cronWake: make(chan struct{}, 1),
	}
	m.ctx, m.cancel = context.WithCancel(context.Background())
	if err := m.met.register(cfg.Registerer); err != nil {
		m.cancel()
		return nil, err
	}
	return m, nil
}

// Start loads the queued tasks from the store and starts the workers and the cron poller.
func (m *MU) Start() error {
	if m.closed.Load() {
		return ErrClosed
	}
	if !m.started.CompareAndSwap(false, true) {
		return errors.New("mu: already started")
	}
	type loaded struct {
		key taskKey
		raw []byte
	}
	var all []loaded
	err := m.db.MUTasks(func(k, v []byte) bool {
		if len(k) != keyLen {
			m.log.Warn("ignoring queued task with a foreign key", "key", hex.EncodeToString(k))
			return true
		}
		var key taskKey
		copy(key[:], k)
		all = append(all, loaded{key, append([]byte(nil), v...)})
		return true
	})
	if err != nil {
		return fmt.Errorf("mu: loading queue: %w", err)
	}
	now := m.cfg.Clock.Now()
	var maxSeq uint64
	m.qmu.Lock()
	for _, l := range all {
		t, err := decodeTask(l.raw)
		e := &entry{key: l.key, readyAt: now}
		if err == nil {
			e.created, e.seq = t.Created, t.Seq
			maxSeq = max(maxSeq, t.Seq)
		}
		// A corrupt task still gets an entry: its step dead-letters it with the reason.
		if _, dup := m.known[e.key]; !dup {
			m.known[e.key] = e
			heap.Push(&m.queue, e)
		}
	}
	m.met.pending.Set(float64(len(m.known)))
	m.qmu.Unlock()
	m.seq.Store(maxSeq)
	if len(all) > 0 {
		m.log.Info("resuming crank queue", "tasks", len(all))
	}

	m.wg.Add(2 + m.cfg.Workers)
	go m.dispatch()
	go m.cronLoop()
	for range m.cfg.Workers {
		go m.worker()
	}
	return nil
}

// Close stops the workers and the cron poller and waits for them. Work in flight stays in the
// store and resumes at the next Start. The store is the caller's to close, afterwards.
func (m *MU) Close() error {
	m.once.Do(func() {
		m.closed.Store(true)
		m.cancel()
		m.wg.Wait()
		m.met.unregister(m.cfg.Registerer)
	})
	return nil
}

// Pending returns the number of crank tasks queued or in flight.
func (m *MU) Pending() int {
	m.qmu.Lock()
	defer m.qmu.Unlock()
	return len(m.known)
}

// DeadLetters returns the number of tasks in the dead-letter keyspace.
func (m *MU) DeadLetters() (int, error) {
	n := 0
	err := m.db.MUDeadTasks(func(_, _ []byte) bool { n++; return true })
	return n, err
}

// --- the queue ---

type entryHeap []*entry

func (h entryHeap) Len() int { return len(h) }
func (h entryHeap) Less(i, j int) bool {
	a, b := h[i], h[j]
	if !a.readyAt.Equal(b.readyAt) {
		return a.readyAt.Before(b.readyAt)
	}
	if a.created != b.created {
		return a.created < b.created
	}
	return a.seq < b.seq
}
func (h entryHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *entryHeap) Push(x any) {
	e := x.(*entry)
	e.index = len(*h)
	*h = append(*h, e)
}
func (h *entryHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	e.index = -1
	return e
}

func (m *MU) wake() {
	select {
	case m.notify <- struct{}{}:
	default:
	}
}

func (m *MU) nextSeq() uint64 { return m.seq.Add(1) }

// enqueue hands committed tasks to the dispatcher; a key already known is the same work.
func (m *MU) enqueue(qs []queued) {
	if len(qs) == 0 {
		return
	}
	now := m.cfg.Clock.Now()
	m.qmu.Lock()
	for _, q := range qs {
		if _, ok := m.known[q.key]; ok {
			continue
		}
		e := &entry{key: q.key, readyAt: now, created: q.t.Created, seq: q.t.Seq}
		m.known[q.key] = e
		heap.Push(&m.queue, e)
	}
	m.met.pending.Set(float64(len(m.known)))
	m.qmu.Unlock()
	m.wake()
}

// claim registers a task an HTTP request is about to commit and run its first step of; false
// when the same work is already queued.
func (m *MU) claim(key taskKey, t *task) (*entry, bool) {
	m.qmu.Lock()
	defer m.qmu.Unlock()
	if _, ok := m.known[key]; ok {
		return nil, false
	}
	e := &entry{key: key, claimed: true, created: t.Created, seq: t.Seq, index: -1}
	m.known[key] = e
	m.met.pending.Set(float64(len(m.known)))
	return e, true
}

// release moves a claimed entry into the queue.
func (m *MU) release(e *entry) {
	m.qmu.Lock()
	e.claimed = false
	e.readyAt = m.cfg.Clock.Now()
	heap.Push(&m.queue, e)
	m.qmu.Unlock()
	m.wake()
}

func (m *MU) forget(e *entry) {
	m.qmu.Lock()
	delete(m.known, e.key)
	m.met.pending.Set(float64(len(m.known)))
	m.qmu.Unlock()
}

func (m *MU) retryLater(e *entry, d time.Duration) {
	m.qmu.Lock()
	e.readyAt = m.cfg.Clock.Now().Add(d)
	heap.Push(&m.queue, e)
	m.qmu.Unlock()
	m.wake()
}

func (m *MU) dispatch() {
	defer m.wg.Done()
	for {
		var next *entry
		wait := time.Duration(-1)
		m.qmu.Lock()
		if len(m.queue) > 0 {
			if d := m.queue[0].readyAt.Sub(m.cfg.Clock.Now()); d <= 0 {
				next = heap.Pop(&m.queue).(*entry)
			} else {
				wait = d
			}
		}
		m.qmu.Unlock()
		if next != nil {
			select {
			case m.ready <- next:
				continue
			case <-m.ctx.Done():
				return
			}
		}
		var tc <-chan time.Time // nil: nothing due, wait for a notify
		if wait >= 0 {
			tc = m.cfg.Clock.After(wait)
		}
		select {
		case <-tc:
		case <-m.notify:
		case <-m.ctx.Done():
			return
		}
	}
}

func (m *MU) worker() {
	defer m.wg.Done()
	for {
		select {
		case e := <-m.ready:
			m.process(e)
		case <-m.ctx.Done():
			return
		}
	}
}

// stepOut is what a finished step leaves behind: the tasks it produced and, for a pulled
// result, the marker that its outbox is queued.
type stepOut struct {
	children []queued
	cranked  *[2]string // process, result id
}

func (m *MU) process(e *entry) {
	raw, err := m.db.MUTask(e.key[:])
	if errors.Is(err, store.ErrNotFound) {
		m.forget(e)
		return
	}
	if err != nil {
		m.failed(e, nil, raw, fmt.Errorf("mu: reading task: %w", err))
		return
	}
	t, err := decodeTask(raw)
	if err != nil {
		m.deadLetter(e, nil, raw, err)
		return
	}
	if t.Kind == kindResult {
		// Two tasks may name one result (a client re-POSTing an item while its crank runs).
		// One cranks it at a time, until its commit; the other then finds the marker.
		rk := t.Process + "/" + t.Message
		m.qmu.Lock()
		busy := m.cranking[rk]
		m.cranking[rk] = true
		m.qmu.Unlock()
		if busy {
			m.retryLater(e, m.cfg.RetryBase)
			return
		}
		defer func() {
			m.qmu.Lock()
			delete(m.cranking, rk)
			m.qmu.Unlock()
		}()
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(m.ctx, 4*m.cfg.RequestTimeout)
	out, err := m.step(ctx, e, t)
	cancel()
	if err == nil {
		err = m.complete(e, out)
	}
	m.met.stepTime.WithLabelValues(t.Kind.String()).Observe(time.Since(start).Seconds())
	if err != nil {
		m.failed(e, t, raw, err)
		return
	}
	m.met.steps.WithLabelValues(t.Kind.String(), "done").Inc()
}

func (m *MU) failed(e *entry, t *task, raw []byte, err error) {
	if m.ctx.Err() != nil {
		// Shutting down: the task stays in the store and runs again after the restart.
		return
	}
	if t == nil && raw == nil {
		// The store could not be read: nothing is known to be wrong with the task itself.
		m.log.Warn("reading a crank task failed, retrying", "task", hex.EncodeToString(e.key[:]), "error", err)
		m.retryLater(e, m.cfg.RetryMax)
		return
	}
	kind := "unknown"
	if t != nil {
		kind = t.Kind.String()
	}
	if errors.Is(err, ErrNoQuorum) {
		// Waiting for CUs to agree is no failure of the task: it waits as long as it takes.
		m.met.steps.WithLabelValues(kind, "no_quorum").Inc()
		m.log.Warn("no result quorum yet, retrying", "task", hex.EncodeToString(e.key[:]), "error", err)
		m.retryLater(e, m.cfg.RetryMax)
		return
	}
	e.attempts++
	if errors.Is(err, ErrRefused) || e.attempts >= m.cfg.MaxAttempts {
		m.deadLetter(e, t, raw, err)
		return
	}
	d := m.cfg.RetryBase << min(e.attempts-1, 20)
	if d > m.cfg.RetryMax || d <= 0 {
		d = m.cfg.RetryMax
	}
	m.met.steps.WithLabelValues(kind, "retry").Inc()
	m.log.Warn("crank step failed, retrying", "task", hex.EncodeToString(e.key[:]), "kind", kind,
		"attempt", e.attempts, "retry_in", d, "error", err)
	m.retryLater(e, d)
}

// deadLetter moves a task the MU gives up on to the dead-letter keyspace.
func (m *MU) deadLetter(e *entry, t *task, raw []byte, cause error) {
	val := raw
	kind, pid := "corrupt", ""
	if t != nil {
		kind, pid = t.Kind.String(), t.Process
		d := *t
		d.Attempts, d.LastError = e.attempts, truncate(cause.Error(), 2048)
		if enc, err := d.encode(); err == nil {
			val = enc
		}
	}
	b := m.db.NewBatch()
	b.DeleteMUTask(e.key[:])
	if len(val) > 0 {
		b.PutMUDeadTask(e.key[:], val)
	}
	if err := m.db.Commit(m.ctx, b); err != nil {
		if m.ctx.Err() == nil {
			m.log.Error("dead-lettering task failed; it stays queued", "task", hex.EncodeToString(e.key[:]), "error", err)
			m.retryLater(e, m.cfg.RetryMax)
		}
		return
	}
	m.forget(e)
	m.met.dead.Inc()
	m.met.steps.WithLabelValues(kind, "dead").Inc()
	m.log.Error("crank task dead-lettered", "task", hex.EncodeToString(e.key[:]), "kind", kind,
		"process", pid, "attempts", e.attempts, "error", cause)
}

// complete replaces a task by what it produced, atomically and durably, then queues the
// produced tasks.
func (m *MU) complete(e *entry, out stepOut) error {
	b := m.db.NewBatch()
	b.DeleteMUTask(e.key[:])
	for _, c := range out.children {
		enc, err := c.t.encode()
		if err != nil {
			return fmt.Errorf("mu: encoding task: %w", err)
		}
		b.PutMUTask(c.key[:], enc)
	}
	if out.cranked != nil {
		b.PutMUCranked(out.cranked[0], out.cranked[1])
	}
	if err := m.db.Commit(m.ctx, b); err != nil {
		return fmt.Errorf("mu: committing crank step: %w", err)
	}
	// Children first: Pending must never read zero while work remains.
	m.enqueue(out.children)
	m.forget(e)
	return nil
}

func (m *MU) step(ctx context.Context, e *entry, t *task) (stepOut, error) {
	switch t.Kind {
	case kindSend:
		return m.stepSend(ctx, e, t)
	case kindAssign:
		return m.stepAssign(ctx, e, t)
	default:
		return m.stepResult(ctx, t)
	}
}

// suFor returns the SUs that take item it, in the order to try them: a Process's own
// scheduler set, a Message's target's. ErrNotFound means the target is not a process any SU
// knows (a wallet).
func (m *MU) suFor(ctx context.Context, it *dataitem.Item, target string) ([]string, error) {
	if typ, _ := it.Tag("Type"); typ == "Process" {
		set := aoapi.Schedulers(it.Tags)
		if len(set) == 0 {
			return nil, fmt.Errorf("%w: Process has no Scheduler tag", ErrRefused)
		}
		return m.schedulerURLs(ctx, set)
	}
	p, err := m.locate(ctx, target)
	if err != nil {
		return nil, err
	}
	return p.SUURLs, nil
}

// schedulerURLs are the base URLs of the members of a scheduler set the router knows, in the
// set's (sorted) order, so that every MU tries the members in the same order. A member the
// router does not know is left out; the error of the first is returned when none is known.
func (m *MU) schedulerURLs(ctx context.Context, set []string) ([]string, error) {
	var urls []string
	var first error
	for _, a := range set {
		u, err := m.router.SchedulerURL(ctx, a)
		if err != nil {
			if first == nil {
				first = err
			}
			continue
		}
		if !slices.Contains(urls, u) {
			urls = append(urls, u)
		}
	}
	if len(urls) == 0 {
		return nil, first
	}
	return urls, nil
}

// toEach calls fn with the SUs of urls in turn until one answers: a member that cannot be
// reached, times out or fails on its side (ErrUnavailable) is skipped for the next one, each
// bounded by MemberTimeout while others remain; any other outcome (success, a duplicate, a
// refusal) is the set's answer, since every member answers for the whole set. It returns the
// URL that answered. With one URL it is a plain call.
func (m *MU) toEach(ctx context.Context, urls []string, fn func(ctx context.Context, suURL string) error) (string, error) {
	if len(urls) == 0 {
		return "", fmt.Errorf("%w: no SU to send to", ErrUnavailable)
	}
	var errs []error
	for i, u := range urls {
		actx, cancel := ctx, context.CancelFunc(func() {})
		if i < len(urls)-1 {
			actx, cancel = context.WithTimeout(ctx, m.cfg.MemberTimeout)
		}
		err := fn(actx, u)
		cancel()
		if err == nil || !errors.Is(err, ErrUnavailable) || ctx.Err() != nil {
			return u, err
		}
		errs = append(errs, err)
		if i < len(urls)-1 {
			m.met.failover.Inc()
			m.log.Info("SU of the set unavailable; trying the next member", "su", u, "next", urls[i+1], "err", err)
		}
	}
	if len(errs) == 1 {
		return "", errs[0]
	}
	return "", errors.Join(errs...)
}

func (m *MU) stepSend(ctx context.Context, e *entry, t *task) (stepOut, error) {
	it, err := dataitem.Parse(t.Item)
	if err != nil {
		return stepOut{}, fmt.Errorf("%w: queued item does not parse: %v", ErrRefused, err)
	}
	id := it.ID()
	typ, _ := it.Tag("Type")
	if !e.sent {
		urls, err := m.suFor(ctx, it, t.Process)
		if errors.Is(err, ErrNotFound) && typ != "Process" {
			// The reference uploads messages to wallets straight to Arweave; this node has no
			// uploader, so they end here.
			m.met.dropped.WithLabelValues("target_not_a_process").Inc()
			m.log.Debug("message to a non-process target not delivered", "message", id, "target", t.Process)
			return stepOut{}, nil
		}
		if err != nil {
			return stepOut{}, err
		}
		_, err = m.toEach(ctx, urls, func(ctx context.Context, u string) error {
			_, err := m.sched.Send(ctx, u, t.Item)
			return err
		})
		if errors.Is(err, ErrDuplicate) {
			m.met.dups.Inc()
		} else if err != nil {
			return stepOut{}, err
		} else {
			m.met.pushed.WithLabelValues(typeLabel(typ)).Inc()
		}
		e.sent = true
	}
	var out stepOut
	k := e.key[:]
	now := m.cfg.Clock.Now().UnixMilli()
	add := func(key taskKey, c *task) {
		c.Created, c.Seq = now, m.nextSeq()
		out.children = append(out.children, queued{key, c})
	}
	if typ == "Process" {
		if len(t.Notice) > 0 {
			n, err := dataitem.Parse(t.Notice)
			if err != nil || len(n.Target) != 32 {
				return stepOut{}, fmt.Errorf("%w: queued notice is malformed", ErrRefused)
			}
			add(childKey(k, 'n', 0, 0), &task{Kind: kindSend, Process: dataitem.EncodeID(n.Target), Item: t.Notice, Follow: true})
		}
		if t.Boot {
			add(childKey(k, 'b', 0, 0), &task{Kind: kindResult, Process: id, Message: id, PushedFor: t.PushedFor})
		}
	} else if t.Follow {
		add(childKey(k, 'r', 0, 0), &task{Kind: kindResult, Process: t.Process, Message: id, PushedFor: t.PushedFor})
	}
	for i, p := range t.Assigns {
		add(childKey(k, 'a', i, 0), &task{Kind: kindAssign, Process: p, Message: id})
	}
	return out, nil
}

func typeLabel(typ string) string {
	if typ == "Process" {
		return "process"
	}
	return "message"
}

func (m *MU) stepAssign(ctx context.Context, e *entry, t *task) (stepOut, error) {
	if e.assignmentID == "" {
		p, err := m.locate(ctx, t.Process)
		if err != nil {
			return stepOut{}, err
		}
		var r Receipt
		su, err := m.toEach(ctx, p.SUURLs, func(ctx context.Context, u string) (err error) {
			r, err = m.sched.Assign(ctx, u, Assignment{Process: t.Process, Message: t.Message, Exclude: t.Exclude, BaseLayer: t.BaseLayer})
			return err
		})
		switch {
		case err == nil:
			e.assignmentID = r.ID
			m.met.pushed.WithLabelValues("assignment").Inc()
		case errors.Is(err, ErrDuplicate):
			// Assigned before a crash: find the assignment to read its result.
			m.met.dups.Inc()
			aid, ferr := m.sched.FindAssignment(ctx, su, t.Process, t.Message, t.Created-lookBackMs)
			if ferr != nil && !errors.Is(ferr, ErrNotFound) {
				return stepOut{}, ferr
			}
			e.assignmentID = aid
		default:
			return stepOut{}, err
		}
	}
	c := &task{Kind: kindResult, Process: t.Process, Message: t.Message, Created: m.cfg.Clock.Now().UnixMilli(), Seq: m.nextSeq()}
	if e.assignmentID != "" {
		c.Message, c.Alt = e.assignmentID, t.Message
	}
	return stepOut{children: []queued{{childKey(e.key[:], 'r', 0, 0), c}}}, nil
}

func (m *MU) stepResult(ctx context.Context, t *task) (stepOut, error) {
	done, err := m.db.MUCranked(t.Process, t.Message)
	if err != nil {
		return stepOut{}, err
	}
	if done {
		return stepOut{}, nil
	}
	var res *Result
	if m.cfg.ResultQuorum > 1 {
		res, err = m.quorumResult(ctx, t)
	} else {
		res, err = m.comp.Result(ctx, t.Process, t.Message)
		if errors.Is(err, ErrNotFound) && t.Alt != "" {
			res, err = m.comp.Result(ctx, t.Process, t.Alt)
		}
	}
	if err != nil {
		return stepOut{}, err
	}
	seed := deriveKey("result", []byte(t.Process), []byte(t.Message))
	children, err := m.crank(ctx, t.Process, res, t.PushedFor, seed[:])
	if err != nil {
		return stepOut{}, err
	}
	return stepOut{children: children, cranked: &[2]string{t.Process, t.Message}}, nil
}

// crank turns the outbox of a result of process pid into tasks, keyed under seed.
func (m *MU) crank(ctx context.Context, pid string, res *Result, pushedFor string, seed []byte) ([]queued, error) {
	var from Process
	if len(res.Messages)+len(res.Spawns) > 0 {
		var err error
		if from, err = m.locate(ctx, pid); err != nil {
			return nil, fmt.Errorf("mu: looking up sender %s: %w", pid, err)
		}
	}
	now := m.cfg.Clock.Now().UnixMilli()
	var out []queued
	add := func(key taskKey, c *task) {
		c.Created, c.Seq = now, m.nextSeq()
		out = append(out, queued{key, c})
	}
	drop := func(what string, i int, err error) {
		m.met.dropped.WithLabelValues("invalid_" + what).Inc()
		m.log.Info("outbox entry dropped", "process", pid, "kind", what, "index", i, "reason", err)
	}
	for i, raw := range res.Messages {
		p, err := buildMessage(m.cfg.Signer, raw, from, pushedFor, m.cfg.MaxItemBytes)
		if errors.Is(err, errDrop) {
			drop("message", i, err)
			continue
		}
		if err != nil {
			return nil, err
		}
		add(childKey(seed, 'm', i, 0), &task{Kind: kindSend, Process: p.target, Item: p.item.Raw(),
			Follow: !p.cast, Assigns: p.assigns, PushedFor: pushedFor})
	}
	for i, raw := range res.Spawns {
		s, err := buildSpawn(m.cfg.Signer, raw, from, pushedFor, m.cfg.MaxItemBytes)
		if errors.Is(err, errDrop) {
			drop("spawn", i, err)
			continue
		}
		if err != nil {
			return nil, err
		}
		add(childKey(seed, 's', i, 0), &task{Kind: kindSend, Process: s.process.ID(), Item: s.process.Raw(),
			Notice: s.notice.Raw(), Boot: !m.cfg.NoBootCrank, PushedFor: pushedFor})
	}
	for i, raw := range res.Assignments {
		a, err := parseAssignment(raw)
		if err != nil {
			drop("assignment", i, err)
			continue
		}
		for j, p := range a.Processes {
			add(childKey(seed, 'a', i, j), &task{Kind: kindAssign, Process: p, Message: a.Message,
				Exclude: a.Exclude, BaseLayer: a.BaseLayer})
		}
	}
	return out, nil
}

// maxCachedProcesses bounds the process cache; process definitions never change, so the
// cache only forgets to stay small.
const maxCachedProcesses = 4096

// locate finds process pid on the SUs the router knows (ErrNotFound if none has it).
func (m *MU) locate(ctx context.Context, pid string) (Process, error) {
	m.pmu.Lock()
	p, ok := m.procs[pid]
	m.pmu.Unlock()
	if ok {
		return p, nil
	}
	if _, err := dataitem.DecodeID(pid); err != nil {
		return Process{}, fmt.Errorf("%w: %q is not a process id", ErrNotFound, truncate(pid, 64))
	}
	var lastErr error
	for _, u := range m.router.SchedulerURLs() {
		p, err := m.sched.Process(ctx, u, pid)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			lastErr = err
			continue
		}
		// The SU that answered holds the process; the set's members the router knows take
		// its messages, in the set's order.
		if urls, err := m.schedulerURLs(ctx, p.Schedulers); err == nil {
			p.SUURLs = urls
		} else {
			p.SUURLs = []string{u}
		}
		p.SUURL = p.SUURLs[0]
		m.pmu.Lock()
		if len(m.procs) >= maxCachedProcesses {
			clear(m.procs)
		}
		m.procs[pid] = p
		m.pmu.Unlock()
		return p, nil
	}
	if lastErr != nil {
		return Process{}, lastErr
	}
	return Process{}, fmt.Errorf("%w: process %s is not on any known SU", ErrNotFound, pid)
}
