package cu

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aonode/aonode/dataitem"
	"github.com/aonode/aonode/store"
)

func TestCheckpointResumeInProcess(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.CheckpointEvery = 1000; c.IdleCheckpoint = -1 })
	defer h.close()
	pid := h.su.addProcess(h.mod, false)
	ids := h.addMessages(pid, 15)
	wantStatus(t, h.get("/result/"+ids[14]+"?process-id="+pid), 200, "")
	before := h.get("/state/" + pid)
	if _, err := h.db.CUCheckpointHead(pid); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("checkpoint before Close: %v", err)
	}
	h.stop() // Close writes the checkpoint of the unsaved progress
	if _, err := h.db.CUCheckpointHead(pid); err != nil {
		t.Fatalf("no checkpoint after Close: %v", err)
	}
	handles, raws := h.rt.handles.Load(), h.gw.raws
	h.start()
	more := h.addMessages(pid, 3)
	r := h.get("/result/" + more[2] + "?process-id=" + pid)
	wantStatus(t, r, 200, "")
	if got := h.rt.handles.Load() - handles; got != 3 {
		t.Fatalf("after restart %d messages were evaluated, want only the 3 new ones", got)
	}
	if h.gw.raws != raws {
		t.Fatal("the module was fetched again instead of read from the store")
	}
	if !strings.Contains(string(r.body), "count=19 ") {
		t.Fatalf("resumed state is wrong: %s", r.body)
	}
	after := h.get("/state/" + pid)
	if len(after.body) != len(before.body) || after.header.Get("Last-Ordinate") != "18" {
		t.Fatalf("state after resume: %d bytes, ordinate %s", len(after.body), after.header.Get("Last-Ordinate"))
	}
}

func TestLRUEvictsAndReloads(t *testing.T) {
	// Each fake process holds 2 x 64 bytes: a budget of 200 keeps only one live.
	h := newHarness(t, func(c *Config) { c.InstanceBudgetBytes = 200; c.CheckpointEvery = 1000 })
	defer h.close()
	p1 := h.su.addProcess(h.mod, false)
	p2 := h.su.addProcess(h.mod, false)
	a := h.addMessages(p1, 4)
	b := h.addMessages(p2, 4)
	wantStatus(t, h.get("/result/"+a[3]+"?process-id="+p1), 200, "")
	waitIdle(t, h.cu, p1)
	wantStatus(t, h.get("/result/"+b[3]+"?process-id="+p2), 200, "")
	// The eviction happens when p2's catch-up ends, just after its results are durable.
	waitIdle(t, h.cu, p2)
	if got := counterValue(t, h.cu.m.evictions); got != 1 {
		t.Fatalf("%v evictions, want 1", got)
	}
	if _, err := h.db.CUCheckpointHead(p1); err != nil {
		t.Fatalf("evicted process was not checkpointed: %v", err)
	}
	more := h.addMessages(p1, 1)
	r := h.get("/result/" + more[0] + "?process-id=" + p1)
	wantStatus(t, r, 200, "")
	if !strings.Contains(string(r.body), "count=6 ") {
		t.Fatalf("reloaded process state: %s", r.body)
	}
	if got := counterValue(t, h.cu.m.restores); got != 1 {
		t.Fatalf("%v restores, want 1", got)
	}
}

func TestSourceUnavailable(t *testing.T) {
	h := newHarness(t, nil)
	defer h.close()
	pid := h.su.addProcess(h.mod, false)
	ids := h.addMessages(pid, 1)
	h.su.srv.Close()
	wantStatus(t, h.get("/result/"+ids[0]+"?process-id="+pid), 502, "SU")
}

func TestClosedCU(t *testing.T) {
	h := newHarness(t, nil)
	pid := h.su.addProcess(h.mod, false)
	ids := h.addMessages(pid, 1)
	srv := httptest.NewServer(h.cu.Handler())
	defer srv.Close()
	h.stop()
	resp, err := http.Get(srv.URL + "/result/" + ids[0] + "?process-id=" + pid)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("status %d after Close", resp.StatusCode)
	}
	if _, err := h.cu.catchUp(context.Background(), pid, -1); !errors.Is(err, ErrClosed) {
		t.Fatalf("catch-up after Close: %v", err)
	}
}

