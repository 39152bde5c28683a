package mu

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/aonode/aonode/dataitem"
)

// fakeAttesters answers what each of a few CUs attests for a message.
type fakeAttesters struct {
	mu    sync.Mutex
	votes func(pid, id string) map[string]map[string]any // CU -> result
	asked int
}

func (f *fakeAttesters) Attested(_ context.Context, pid, id string) ([]AttestedResult, error) {
	f.mu.Lock()
	f.asked++
	f.mu.Unlock()
	var out []AttestedResult
	for cu, res := range f.votes(pid, id) {
		body, err := json.Marshal(res)
		if err != nil {
			return nil, err
		}
		out = append(out, AttestedResult{CU: cu, ResultSHA256: sha256.Sum256(body), Body: body})
	}
	return out, nil
}

func (f *fakeAttesters) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.asked
}

// TestResultQuorum: with ResultQuorum 2 the MU cranks the result two of three CUs attest,
// never the third's; a message two CUs split on stays queued, not cranked, not dead.
func TestResultQuorum(t *testing.T) {
	att := &fakeAttesters{}
	w := newWorld(t, func(c *Config) {
		c.ResultQuorum, c.QuorumWait, c.Attesters = 2, 10*time.Millisecond, att
	})
	out := func(it *dataitem.Item, action string) map[string]any {
		res := emptyResult()
		res["Messages"] = []any{outMsg(w.b.ID(), anchorFor(it.ID(), 0), Tag{Name: "Action", Value: action})}
		return res
	}
	var split string
	att.votes = func(pid, id string) map[string]map[string]any {
		it, ok := w.su.message(pid, id)
		if !ok || pid != w.a.ID() {
			return map[string]map[string]any{"cu1": emptyResult(), "cu2": emptyResult()}
		}
		if id == split {
			return map[string]map[string]any{"cu1": out(it, "Left"), "cu2": out(it, "Right")}
		}
		return map[string]map[string]any{"cu1": out(it, "Honest"), "cu2": out(it, "Honest"), "cu3": out(it, "Forged")}
	}
	m1 := messageItem(t, w.user, w.a.ID(), dataitem.Tag{Name: "Action", Value: "Go"})
	if status, body := post(t, w.mu.srv.URL, m1.Raw()); status != 202 {
		t.Fatalf("POST = %d %s", status, body)
	}
	waitFor(t, "the majority's message to reach B", func() bool { return len(w.pushedTo(w.b.ID(), "Honest")) == 1 })
	w.idle(t)
	if n := len(w.pushedTo(w.b.ID(), "Forged")); n != 0 {
		t.Fatalf("the minority's result was cranked (%d)", n)
	}

	m2 := messageItem(t, w.user, w.a.ID(), dataitem.Tag{Name: "Action", Value: "Split"})
	split = m2.ID()
	before := att.count()
	if status, body := post(t, w.mu.srv.URL, m2.Raw()); status != 202 {
		t.Fatalf("POST = %d %s", status, body)
	}
	waitFor(t, "the MU to look for a quorum on the split several times", func() bool { return att.count() > before+5 })
	if n := len(w.pushedTo(w.b.ID(), "Left")) + len(w.pushedTo(w.b.ID(), "Right")); n != 0 {
		t.Fatalf("a split result was cranked (%d)", n)
	}
	if w.mu.Pending() == 0 {
		t.Fatal("the split's task left the queue")
	}
	if dead, err := w.mu.DeadLetters(); err != nil || dead != 0 {
		t.Fatalf("%d dead letters (%v)", dead, err)
	}
}

func TestQuorum(t *testing.T) {
	a, b := []byte(`{"a":1}`), []byte(`{"b":1}`)
	ha, hb := sha256.Sum256(a), sha256.Sum256(b)
	rs := []AttestedResult{{CU: "x", ResultSHA256: ha, Body: a}, {CU: "x", ResultSHA256: ha}, {CU: "y", ResultSHA256: ha}, {CU: "z", ResultSHA256: hb, Body: b}}
	if body, _, err := Quorum(rs, 2); err != nil || string(body) != string(a) {
		t.Fatalf("%s %v", body, err)
	}
	if _, _, err := Quorum(rs, 3); err == nil {
		t.Fatal("one CU counted twice")
	}
	// The majority served no body: no quorum to crank.
	if _, _, err := Quorum([]AttestedResult{{CU: "x", ResultSHA256: ha}, {CU: "y", ResultSHA256: ha}}, 2); err == nil {
		t.Fatal("quorum without a body")
	}
	// A body that does not hash to its attestation is not taken.
	if _, _, err := Quorum([]AttestedResult{{CU: "x", ResultSHA256: ha, Body: b}, {CU: "y", ResultSHA256: ha}}, 2); err == nil {
		t.Fatal("took a body that does not match")
	}
}
