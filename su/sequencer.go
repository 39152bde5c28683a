package su

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"runtime"
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
	// from a ChaCha8 stream keyed from crypto/rand). Clock, BlockHeight and Anchor are called
	// from several goroutines at once.
	Anchor func([]byte) error
	// MaxBatchItems and MaxBatchBytes bound how many queued requests go into one round, which
	// is one store batch (defaults 1024 and 1 MiB, well inside Badger's transaction cap with
	// the store's default mem table; a single larger item still goes alone).
	MaxBatchItems int
	MaxBatchBytes int
	// MaxIdleHeads bounds the cached heads of processes; beyond it, heads that no round in
	// flight uses are dropped and reloaded from the store when needed (default 100000).
	MaxIdleHeads int
	Metrics      *Metrics
}

// maxRoundsInFlight bounds the rounds handed to the store and not yet durable. One more
// than two lets a round be prepared while the store writes the two before it in one group;
// more only makes rounds smaller (measured with BenchmarkSchedule).
const maxRoundsInFlight = 3

// Local is the single-scheduler Sequencer. Requests of all processes queue together and are
// taken in rounds: a round assigns every request it holds (in queue order within each
// process), signs the assignments in batches and hands them to the store as one atomic
// batch. Rounds are pipelined: the next round is built and signed on top of the previous
// ones while the store is still writing them (each store batch is chained to the one
// before with store.Batch.After, so a round is never written without its predecessor), and
// a request is answered only once its round is durable.
//
// No goroutine of its own runs the rounds: the caller that finds the sequencer idle leads,
// and each leader, once its round is handed to the store, passes the baton to the first
// queued request (flat combining). Leader-only state passes with the baton, under mu.
type Local struct {
	opts    LocalOptions
	signer  *assignmentSigner
	slots   chan struct{}                   // one per round in flight
	enqueue func(*store.Batch) <-chan error // DB.Enqueue; tests put faults in front of it

	mu      sync.Mutex
	running bool // a leader holds the baton
	queue   []*waiter

	// Owned by the leader.
	heads     map[string]*headEntry
	inFlight  map[msgKey]uint64   // messages of rounds not yet answered -> their round
	roundMsgs map[uint64][]msgKey // rounds not yet answered -> their messages
	round     uint64              // rounds prepared so far
	last      *store.Batch        // the latest round handed to the store
	workers   int                 // goroutines of build: GOMAXPROCS

	doneMu sync.Mutex
	done   []doneRound // rounds the store has answered, for the next leader to account
}

// headEntry is a cached head; head is nil when the process has no slot. round is the last
// round that used it: the entry may be evicted once that round is durable.
type headEntry struct {
	head  *Head
	round uint64
}

type msgKey struct{ process, message string }

type doneRound struct {
	round uint64
	err   error
}

type waiter struct {
	req  Request
	done chan struct{} // closed when res/err are set, or when the waiter is made leader

	// set before done is closed
	res  Scheduled
	err  error
	lead bool
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
	return &Local{
		opts:      opts,
		enqueue:   opts.DB.Enqueue,
		signer:    newAssignmentSigner(opts.Signer),
		slots:     make(chan struct{}, maxRoundsInFlight),
		heads:     make(map[string]*headEntry),
		inFlight:  make(map[msgKey]uint64),
		roundMsgs: make(map[uint64][]msgKey),
		workers:   runtime.GOMAXPROCS(0),
	}, nil
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
	w := &waiter{req: req, done: make(chan struct{})}
	l.mu.Lock()
	leading := !l.running
	if leading {
		l.running = true
	} else {
		l.queue = append(l.queue, w)
	}
	l.mu.Unlock()
	for {
		if !leading {
			if err := l.wait(ctx, w); err != nil {
				return Scheduled{}, err
			}
			if !w.lead {
				break
			}
			w.lead = false
		}
		if !l.lead(w) {
			break
		}
		leading = false // requeued: wait for a later round
	}
	if l.opts.Metrics != nil {
		l.opts.Metrics.observeSchedule(w.err, time.Since(start))
	}
	return w.res, w.err
}