func TestPureAssignmentHydrated(t *testing.T) {
	h := newHarness(t, nil)
	defer h.close()
	h.rt.record = true
	pid := h.su.addProcess(h.mod, false)
	// An assignment of an item the SU holds in another process: its slot in pid carries no
	// message, so the CU reads the item from the gateway.
	id := h.su.addMessage(h.su.addProcess(h.mod, false), 0, "from the SU")
	h.gw.addModuleAs(id, []byte("from the gateway"), []Tag{{Name: "Action", Value: "Count"}, {Name: "From-Process", Value: "other-process"}})
	h.su.assign(pid, id, 1000)
	// Like the reference SU, ours does not serve a pure assignment under the assigned id, so
	// evaluate by catching up, then read the stored result.
	if _, err := h.cu.catchUp(context.Background(), pid, -1); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, h.get("/result/"+id+"?process-id="+pid), 200, "")
	h.rt.mu.Lock()
	seen := string(h.rt.seen[len(h.rt.seen)-1])
	h.rt.mu.Unlock()
	for _, want := range []string{`"Id":"` + id + `"`, `"Data":"from the gateway"`, `"From":"other-process"`, `"Forwarded-By":"module-owner"`, `"Nonce":1`} {
		if !strings.Contains(seen, want) {
			t.Fatalf("hydrated message %s lacks %s", seen, want)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	if _, err := New(Config{}); err == nil {
		t.Fatal("empty config accepted")
	}
	h := newHarness(t, nil)
	defer h.close()
	reg := h.reg // holds the running CU's metrics
	cfg := h.config()
	cfg.Registerer = reg
	if _, err := New(cfg); err == nil {
		t.Fatal("two CUs on one registry")
	}
}

// waitIdle waits until pid's evaluator goroutine has finished its last pass (it may linger
// to write an idle checkpoint).
func waitIdle(t testing.TB, c *CU, pid string) {
	t.Helper()
	p, err := c.getProc(pid)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		p.mu.Lock()
		running, idle, ch := p.running, p.idle, p.progress
		p.mu.Unlock()
		if !running || idle {
			return
		}
		select {
		case <-ch:
		case <-time.After(time.Until(deadline)):
			t.Fatal("evaluator still running")
		}
	}
}

// An evaluator with nothing to do writes its checkpoint IdleCheckpoint after its last pass,
// by the CU's clock, and stops: not a moment before.
func TestIdleCheckpoint(t *testing.T) {
	const idle = 10 * time.Second
	h := newHarness(t, func(c *Config) { c.CheckpointEvery = 1000; c.IdleCheckpoint = idle })
	defer h.close()
	pid := h.su.addProcess(h.mod, false)
	ids := h.addMessages(pid, 3)
	wantStatus(t, h.get("/result/"+ids[2]+"?process-id="+pid), 200, "")
	p, err := h.cu.getProc(pid)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.clock.WaitFor(ctx, 1); err != nil {
		t.Fatalf("the evaluator is not waiting to checkpoint: %v", err)
	}
	h.clock.Advance(idle - time.Millisecond)
	if got := counterValue(t, h.cu.m.checkpoints); got != 0 || h.clock.Waiting() != 1 {
		t.Fatalf("%v checkpoints before the idle delay passed", got)
	}
	h.clock.Advance(time.Millisecond)
	// The evaluator stops once it has written the idle checkpoint.
	for {
		p.mu.Lock()
		running, ch := p.running, p.progress
		p.mu.Unlock()
		if !running {
			break
		}
		select {
		case <-ch:
		case <-ctx.Done():
			t.Fatal("the evaluator did not stop")
		}
	}
	if got := counterValue(t, h.cu.m.checkpoints); got != 1 {
		t.Fatalf("%v checkpoints, want 1", got)
	}
	head, err := h.db.CUCheckpointHead(pid)
	if err != nil || !strings.Contains(string(head), `"nonce":3`) {
		t.Fatalf("idle checkpoint head %s, %v", head, err)
	}
}

