package su

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"sync"
	"time"

	"github.com/aonode/aonode/dataitem"
	"github.com/aonode/aonode/store"
)

// Request asks for the next slot of a process.
type Request struct {
	Process string
	// Item is a new Process or Message item, stored together with its slot. For a Process,
	// Process == Item.ID() and the slot is nonce 0.
	Item *dataitem.Item
	// Message is the id of an item the store already holds, to be assigned (Item == nil).
	Message string
	// Exclude values become Exclude tags of the assignment.
	Exclude []string
}

// messageID is the id the assignment schedules.
func (r Request) messageID() string {
	if r.Item != nil {
		return r.Item.ID()
	}
	return r.Message
}

// size estimates what a request adds to a store batch: the item, plus about 2 KiB for the
// assignment (an RSA one is the larger), the slot and its indexes.
func (r Request) size() int {
	n := 2048
	if r.Item != nil {
		n += len(r.Item.Raw())
	}
	return n
}

// Scheduled is a durable slot: it is on disk when Schedule returns it.
type Scheduled struct {
	Slot       store.Slot
	Assignment *dataitem.Item
	// Warning is shown to the client with its receipt: a Process whose scheduler set cannot
	// survive the loss of a member (two schedulers).
	Warning string
}

// Sequencer gives requests their slots. The local implementation decides alone; a replicated
// one (consensus) agrees on the order with the other schedulers of the process. Either way a
// slot is durable before Schedule returns it, and a refused request leaves no trace.
type Sequencer interface {
	Schedule(ctx context.Context, req Request) (Scheduled, error)
}

// LocalOptions configure a Local sequencer. Zero values take the defaults noted.
type LocalOptions struct {
	DB     *store.DB
	Signer dataitem.Signer
	// Clock returns unix milliseconds (default: the wall clock).
	Clock func() int64
	// BlockHeight returns the Arweave height stamped on assignments (default: always 0).
	BlockHeight func() uint64
	// Anchor fills an assignment's 32-byte anchor (default: random bytes, as the reference,
	// from a ChaCha8 stream keyed from crypto/rand).
	Anchor func([]byte) error
	// MaxBatchItems and MaxBatchBytes bound how many queued requests of one process go into
	// one store commit (defaults 1024 and 1 MiB, well inside Badger's transaction cap with the
	// store's default mem table; a single larger item still goes alone).
	MaxBatchItems int
	MaxBatchBytes int
	// MaxIdleHeads bounds the cached heads of processes nobody is scheduling on; beyond it
	// idle heads are dropped and reloaded from the store when needed (default 100000).
	MaxIdleHeads int
	Metrics      *Metrics
}

// Local is the single-scheduler Sequencer. Processes proceed in parallel; within one process
// requests are serialised and those that queue up while a commit is in flight are assigned
// together and committed in one atomic store batch, so one busy process is not limited to one
// fsync per message and a failed commit can never leave a gap.
type Local struct {
	opts   LocalOptions
	signer *assignmentSigner

	mu    sync.Mutex
	procs map[string]*procState
	idle  int // procs entries with no users
}

// procState is the per-process schedule. running means a leader goroutine owns head and
// loaded; the baton passes between goroutines under mu (see handOff), which orders accesses.
type procState struct {
	users int // guarded by Local.mu

	mu      sync.Mutex
	running bool
	queue   []*waiter

	loaded bool
	head   *Head // nil when the process has no slot
}

type waiter struct {
	req  Request
	done chan struct{} // closed when res/err are set, or when the waiter is made leader

	// set before done is closed
	res   Scheduled
	err   error
	lead  bool
	batch []*waiter
}