// wait waits until w is answered or made leader. If ctx ends first and w is still queued,
// w leaves the queue and ctx's error is returned.
func (l *Local) wait(ctx context.Context, w *waiter) error {
	select {
	case <-w.done:
		return nil
	case <-ctx.Done():
	}
	l.mu.Lock()
	for i, q := range l.queue {
		if q == w {
			l.queue = append(l.queue[:i], l.queue[i+1:]...)
			l.mu.Unlock()
			return ctx.Err()
		}
	}
	l.mu.Unlock()
	// Already taken into a round (or made leader): the round decides.
	<-w.done
	return nil
}

// lead runs one round, the one holding its own request: it waits for a free slot (while
// it waits, requests pile up in the queue and join the round), prepares the round, hands
// it to the store chained after the previous one, passes the baton on, and answers the
// round's requests once the store has written it. It reports whether self went back to the
// queue instead (its round was built on one that failed).
func (l *Local) lead(self *waiter) (requeued bool) {
	l.slots <- struct{}{}
	batch := l.take(self)
	p := l.prepare(batch)
	var done <-chan error
	if p.accepted > 0 {
		if l.last != nil {
			p.b.After(l.last)
		}
		l.last = p.b
		done = l.enqueue(p.b)
	}
	l.handOff()
	var err error
	if done != nil {
		err = <-done
	}
	// Recorded before the slot is freed, so that the leader who takes the slot sees it.
	l.doneMu.Lock()
	l.done = append(l.done, doneRound{p.round, err})
	l.doneMu.Unlock()
	<-l.slots
	switch {
	case errors.Is(err, store.ErrEarlierFailed):
		// Built on a round that failed: nothing of it was written, and its requests are
		// fine. They go back to the front of the queue and get new assignments on top of
		// what the store holds.
		var again []*waiter
		for _, w := range p.waiters {
			switch {
			case w.err == nil:
				w.res = Scheduled{}
				again = append(again, w)
			case w != self:
				close(w.done)
			}
		}
		requeued = self.err == nil
		if requeued {
			self.done = make(chan struct{}) // the old one may have signalled leadership
		}
		l.requeue(again)
		return requeued
	case err != nil:
		for _, w := range p.waiters {
			if w.err == nil { // refused requests keep their own answer
				w.res, w.err = Scheduled{}, fmt.Errorf("su: commit slots: %w", err)
			}
		}
	case l.opts.Metrics != nil && p.accepted > 0:
		l.opts.Metrics.batchSize.Observe(float64(p.accepted))
	}
	for _, w := range p.waiters {
		if w != self {
			close(w.done)
		}
	}
	return false
}

// requeue puts requests back at the front of the queue, and makes the first of them leader
// when nobody leads.
func (l *Local) requeue(ws []*waiter) {
	if len(ws) == 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.queue = append(ws, l.queue...)
	if !l.running {
		l.running = true
		l.handOffLocked()
	}
}

// handOff makes the first queued request the next leader, or ends the run when nothing is
// queued.
func (l *Local) handOff() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.handOffLocked()
}

func (l *Local) handOffLocked() {
	if len(l.queue) == 0 {
		l.running = false
		return
	}
	w := l.queue[0]
	l.queue = append(l.queue[:0:0], l.queue[1:]...)
	w.lead = true
	close(w.done)
}

// take returns self and, behind it, as many queued requests as fit in one round: up to
// MaxBatchItems requests and about MaxBatchBytes (self always goes, however large).
func (l *Local) take(self *waiter) []*waiter {
	l.mu.Lock()
	defer l.mu.Unlock()
	n, bytes := 0, self.req.size()
	for n < len(l.queue) && n+1 < l.opts.MaxBatchItems {
		bytes += l.queue[n].req.size()
		if bytes > l.opts.MaxBatchBytes {
			break
		}
		n++
	}
	batch := append([]*waiter{self}, l.queue[:n]...)
	l.queue = append(l.queue[:0:0], l.queue[n:]...)
	return batch
}
