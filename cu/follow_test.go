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
	if err := h.cu.Wake(pid); err != nil {
		t.Fatal(err)
	}
	last, err := h.db.LastEvalResult(pid)
	if err != nil || last.Nonce != 5 {
		t.Fatalf("last result: nonce %d (%v), want 5", last.Nonce, err)
	}
}

func TestWakeAfterClose(t *testing.T) {
	h := newHarness(t, nil)
	h.close()
	if err := h.cu.Wake("p"); err != ErrClosed {
		t.Fatalf("Wake on a closed CU: %v", err)
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
