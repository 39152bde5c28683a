package cu

import "sync"

// lru tracks the processes holding live memory, most recently used first, and unloads the
// least recently used ones (after a checkpoint) when their memory and the dry-runs' exceed
// the budget.
type lru struct {
	mu         sync.Mutex
	budget     int64
	total      int64 // of the processes in the list
	reserved   int64 // by dry-runs in flight
	head, tail *proc
	m          *metrics
}

func (l *lru) init(budget int64, m *metrics) { l.budget, l.m = budget, m }

// size is what a process holds: its memory copy, the instance's memory, and the snapshot
// dry-runs read once the evaluator has moved past it.
func procSize(p *proc) int64 {
	if p.def == nil {
		return 0
	}
	n := 2 * int64(len(p.mem))
	if s := p.snap.Load(); s != nil && !sameBuffer(s.mem, p.mem) {
		n += int64(len(s.mem))
	}
	return n
}

func (l *lru) unlink(p *proc) {
	if p.lruPrev != nil {
		p.lruPrev.lruNext = p.lruNext
	} else {
		l.head = p.lruNext
	}
	if p.lruNext != nil {
		p.lruNext.lruPrev = p.lruPrev
	} else {
		l.tail = p.lruPrev
	}
	p.lruPrev, p.lruNext, p.lruIn = nil, nil, false
	l.total -= p.lruSize
	p.lruSize = 0
}

// touch records that p (whose sem the caller holds) was used, then unloads other processes
// until the total fits the budget. A process busy evaluating is skipped.
func (l *lru) touch(p *proc) {
	l.mu.Lock()
	if p.lruIn {
		l.unlink(p)
	}
	if size := procSize(p); size > 0 {
		p.lruSize, p.lruIn = size, true
		p.lruNext = l.head
		if l.head != nil {
			l.head.lruPrev = p
		}
		l.head = p
		if l.tail == nil {
			l.tail = p
		}
		l.total += size
	}
	victims := l.victimsLocked(0, p)
	l.gaugesLocked()
	l.mu.Unlock()
	unloadAll(victims)
}

// victimsLocked unlinks (and holds) the least recently used idle processes, other than
// keep, until the total and the reservations plus extra fit the budget. A process busy
// evaluating is skipped.
func (l *lru) victimsLocked(extra int64, keep *proc) []*proc {
	var victims []*proc
	for q := l.tail; q != nil && l.total+l.reserved+extra > l.budget; {
		prev := q.lruPrev
		if q != keep && q.tryAcquire() {
			l.unlink(q)
			victims = append(victims, q)
		}
		q = prev
	}
	return victims
}

func (l *lru) gaugesLocked() {
	l.m.liveInstances.Set(float64(l.count()))
	l.m.liveBytes.Set(float64(l.total))
	l.m.dryRunBytes.Set(float64(l.reserved))
}

// unloadAll checkpoints and unloads victims, whose sem the caller holds.
func unloadAll(victims []*proc) {
	for _, q := range victims {
		if err := q.unload(q.c.ctx, true); err != nil {
			q.c.log.Warn("unloading process", "process", q.pid, "err", err)
		}
		q.c.m.evictions.Inc()
		q.release()
	}
}

// reserve counts n bytes of a dry-run's instance against the budget, unloading idle
// processes to make room. It reports false, reserving nothing, when n does not fit even then
// and another dry-run holds a reservation: one dry-run at a time is always admitted, as one
// process larger than the budget is still loaded.
func (l *lru) reserve(n int64) bool {
	l.mu.Lock()
	victims := l.victimsLocked(n, nil)
	l.mu.Unlock()
	unloadAll(victims)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.total+l.reserved+n > l.budget && l.reserved > 0 {
		return false
	}
	l.reserved += n
	l.gaugesLocked()
	return true
}

// unreserve returns a dry-run's reservation.
func (l *lru) unreserve(n int64) {
	l.mu.Lock()
	l.reserved -= n
	l.gaugesLocked()
	l.mu.Unlock()
}

func (l *lru) count() int {
	n := 0
	for q := l.head; q != nil; q = q.lruNext {
		n++
	}
	return n
}

// remove forgets p (whose sem the caller holds).
func (l *lru) remove(p *proc) {
	l.mu.Lock()
	if p.lruIn {
		l.unlink(p)
	}
	l.mu.Unlock()
}
