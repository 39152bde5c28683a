package su

import (
	"fmt"
	"sync"

	"github.com/aonode/aonode/store"
)

// prepared is a round whose assignments are built and signed, in a store batch.
type prepared struct {
	round    uint64
	waiters  []*waiter
	accepted int
	b        *store.Batch
}

// lane is the requests of one process in a round, in queue order.
type lane struct {
	pid     string
	waiters []*waiter
	next    int // first waiter not yet taken into a layer
	entry   *headEntry
}

// job is one request of a layer: at most one per process, so the jobs of a layer are
// independent of each other.
type job struct {
	signJob
	w      *waiter
	ln     *lane
	mid    string
	head   Head
	height uint64
}

// minChunk is the fewest jobs worth a goroutine of their own in build.
const minChunk = 2

// prepare assigns the round's requests. Within a process each assignment's hash chain
// depends on the previous one's id, so the round goes in layers: each layer takes the next
// request of every process and signs them as one batch.
func (l *Local) prepare(batch []*waiter) prepared {
	l.settle()
	l.round++
	p := prepared{round: l.round, waiters: batch, b: l.opts.DB.NewBatch()}
	l.roundMsgs[p.round] = nil // in flight until answered, even with nothing to write
	var lanes []*lane
	byPID := make(map[string]*lane)
	for _, w := range batch {
		ln := byPID[w.req.Process]
		if ln == nil {
			ln = &lane{pid: w.req.Process}
			byPID[w.req.Process] = ln
			lanes = append(lanes, ln)
		}
		ln.waiters = append(ln.waiters, w)
	}
	live := lanes[:0]
	for _, ln := range lanes {
		e, err := l.headOf(ln.pid)
		if err != nil {
			for _, w := range ln.waiters {
				w.err = fmt.Errorf("su: load head of %s: %w", ln.pid, err)
			}
			continue
		}
		e.round = p.round
		ln.entry = e
		live = append(live, ln)
	}
	lanes = live
	for len(lanes) > 0 {
		jobs := make([]*job, 0, len(lanes))
		live := lanes[:0]
		for _, ln := range lanes {
			w := ln.waiters[ln.next]
			ln.next++
			jobs = append(jobs, &job{w: w, ln: ln, mid: w.req.messageID()}) // an id is a hash: once
			if ln.next < len(ln.waiters) {
				live = append(live, ln)
			}
		}
		lanes = live
		l.build(jobs)
		for _, j := range jobs {
			if j.w.err != nil {
				continue
			}
			j.head.AssignmentID = j.item.ID()
			slot := store.Slot{
				Process:      j.ln.pid,
				Nonce:        j.head.Nonce,
				Timestamp:    j.head.Timestamp,
				BlockHeight:  j.height,
				HashChain:    j.head.HashChain,
				AssignmentID: j.head.AssignmentID,
				MessageID:    j.mid,
			}
			if err := put(p.b, slot, j.item, j.w.req.Item); err != nil {
				j.w.err = err
				continue
			}
			j.w.res = Scheduled{Slot: slot, Assignment: j.item}
			h := j.head
			j.ln.entry.head = &h
			k := msgKey{j.ln.pid, j.mid}
			l.inFlight[k] = p.round
			l.roundMsgs[p.round] = append(l.roundMsgs[p.round], k)
			p.accepted++
		}
	}
	return p
}

// build checks, plans and signs the jobs of a layer, in parallel chunks over all cores (the
// checks read the store; signing is most of the CPU). It only reads leader state.
func (l *Local) build(jobs []*job) {
	chunks := min(l.workers, max(1, len(jobs)/minChunk))
	run := func(c int) {
		part := jobs[c*len(jobs)/chunks : (c+1)*len(jobs)/chunks]
		sj := make([]*signJob, 0, len(part))
		for _, j := range part {
			if err := l.plan(j); err != nil {
				j.w.err = err
				continue
			}
			sj = append(sj, &j.signJob)
		}
		l.signer.signAll(sj)
		for _, j := range part {
			if j.w.err == nil && j.err != nil {
				j.w.err = fmt.Errorf("su: sign assignment: %w", j.err)
			}
		}
	}
	var wg sync.WaitGroup
	for c := 1; c < chunks; c++ {
		wg.Go(func() { run(c) })
	}
	run(0)
	wg.Wait()
}

