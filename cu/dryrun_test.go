package cu

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// doWithin is do with a client deadline: d bounds how long the CU may take to answer at all
// (a liveness bound, not a speed target).
func (h *harness) doWithin(d time.Duration, method, path string, body []byte) response {
	h.t.Helper()
	req, err := http.NewRequest(method, h.srv.URL+path, bytes.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	c := &http.Client{Timeout: d}
	defer c.CloseIdleConnections()
	resp, err := c.Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: no answer within %v: %v", method, path, d, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

func dryRunBody(pid, action string) []byte {
	return []byte(`{"Id":"1234","Owner":"1234","Target":"` + pid + `","Data":"1234","Tags":[{"name":"Action","value":"` + action + `"}],"Anchor":"0"}`)
}

// waitHandles waits until the runtime has started n Handle calls.
func (h *harness) waitHandles(n int64) {
	h.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for h.rt.handles.Load() < n {
		if time.Now().After(deadline) {
			h.t.Fatalf("the runtime started %d handles, waiting for %d", h.rt.handles.Load(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestDryRunDoesNotWaitForABusyProcess: a process stuck in a long message still answers
// dry-runs and /state, from its last committed state.
func TestDryRunDoesNotWaitForABusyProcess(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.DryRunWait = 200 * time.Millisecond })
	defer h.close()
	pid := h.su.addProcess(h.mod, false)
	ids := h.addMessages(pid, 2)
	wantStatus(t, h.get("/result/"+ids[1]+"?process-id="+pid), 200, "")
	before := h.get("/state/" + pid)
	wantStatus(t, before, 200, "")

	h.su.addMessage(pid, 1000, "x", Tag{Name: "Action", Value: "Spin"})
	started := h.rt.handles.Load()
	if err := h.cu.Wake(pid); err != nil {
		t.Fatal(err)
	}
	h.waitHandles(started + 1) // the evaluator is inside the long message now

	r := h.doWithin(10*time.Second, "POST", "/dry-run?process-id="+pid, dryRunBody(pid, "Count"))
	wantStatus(t, r, 200, "")
	var res map[string]json.RawMessage
	r.json(t, &res)
	if got := string(res["Output"]); got != `"count=4 ro=true cron=false boot=1"` {
		t.Fatalf("dry-run on the committed state: Output %s", got)
	}
	st := h.doWithin(10*time.Second, "GET", "/state/"+pid, nil)
	wantStatus(t, st, 200, "")
	if !bytes.Equal(st.body, before.body) || st.header.Get("Last-Ordinate") != "2" {
		t.Fatalf("/state of the busy process: ordinate %s", st.header.Get("Last-Ordinate"))
	}
	wantStatus(t, h.doWithin(10*time.Second, "GET", "/result/"+ids[0]+"?process-id="+pid, nil), 200, "")
}

func TestDryRunAdmission(t *testing.T) {
	t.Run("concurrency and queue", func(t *testing.T) {
		h := newHarness(t, func(c *Config) {
			c.DryRunConcurrency, c.DryRunQueue, c.DryRunTimeout, c.DryRunRate = 1, 1, time.Second, -1
		})
		defer h.close()
		a, b, c := h.su.addProcess(h.mod, false), h.su.addProcess(h.mod, false), h.su.addProcess(h.mod, false)
		for _, pid := range []string{a, b, c} {
			wantStatus(t, h.get("/state/"+pid), 200, "")
		}
		started := h.rt.handles.Load()
		spin := make(chan response, 1)
		go func() { spin <- h.doWithin(30*time.Second, "POST", "/dry-run?process-id="+a, dryRunBody(a, "Spin")) }()
		h.waitHandles(started + 1)
		queued := make(chan response, 1)
		go func() { queued <- h.doWithin(30*time.Second, "POST", "/dry-run?process-id="+b, dryRunBody(b, "Count")) }()
		time.Sleep(100 * time.Millisecond) // b is waiting in the queue of one
		r := h.do("POST", "/dry-run?process-id="+c, dryRunBody(c, "Count"))
		wantStatus(t, r, 503, "dry-runs")
		if r.header.Get("Retry-After") == "" {
			t.Fatal("503 without Retry-After")
		}
		wantStatus(t, <-spin, 413, "wall-clock")
		wantStatus(t, <-queued, 200, "")
		wantStatus(t, h.do("POST", "/dry-run?process-id="+c, dryRunBody(c, "Count")), 200, "")
		if v := testutil.ToFloat64(h.cu.m.dryRunRefused.WithLabelValues("busy")); v != 1 {
			t.Fatalf("refused{busy} = %v", v)
		}
	})
	t.Run("per process", func(t *testing.T) {
		h := newHarness(t, func(c *Config) {
			c.DryRunConcurrency, c.DryRunPerProcess, c.DryRunTimeout, c.DryRunRate = 4, 1, time.Second, -1
		})
		defer h.close()
		a, b := h.su.addProcess(h.mod, false), h.su.addProcess(h.mod, false)
		started := h.rt.handles.Load()
		spin := make(chan response, 1)
		go func() { spin <- h.doWithin(30*time.Second, "POST", "/dry-run?process-id="+a, dryRunBody(a, "Spin")) }()
		h.waitHandles(started + 2) // a's boot, then the spinning dry-run
		wantStatus(t, h.do("POST", "/dry-run?process-id="+a, dryRunBody(a, "Count")), 503, a)
		wantStatus(t, h.do("POST", "/dry-run?process-id="+b, dryRunBody(b, "Count")), 200, "")
		wantStatus(t, <-spin, 413, "wall-clock")
	})
	t.Run("rate per address", func(t *testing.T) {
		h := newHarness(t, func(c *Config) { c.DryRunRate, c.DryRunBurst = 0.5, 2 })
		defer h.close()
		a := h.su.addProcess(h.mod, false)
		for range 2 {
			wantStatus(t, h.do("POST", "/dry-run?process-id="+a, dryRunBody(a, "Count")), 200, "")
		}
		r := h.do("POST", "/dry-run?process-id="+a, dryRunBody(a, "Count"))
		wantStatus(t, r, 429, "Rate limit exceeded")
		if ra := r.header.Get("Retry-After"); ra != "2" {
			t.Fatalf("Retry-After %q, want 2", ra)
		}
	})
}

// TestDryRunMemoryBudget: the memory of a dry-run's instance counts against the CU's
// budget; idle processes are unloaded to make room, and a dry-run that cannot fit is refused.
func TestDryRunMemoryBudget(t *testing.T) {
	h := newHarness(t, func(c *Config) {
		// The fake memory is 64 bytes: a live process counts 128 (memory and instance), a
		// dry-run 64. One dry-run fits once the idle process is unloaded; two never do.
		c.InstanceBudgetBytes, c.DryRunConcurrency, c.DryRunTimeout, c.DryRunRate = 100, 4, time.Second, -1
	})
	defer h.close()
	a := h.su.addProcess(h.mod, false)
	wantStatus(t, h.get("/state/"+a), 200, "")
	started := h.rt.handles.Load()
	spin := make(chan response, 1)
	go func() { spin <- h.doWithin(30*time.Second, "POST", "/dry-run?process-id="+a, dryRunBody(a, "Spin")) }()
	h.waitHandles(started + 1)
	if v := testutil.ToFloat64(h.cu.m.evictions); v != 1 {
		t.Fatalf("the idle process was not unloaded for the dry-run: %v evictions", v)
	}
	wantStatus(t, h.do("POST", "/dry-run?process-id="+a, dryRunBody(a, "Count")), 503, "memory")
	wantStatus(t, <-spin, 413, "wall-clock")
	wantStatus(t, h.do("POST", "/dry-run?process-id="+a, dryRunBody(a, "Count")), 200, "")
	if v := testutil.ToFloat64(h.cu.m.dryRunBytes); v != 0 {
		t.Fatalf("dry-run bytes still reserved: %v", v)
	}
}

// TestEvalTimeoutPausesProcess: a message that runs past the CU's wall-clock cap is not
// recorded; the process pauses with a clear status and a metric, retries after a back-off,
// and its earlier results stay served.
func TestEvalTimeoutPausesProcess(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.EvalTimeout = 300 * time.Millisecond })
	defer h.close()
	pid := h.su.addProcess(h.mod, false)
	first := h.addMessages(pid, 1)[0]
	spin := h.su.addMessage(pid, 1000, "x", Tag{Name: "Action", Value: "Spin"})
	after := h.addMessages(pid, 1)[0]

	r := h.doWithin(30*time.Second, "GET", "/result/"+spin+"?process-id="+pid, nil)
	wantStatus(t, r, 503, "paused")
	if !strings.Contains(string(r.body), spin) || r.header.Get("Retry-After") != "60" {
		t.Fatalf("pause answer: %s, Retry-After %q", r.body, r.header.Get("Retry-After"))
	}
	wantStatus(t, h.get("/result/"+first+"?process-id="+pid), 200, "")
	handles := h.rt.handles.Load()
	wantStatus(t, h.get("/result/"+after+"?process-id="+pid), 503, "paused")
	if h.rt.handles.Load() != handles {
		t.Fatal("a paused process was evaluated again before its retry time")
	}
	var conn connection
	h.get("/results/"+pid).json(t, &conn)
	if len(conn.Edges) != 2 {
		t.Fatalf("%d results stored, want the process and the first message only", len(conn.Edges))
	}
	if v := testutil.ToFloat64(h.cu.m.paused); v != 1 {
		t.Fatalf("paused processes = %v", v)
	}
	if v := testutil.ToFloat64(h.cu.m.evalTimeouts); v != 1 {
		t.Fatalf("evaluation timeouts = %v", v)
	}
	// The dry-run still answers, on the state before the long message.
	wantStatus(t, h.doWithin(30*time.Second, "POST", "/dry-run?process-id="+pid, dryRunBody(pid, "Count")), 200, "")

	// After the back-off the message is tried again (and pauses again, for twice as long).
	h.clock.Advance(61 * time.Second)
	r = h.doWithin(30*time.Second, "GET", "/result/"+spin+"?process-id="+pid, nil)
	wantStatus(t, r, 503, "attempt 2")
	if r.header.Get("Retry-After") != "120" {
		t.Fatalf("second pause: Retry-After %q", r.header.Get("Retry-After"))
	}
	if v := testutil.ToFloat64(h.cu.m.evalTimeouts); v != 2 {
		t.Fatalf("evaluation timeouts = %v", v)
	}
}

// TestStuckProcessDoesNotDelayOthers: with no wall-clock cap, one process spins forever;
// another process's results keep coming.
func TestStuckProcessDoesNotDelayOthers(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.EvalTimeout = -1 })
	defer h.close()
	stuck := h.su.addProcess(h.mod, false)
	h.su.addMessage(stuck, 1000, "x", Tag{Name: "Action", Value: "Spin"})
	started := h.rt.handles.Load()
	if err := h.cu.Wake(stuck); err != nil {
		t.Fatal(err)
	}
	h.waitHandles(started + 2) // its boot, then the spin
	other := h.su.addProcess(h.mod, false)
	for i := range 5 {
		id := h.addMessages(other, 1)[0]
		r := h.doWithin(10*time.Second, "GET", "/result/"+id+"?process-id="+other, nil)
		wantStatus(t, r, 200, "")
		var res map[string]json.RawMessage
		r.json(t, &res)
		if want := `"count=` + itoa(i+2) + ` ro=false cron=false boot=0"`; string(res["Output"]) != want {
			t.Fatalf("result %d of the other process: %s", i, res["Output"])
		}
	}
}