// flakySigner fails its failAt-th signature.
type flakySigner struct {
	dataitem.Signer
	calls  atomic.Int64
	failAt int64
}

func (s *flakySigner) Sign(h []byte) ([]byte, error) {
	if s.calls.Add(1) == s.failAt {
		return nil, errors.New("signer unavailable")
	}
	return s.Signer.Sign(h)
}

func TestSigningFailureReplays(t *testing.T) {
	signer := &flakySigner{Signer: testSigner(), failAt: 3}
	h := newHarness(t, func(c *Config) { c.Signer = signer; c.CommitEvery = 1 })
	defer h.close()
	pid := h.su.addProcess(h.mod, false)
	ids := h.addMessages(pid, 4)
	wantStatus(t, h.get("/result/"+ids[3]+"?process-id="+pid), 500, "signer unavailable")
	r := h.get("/result/" + ids[3] + "?process-id=" + pid)
	wantStatus(t, r, 200, "")
	// The state that ran past the unsigned result was dropped and replayed from the start.
	if !strings.Contains(string(r.body), "count=5 ") {
		t.Fatalf("after the replay: %s", r.body)
	}
	r2 := h.get("/result/" + ids[1] + "?process-id=" + pid)
	if !strings.Contains(string(r2.body), "count=3 ") {
		t.Fatalf("the slot whose signing failed: %s", r2.body)
	}
}

func TestForwardedDuplicatesSkipped(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.CheckpointEvery = 1000; c.IdleCheckpoint = -1 })
	defer h.close()
	pid := h.su.addProcess(h.mod, false)
	fwd := []Tag{{Name: "Action", Value: "Count"}, {Name: "From-Process", Value: "sender"}}
	m1 := h.su.addMessage(pid, 1000, "same", fwd...)
	m2 := h.su.addMessage(pid, 1000, "other", fwd...)
	m3 := h.su.addMessage(pid, 1000, "same", fwd...) // pushed twice by an MU
	m4 := h.su.addMessage(pid, 1000, "same", Tag{Name: "Action", Value: "Count"})
	check := func() {
		t.Helper()
		for id, want := range map[string]string{m1: "count=2 ", m2: "count=3 ", m4: "count=4 "} {
			r := h.get("/result/" + id + "?process-id=" + pid)
			if !strings.Contains(string(r.body), want) {
				t.Fatalf("result %s, want %s", r.body, want)
			}
		}
		wantStatus(t, h.get("/result/"+m3+"?process-id="+pid), 404, "no result")
	}
	check()
	if got := counterValue(t, h.cu.m.duplicates); got != 1 {
		t.Fatalf("%v duplicates skipped, want 1", got)
	}
	// A replay from the start (the checkpoint is unusable) must evaluate the first copy again.
	h.stop()
	b := h.db.NewBatch()
	if err := b.PutCUCheckpointHead(pid, []byte("damaged")); err != nil {
		t.Fatal(err)
	}
	if err := h.db.Commit(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	h.start()
	m5 := h.su.addMessage(pid, 1000, "", Tag{Name: "Action", Value: "Count"})
	if r := h.get("/result/" + m5 + "?process-id=" + pid); !strings.Contains(string(r.body), "count=5 ") {
		t.Fatalf("after the replay: %s", r.body)
	}
	check()
	// /results skips the hole and keeps its order.
	var conn connection
	h.get("/results/"+pid+"?from="+strconv.FormatInt(1_700_000_002_500, 10)).json(t, &conn)
	if got := outputs(conn); len(got) != 2 || !strings.Contains(got[0], "count=4 ") {
		t.Fatalf("results after a hole: %v", got)
	}
}