// plan checks a job's request against its process's head and fills in the assignment to
// sign and the head it leads to.
func (l *Local) plan(j *job) error {
	head, req := j.ln.entry.head, j.w.req
	if err := l.check(head, req, j.mid); err != nil {
		return err
	}
	anchor := make([]byte, 32)
	if err := l.opts.Anchor(anchor); err != nil {
		return fmt.Errorf("su: assignment anchor: %w", err)
	}
	in := Input{
		Process:     req.Process,
		Exclude:     req.Exclude,
		NowMs:       l.opts.Clock(),
		BlockHeight: l.opts.BlockHeight(),
		Anchor:      anchor,
	}
	if head != nil {
		in.Message = j.mid
	}
	f, h, err := plan(head, in)
	if err != nil {
		return err
	}
	j.fields, j.head, j.height = f, h, in.BlockHeight
	return nil
}

// check applies the rules that depend on the schedule so far.
func (l *Local) check(head *Head, req Request, mid string) error {
	_, inFlight := l.inFlight[msgKey{req.Process, mid}]
	if req.Item != nil && req.Process == mid {
		if head != nil || inFlight {
			return refuse(ErrDuplicate, "Process %s already exists", mid)
		}
		return nil
	}
	if head == nil {
		return refuse(ErrUnknownProcess, "Process %s not found on this SU", req.Process)
	}
	if inFlight {
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

// headOf returns the cached head of a process, loading it from the store when absent.
func (l *Local) headOf(pid string) (*headEntry, error) {
	if e, ok := l.heads[pid]; ok {
		return e, nil
	}
	h, ok, err := l.Head(pid)
	if err != nil {
		return nil, err
	}
	e := &headEntry{}
	if ok {
		e.head = &h
	}
	l.heads[pid] = e
	return e, nil
}

// settle accounts for the rounds the store has answered since the last round: their
// messages are now in the store, and heads no round in flight uses may be evicted. After a
// failed round the cached heads cannot be trusted: every round after it fails too (they
// are chained to it), but rounds before it may still be on their way to the disk, so settle
// waits for all rounds in flight, then drops the cache; heads are reloaded from the store.
func (l *Local) settle() {
	if !l.drainDone() {
		return
	}
	for range cap(l.slots) - 1 { // the leader holds the last slot
		l.slots <- struct{}{}
	}
	for range cap(l.slots) - 1 {
		<-l.slots
	}
	l.drainDone()
	clear(l.heads)
	clear(l.inFlight)
	clear(l.roundMsgs)
	l.last = nil
}

// drainDone forgets the in-flight messages of answered rounds and evicts heads no round
// in flight uses; it reports whether any of those rounds failed. Rounds are answered in
// the order they were handed to the store, but a round with nothing to write is answered
// at once, so each is accounted for by its own number.
func (l *Local) drainDone() (failed bool) {
	l.doneMu.Lock()
	done := l.done
	l.done = nil
	l.doneMu.Unlock()
	for _, d := range done {
		failed = failed || d.err != nil
		for _, k := range l.roundMsgs[d.round] {
			if l.inFlight[k] == d.round {
				delete(l.inFlight, k)
			}
		}
		delete(l.roundMsgs, d.round)
	}
	if len(l.heads) <= l.opts.MaxIdleHeads {
		return failed
	}
	oldest := l.round + 1 // the oldest round not yet answered
	for r := range l.roundMsgs {
		oldest = min(oldest, r)
	}
	// Map order is random, so no process is favoured.
	for pid, e := range l.heads {
		if len(l.heads) <= l.opts.MaxIdleHeads {
			break
		}
		if e.round < oldest {
			delete(l.heads, pid)
		}
	}
	return failed
}
