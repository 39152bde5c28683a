package cu

import (
	"context"
	"errors"
	"time"
)

// ConflictSink hears of equivocation the CU runs into while catching up: two assignments with
// different ids for one slot of a process. The CU reads schedules as JSON and holds only
// assignment ids, so the sink (the node) fetches both signed items by id to make evidence of
// them. It is called with the process's evaluation under way and must not block long.
type ConflictSink interface {
	AssignmentConflict(pid string, nonce uint64, assignmentIDs [2]string)
}

// forkLookupTimeout bounds the extra read of the slot before a broken hash chain.
const forkLookupTimeout = 10 * time.Second

// checkConflict compares a slot the CU has already evaluated, served again (by another member
// of the set, or a source that repeats slots), with the assignment the CU evaluated for it.
func (p *proc) checkConflict(s Scheduled) {
	if s.AssignmentID == "" {
		return
	}
	known := ""
	if s.Nonce == p.st.Nonce {
		known = p.st.AssignmentID
	} else if r, err := p.c.db.EvalResult(p.pid, s.Nonce, 0); err == nil {
		known = r.AssignmentID
	}
	if known != "" && known != s.AssignmentID {
		p.conflict(s.Nonce, known, s.AssignmentID)
	}
}

// findFork runs when a slot's Hash-Chain does not follow the assignment the CU evaluated
// before it: the source's chain goes through another assignment for the previous slot (a
// fork, when the CU's previous slot came from another member). It reads the source's slot
// nonce and reports a conflict when its assignment differs from the CU's.
func (p *proc) findFork(ctx context.Context, nonce uint64) {
	if p.c.cfg.Conflicts == nil || nonce != p.st.Nonce || p.st.AssignmentID == "" {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, forkLookupTimeout)
	defer cancel()
	var theirs string
	err := p.c.cfg.Source.Scheduled(ctx, p.pid, int64(nonce)-1, func(s Scheduled) bool {
		if s.Nonce == nonce {
			theirs = s.AssignmentID
		}
		return false
	})
	if err != nil && !errors.Is(err, context.Canceled) {
		p.c.log.Debug("reading the slot before a broken hash chain", "process", p.pid, "slot", nonce, "err", err)
	}
	if theirs != "" && theirs != p.st.AssignmentID {
		p.conflict(nonce, p.st.AssignmentID, theirs)
	}
}

func (p *proc) conflict(nonce uint64, a, b string) {
	p.c.log.Warn("two assignments for one slot", "process", p.pid, "slot", nonce, "evaluated", a, "served", b)
	if p.c.cfg.Conflicts != nil {
		p.c.cfg.Conflicts.AssignmentConflict(p.pid, nonce, [2]string{a, b})
	}
}
