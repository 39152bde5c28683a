package cu

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// The wall-clock cap of an evaluation (Config.EvalTimeout).
//
// Gas is part of a process's semantics: every CU counts it the same way and a message that
// runs out of it has the same "out of gas!" result everywhere. Wall-clock time is not: it
// depends on the machine and its load. So a message stopped by the cap produces no result at
// all. Nothing is recorded, the memory stays as it was before the message, and the process
// pauses at that slot: requests that need the slot or a later one get 503 with Retry-After
// and the reason, earlier results and dry-runs (on the state before the message) are still
// served, and after PauseRetry (doubling per attempt up to an hour) the next request or push
// tries the message again. A CU with more time, or this one when less loaded, produces the
// same result every CU would; no CU ever records a result another would not.
//
// Each process has its own evaluator goroutine, so a paused or slow process holds no worker
// that another process needs.

// errEvalTimeout: an evaluation reached the cap (nothing of it is kept).
var errEvalTimeout = errors.New("evaluation exceeded the wall-clock limit")

// evalRef names what the evaluator is running, for the pause status.
type evalRef struct {
	nonce   uint64
	message string // empty for a cron message
}

func (r evalRef) String() string {
	if r.message == "" {
		return fmt.Sprintf("a cron message after slot %d", r.nonce)
	}
	return fmt.Sprintf("message %s (slot %d)", r.message, r.nonce)
}

// pauseState is why and until when a process is paused. Guarded by proc.mu.
type pauseState struct {
	at       evalRef
	pos      [2]uint64 // the process position (nonce, seq) when it paused
	attempts int
	retryAt  time.Time
}

// evalContext bounds one evaluation by the cap.
func (p *proc) evalContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if p.c.cfg.EvalTimeout <= 0 {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, p.c.cfg.EvalTimeout)
}

func (p *proc) position() [2]uint64 {
	if !p.st.HasAny {
		return [2]uint64{^uint64(0), uint64(p.st.Seq)}
	}
	return [2]uint64{p.st.Nonce, uint64(p.st.Seq)}
}

// pause records that the evaluation of p.current hit the cap. The caller holds sem.
func (p *proc) pause() error {
	now := p.c.cfg.Clock.Now()
	pos := p.position()
	p.mu.Lock()
	defer p.mu.Unlock()
	ps := p.paused
	if ps == nil || ps.pos != pos {
		if ps == nil {
			p.c.m.paused.Inc()
		}
		ps = &pauseState{at: p.current, pos: pos}
		p.paused = ps
	}
	ps.attempts++
	wait := p.c.cfg.PauseRetry << min(ps.attempts-1, 20)
	if wait > maxPauseRetry || wait <= 0 {
		wait = maxPauseRetry
	}
	ps.retryAt = now.Add(wait)
	p.c.m.evalTimeouts.Inc()
	p.c.log.Warn("evaluation exceeded the wall-clock limit; process paused", "process", p.pid,
		"at", ps.at.String(), "limit", p.c.cfg.EvalTimeout, "attempt", ps.attempts, "retry_in", wait)
	return p.pausedErrLocked(now)
}

// resumeIfMoved ends a pause once the process has moved past where it paused. sem held.
func (p *proc) resumeIfMoved() {
	pos := p.position()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.paused != nil && p.paused.pos != pos {
		p.c.log.Info("paused process resumed", "process", p.pid, "after", p.paused.at.String())
		p.paused = nil
		p.c.m.paused.Dec()
	}
}

// pausedErrLocked is the answer to a request that needs a paused process to move on, or nil
// once its retry time has come. p.mu is held.
func (p *proc) pausedErrLocked(now time.Time) error {
	ps := p.paused
	if ps == nil || !now.Before(ps.retryAt) {
		return nil
	}
	return retryLater(ErrPaused, ps.retryAt.Sub(now),
		"process %s is paused: %s ran longer than this CU's limit of %v per evaluation (attempt %d); nothing was recorded for it, and it is tried again after %s",
		p.pid, ps.at, p.c.cfg.EvalTimeout, ps.attempts, ps.retryAt.UTC().Format(time.RFC3339))
}
