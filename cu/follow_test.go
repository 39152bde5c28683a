package cu

import (
	"testing"
	"time"
)

// Wake evaluates what the source has without anyone asking for a result, and a wake for
// nothing new costs a pass and changes nothing.
func TestWakeEvaluatesUnasked(t *testing.T) {
	h := newHarness(t, nil)
	defer h.close()
	pid := h.su.addProcess(h.mod, false)
	ids := h.addMessages(pid, 3)
	if err := h.cu.Wake(pid); err != nil {
		t.Fatal(err)
	}
	waitStored(t, h, pid, ids[2])
	more := h.addMessages(pid, 2)
	if err := h.cu.Wake(pid); err != nil {
		t.Fatal(err)
	}
	waitStored(t, h, pid, more[1])
	// Wake returns before its pass runs: wait for the pass it started to finish, then look.
	before := passesDone(t, h, pid)
	if err := h.cu.Wake(pid); err != nil {
		t.Fatal(err)
	}
	waitPass(t, h, pid, before)
	last, err := h.db.LastEvalResult(pid)
	if err != nil || last.Nonce != 5 {
		t.Fatalf("last result: nonce %d (%v), want 5", last.Nonce, err)
	}
}

func procOf(t *testing.T, h *harness, pid string) *proc {
	t.Helper()
	p, err := h.cu.getProc(pid)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// passesDone is how many catch-up passes pid's evaluator has finished.
func passesDone(t *testing.T, h *harness, pid string) uint64 {
	p := procOf(t, h, pid)
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.passDone
}

// waitPass waits, after a wake, until a pass has finished since before passes were done and
// none is running: a wake starts a pass, or, when one is running, makes another follow it.
func waitPass(t *testing.T, h *harness, pid string, before uint64) {
	t.Helper()
	p := procOf(t, h, pid)
	p.mu.Lock()
	defer p.mu.Unlock()
	deadline := time.After(20 * time.Second)
	for p.passDone <= before || (p.running && !p.idle) {
		ch := p.progress
		p.mu.Unlock()
		select {
		case <-ch:
		case <-deadline:
			p.mu.Lock()
			t.Fatalf("no pass of %s finished after the wake (%d done, running %v)", pid, p.passDone, p.running)
		case <-time.After(10 * time.Millisecond): // idle is set without a progress signal
		}
		p.mu.Lock()
	}
}

func waitStored(t *testing.T, h *harness, pid, msg string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := h.db.EvalResultByMessage(pid, msg); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("result of %s not stored", msg)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
