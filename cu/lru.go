package cu

import "sync"

// lru tracks the processes holding live memory, most recently used first, and unloads the
// least recently used ones (after a checkpoint) when their memory exceeds the budget.
type lru struct {
	mu         sync.Mutex
	budget     int64
	total      int64
	head, tail *proc
}

func (l *lru) init(budget int64) { l.budget = budget }

// size is what a process holds: its memory copy and the instance's memory.
func procSize(p *proc) int64 {
	if p.def == nil {
		return 0
	}
	return 2 * int64(len(p.mem))
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
	var victims []*proc
	for q := l.tail; q != nil && l.total > l.budget; {
		prev := q.lruPrev
		if q != p && q.tryAcquire() {
			l.unlink(q)
			victims = append(victims, q)
		}
		q = prev
	}
	p.c.m.liveInstances.Set(float64(l.count()))
	p.c.m.liveBytes.Set(float64(l.total))
	l.mu.Unlock()
	for _, q := range victims {
		if err := q.unload(p.c.ctx, true); err != nil {
			q.c.log.Warn("unloading process", "process", q.pid, "err", err)
		}
		q.c.m.evictions.Inc()
		q.release()
	}
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