// NewLocal returns a Local sequencer writing into opts.DB.
func NewLocal(opts LocalOptions) (*Local, error) {
	if opts.DB == nil || opts.Signer == nil {
		return nil, errors.New("su: NewLocal needs a DB and a Signer")
	}
	if opts.Clock == nil {
		opts.Clock = func() int64 { return time.Now().UnixMilli() }
	}
	if opts.BlockHeight == nil {
		opts.BlockHeight = func() uint64 { return 0 }
	}
	if opts.Anchor == nil {
		a, err := newAnchorStream()
		if err != nil {
			return nil, err
		}
		opts.Anchor = a.fill
	}
	if opts.MaxBatchItems <= 0 {
		opts.MaxBatchItems = 1024
	}
	if opts.MaxBatchBytes <= 0 {
		opts.MaxBatchBytes = 1 << 20
	}
	if opts.MaxIdleHeads <= 0 {
		opts.MaxIdleHeads = 100000
	}
	return &Local{opts: opts, signer: newAssignmentSigner(opts.Signer), procs: make(map[string]*procState)}, nil
}

// anchorStream makes assignment anchors: a ChaCha8 stream keyed once from crypto/rand.
// Anchors only need to be unpredictable and unique, which a CSPRNG stream gives, and it
// costs a few dozen nanoseconds instead of a getrandom call per assignment.
type anchorStream struct {
	mu sync.Mutex
	r  *mrand.ChaCha8
}

func newAnchorStream() (*anchorStream, error) {
	var seed [32]byte
	if _, err := rand.Read(seed[:]); err != nil {
		return nil, fmt.Errorf("su: seed anchor stream: %w", err)
	}
	return &anchorStream{r: mrand.NewChaCha8(seed)}, nil
}

func (a *anchorStream) fill(b []byte) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	_, err := a.r.Read(b)
	return err
}

// Head returns the stored head of a process; ok is false when it has no slot.
func (l *Local) Head(pid string) (Head, bool, error) {
	s, err := l.opts.DB.LastSlot(pid)
	if errors.Is(err, store.ErrNotFound) {
		return Head{}, false, nil
	}
	if err != nil {
		return Head{}, false, err
	}
	return headOf(s), true, nil
}

func headOf(s store.Slot) Head {
	return Head{Process: s.Process, Nonce: s.Nonce, Timestamp: s.Timestamp, HashChain: s.HashChain, AssignmentID: s.AssignmentID}
}

// Schedule implements Sequencer.
func (l *Local) Schedule(ctx context.Context, req Request) (Scheduled, error) {
	if err := ctx.Err(); err != nil {
		return Scheduled{}, err
	}
	if req.Item == nil && req.Message == "" {
		return Scheduled{}, refuse(ErrInvalidItem, "nothing to schedule")
	}
	start := time.Now()
	st := l.acquire(req.Process)
	defer l.release(req.Process, st)

	w := &waiter{req: req, done: make(chan struct{})}
	st.mu.Lock()
	if !st.running {
		st.running = true
		st.mu.Unlock()
		l.lead(st, w, []*waiter{w})
	} else {
		st.queue = append(st.queue, w)
		st.mu.Unlock()
		select {
		case <-w.done:
		case <-ctx.Done():
			st.mu.Lock()
			for i, q := range st.queue {
				if q == w {
					st.queue = append(st.queue[:i], st.queue[i+1:]...)
					st.mu.Unlock()
					return Scheduled{}, ctx.Err()
				}
			}
			st.mu.Unlock()
			// Already taken into a batch: its outcome is decided by the commit.
			<-w.done
		}
		if w.lead {
			l.lead(st, w, w.batch)
		}
	}
	if l.opts.Metrics != nil {
		l.opts.Metrics.observeSchedule(w.err, time.Since(start))
	}
	return w.res, w.err
}

// maxLeadRounds bounds how many batches one goroutine leads before it passes the baton, so
// that its own caller is not held up for long by the work of others.
const maxLeadRounds = 4

// prepared is a batch whose assignments are built and signed on top of a head, ready to
// commit.
type prepared struct {
	waiters  []*waiter
	accepted []*waiter
	b        *store.Batch
	head     *Head // the head after the accepted requests
}

// lead runs batches as the process's leader, then passes the baton. While one batch is being
// committed it builds and signs the next one on top of it (the hash chain makes signing
// sequential within a process, so this overlap is where a busy process gains). Commits stay
// strictly one after the other and acknowledgements in order; a batch built on a commit that
// then fails is discarded unseen and its requests go back to the front of the queue.
func (l *Local) lead(st *procState, self *waiter, batch []*waiter) {
	pid := batch[0].req.Process
	defer l.handOff(st)
	if !st.loaded {
		h, ok, err := l.Head(pid)
		if err != nil {
			for _, w := range batch {
				w.err = fmt.Errorf("su: load head of %s: %w", pid, err)
			}
			l.wake(batch, self)
			return
		}
		st.head = nil
		if ok {
			st.head = &h
		}
		st.loaded = true
	}
	seen := make(map[string]bool)
	cur := l.prepare(pid, st.head, batch, seen)
	for round := 1; ; round++ {
		done := make(chan error, 1)
		if len(cur.accepted) > 0 {
			// Owned by this leader, which always waits for it below. The batch holds other
			// clients' requests too, so no single request's context may cancel it; the
			// store's own shutdown ends a stuck commit.
			go func(b *store.Batch) { done <- l.opts.DB.Commit(context.Background(), b) }(cur.b)
		} else {
			done <- nil
		}
		var next *prepared
		if round < maxLeadRounds {
			if nb := l.take(st); nb != nil {
				p := l.prepare(pid, cur.head, nb, seen)
				next = &p
			}
		}
		err := <-done
		l.finish(st, pid, &cur, err)
		l.wake(cur.waiters, self)
		if next == nil {
			return
		}
		if err != nil {
			l.requeue(st, next.waiters)
			return
		}
		cur = *next
	}
}

// prepare assigns the batch's requests in order from head. Only the leader calls it.
func (l *Local) prepare(pid string, head *Head, batch []*waiter, seen map[string]bool) prepared {
	p := prepared{waiters: batch, b: l.opts.DB.NewBatch(), head: head}
	for _, w := range batch {
		mid := w.req.messageID() // an item's id is a hash: compute it once
		if err := l.check(p.head, w.req, mid, seen); err != nil {
			w.err = err
			continue
		}
		anchor := make([]byte, 32)
		if err := l.opts.Anchor(anchor); err != nil {
			w.err = fmt.Errorf("su: assignment anchor: %w", err)
			continue
		}
		in := Input{
			Process:     pid,
			Exclude:     w.req.Exclude,
			NowMs:       l.opts.Clock(),
			BlockHeight: l.opts.BlockHeight(),
			Anchor:      anchor,
		}
		if p.head != nil {
			in.Message = mid
		}
		a, next, err := assign(p.head, in, l.signer.sign)
		if err != nil {
			w.err = err
			continue
		}
		// The slot is what the assignment says; built from what assign used rather than read
		// back from its tags (VerifySchedule checks the two agree).
		slot := store.Slot{
			Process:      pid,
			Nonce:        next.Nonce,
			Timestamp:    next.Timestamp,
			BlockHeight:  in.BlockHeight,
			HashChain:    next.HashChain,
			AssignmentID: next.AssignmentID,
			MessageID:    mid,
		}
		if err := put(p.b, slot, a, w.req.Item); err != nil {
			w.err = err
			continue
		}
		w.res = Scheduled{Slot: slot, Assignment: a}
		seen[mid] = true
		p.head = &next
		p.accepted = append(p.accepted, w)
	}
	return p
}

// finish records the outcome of a prepared batch's commit.
func (l *Local) finish(st *procState, pid string, p *prepared, err error) {
	if len(p.accepted) == 0 {
		return
	}
	if err != nil {
		for _, w := range p.accepted {
			w.res = Scheduled{}
			w.err = fmt.Errorf("su: commit slots of %s: %w", pid, err)
		}
		// Reload from the store next time rather than trust what we think it holds.
		st.loaded, st.head = false, nil
		return
	}
	st.head = p.head
	if l.opts.Metrics != nil {
		l.opts.Metrics.batchSize.Observe(float64(len(p.accepted)))
	}
}

// wake wakes the waiters of a finished batch (the leader itself is awake).
func (l *Local) wake(batch []*waiter, self *waiter) {
	for _, w := range batch {
		if w != self {
			close(w.done)
		}
	}
}

// take removes the next batch from the queue: up to MaxBatchItems requests and about
// MaxBatchBytes, at least one. nil when the queue is empty.
func (l *Local) take(st *procState) []*waiter {
	st.mu.Lock()
	defer st.mu.Unlock()
	return l.takeLocked(st)
}

func (l *Local) takeLocked(st *procState) []*waiter {
	if len(st.queue) == 0 {
		return nil
	}
	n, bytes := 0, 0
	for n < len(st.queue) && n < l.opts.MaxBatchItems {
		bytes += st.queue[n].req.size()
		if n > 0 && bytes > l.opts.MaxBatchBytes {
			break
		}
		n++
	}
	batch := append([]*waiter(nil), st.queue[:n]...)
	st.queue = append(st.queue[:0:0], st.queue[n:]...)
	return batch
}

// requeue puts requests whose batch was discarded back at the front of the queue.
func (l *Local) requeue(st *procState, batch []*waiter) {
	for _, w := range batch {
		w.res, w.err = Scheduled{}, nil
	}
	st.mu.Lock()
	st.queue = append(append([]*waiter(nil), batch...), st.queue...)
	st.mu.Unlock()
}

// handOff passes leadership to the first queued request, with the next batch, or ends the
// run when nothing is queued.
func (l *Local) handOff(st *procState) {
	st.mu.Lock()
	defer st.mu.Unlock()
	batch := l.takeLocked(st)
	if batch == nil {
		st.running = false
		return
	}
	next := batch[0]
	next.lead = true
	next.batch = batch
	close(next.done)
}

// check applies the rules that depend on the schedule so far.
func (l *Local) check(head *Head, req Request, mid string, inBatch map[string]bool) error {
	if req.Item != nil && req.Process == mid {
		if head != nil || inBatch[mid] {
			return refuse(ErrDuplicate, "Process %s already exists", mid)
		}
		return nil
	}
	if head == nil {
		return refuse(ErrUnknownProcess, "Process %s not found on this SU", req.Process)
	}
	if inBatch[mid] {
		return refuse(ErrDuplicate, "Message already exists")
	}
	if dup, err := l.opts.DB.HasSlotForMessage(req.Process, mid); err != nil {
		return fmt.Errorf("su: look up %s in %s: %w", mid, req.Process, err)
	} else if dup {
		return refuse(ErrDuplicate, "Message already exists")
	}
	if req.Item == nil {
		held, err := l.opts.DB.HasItem(mid)
		if err != nil {
			return fmt.Errorf("su: look up item %s: %w", mid, err)
		}
		if !held {
			return refuse(ErrNotHeld, "Message %s is not held by this SU", mid)
		}
	}
	return nil
}

func (l *Local) acquire(pid string) *procState {
	l.mu.Lock()
	defer l.mu.Unlock()
	st, ok := l.procs[pid]
	if !ok {
		st = &procState{}
		l.procs[pid] = st
	} else if st.users == 0 {
		l.idle--
	}
	st.users++
	return st
}

func (l *Local) release(pid string, st *procState) {
	l.mu.Lock()
	defer l.mu.Unlock()
	st.users--
	if st.users > 0 {
		return
	}
	l.idle++
	if l.idle <= l.opts.MaxIdleHeads {
		return
	}
	// Drop some other idle head (map order is random) rather than the one just used; its next
	// user reloads it from the store.
	for k, v := range l.procs {
		if v.users == 0 && k != pid {
			delete(l.procs, k)
			l.idle--
			return
		}
	}
	delete(l.procs, pid)
	l.idle--
}
