package node

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"
)

// claim opens a connection that POSTs path claiming a body of size bytes and sends only the
// first two. The connection stays open until the test ends.
func claim(t *testing.T, addr, path string, size int) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\nxx", path, addr, size)
	return conn
}

// healthWithin asks /health on a fresh connection and fails unless it answers 200 within d.
// d is a liveness bound (the node answers at all while abused), not a speed target.
func healthWithin(t *testing.T, base string, d time.Duration) {
	t.Helper()
	c := &http.Client{Timeout: d}
	defer c.CloseIdleConnections()
	resp, err := c.Get(base + "/health")
	if err != nil {
		t.Fatalf("/health while abused: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("/health while abused: %d", resp.StatusCode)
	}
}

func heapInUse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// TestBodyClaimsDoNotPinMemory is the first abuse of issue 10: connections that claim 10 MiB
// bodies and send two bytes. A length is a claim, not an allocation: the node must hold about
// what arrived, not what was announced, on every route that reads a body.
func TestBodyClaimsDoNotPinMemory(t *testing.T) {
	cfg := testConfig(t)
	n := startNode(t, cfg)
	addr := n.Addr().String()
	healthWithin(t, n.URL(), 5*time.Second)
	before := heapInUse()
	const conns = 32
	paths := []string{"/mu", "/su", "/tx", "/graphql", "/cu/dry-run?process-id=" + strings.Repeat("A", 43)}
	var open []net.Conn
	for i := range conns {
		open = append(open, claim(t, addr, paths[i%len(paths)], 10<<20))
	}
	// Let every handler reach its read of the body.
	time.Sleep(500 * time.Millisecond)
	healthWithin(t, n.URL(), 5*time.Second)
	after := heapInUse()
	grown := int64(after) - int64(before)
	t.Logf("heap in use %d MiB before, %d MiB with %d connections claiming 10 MiB each", before>>20, after>>20, conns)
	if grown > 32<<20 {
		t.Fatalf("the node holds %d MiB more for %d connections that sent 2 bytes each", grown>>20, conns)
	}
	_ = open
}

// answer reads the HTTP answer on c within d.
func answer(t *testing.T, c net.Conn, d time.Duration) *http.Response {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(d))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("no answer within %v: %v", d, err)
	}
	resp.Body.Close()
	return resp
}

// TestUploadsPerAddress: one address may have UploadsPerAddr bodies in flight; the next waits
// briefly, then gets 429 with Retry-After, on every route that takes a body.
func TestUploadsPerAddress(t *testing.T) {
	cfg := testConfig(t)
	cfg.Limits.UploadsPerAddr = 2
	n := startNode(t, cfg)
	addr := n.Addr().String()
	claim(t, addr, "/mu", 1000)
	claim(t, addr, "/su", 1000)
	time.Sleep(200 * time.Millisecond) // both bodies are being read
	for _, path := range []string{"/mu", "/tx", "/cu/dry-run?process-id=" + strings.Repeat("A", 43)} {
		c := claim(t, addr, path, 4)
		fmt.Fprint(c, "zz")
		resp := answer(t, c, 10*time.Second)
		if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
			t.Fatalf("%s: third upload from one address: %d (Retry-After %q), want 429", path, resp.StatusCode, resp.Header.Get("Retry-After"))
		}
	}
	healthWithin(t, n.URL(), 5*time.Second)
}

// TestSlowBodyIsCutOff: a body that stops arriving is cut off after the grace period and its
// budget at the minimum rate, not held for minutes.
func TestSlowBodyIsCutOff(t *testing.T) {
	cfg := testConfig(t)
	cfg.Limits.BodyGrace = 300 * time.Millisecond
	cfg.Limits.BodyMinRate = 64 << 10
	n := startNode(t, cfg)
	for _, path := range []string{"/mu", "/su", "/tx"} {
		c := claim(t, n.Addr().String(), path, 100<<10)
		if resp := answer(t, c, 10*time.Second); resp.StatusCode != http.StatusRequestTimeout {
			t.Fatalf("%s: trickled body answered %d, want 408", path, resp.StatusCode)
		}
	}
	healthWithin(t, n.URL(), 5*time.Second)
}

// TestSlowHeadersAreCutOff: headers that never end are dropped after ReadHeaderTimeout.
func TestSlowHeadersAreCutOff(t *testing.T) {
	cfg := testConfig(t)
	cfg.Limits.ReadHeaderTimeout = 300 * time.Millisecond
	n := startNode(t, cfg)
	c, err := net.Dial("tcp", n.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprint(c, "GET /health HTTP/1.1\r\nHost: x\r\n")
	// Well before the 10 s default, which would not cut it off in time.
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	start := time.Now()
	if _, err := io.ReadAll(c); err != nil {
		t.Fatalf("the connection was not closed within 5s: %v", err)
	}
	t.Logf("closed after %v", time.Since(start))
	healthWithin(t, n.URL(), 5*time.Second)
}

// dryRunRaw posts a dry-run of action to pid and returns the answer without judging it.
func (c *aoClient) dryRunRaw(pid, action string) reply {
	body, _ := json.Marshal(map[string]any{
		"Id": "1234", "Owner": "1234", "Target": pid, "Data": "1234", "Anchor": "0",
		"Tags": tagMaps("Action", action, "Data-Protocol", "ao", "Type", "Message", "Variant", "ao.TN.1"),
	})
	return c.do("POST", "/cu/dry-run?process-id="+pid, "application/json", body)
}

// TestDryRunAbuse is the second abuse of issue 10: many concurrent dry-runs that never end.
// At most DryRunConcurrency evaluate, the rest are refused with 503 and Retry-After, each
// stops at the wall-clock cap, the process's own messages are evaluated meanwhile, and
// /health answers throughout.
func TestDryRunAbuse(t *testing.T) {
	cfg := diskConfig(t)
	cfg.Limits.DryRunConcurrency, cfg.Limits.DryRunQueue, cfg.Limits.DryRunTimeout = 2, -1, 2*time.Second
	n := startNode(t, cfg)
	c := newClient(t, n.URL(), seedSigner(2))
	mod := c.publish(loopModule(t), "wasm32-wasip1-aonode")
	pid := c.spawn(mod, n.SU().Address(), "Name", "p")
	other := c.spawn(mod, n.SU().Address(), "Name", "other")
	c.result(pid, pid)
	c.result(other, other)

	const abusers = 8
	codes := make(chan reply, abusers)
	for i := range abusers {
		target := pid
		if i%2 == 1 {
			target = other
		}
		go func() { codes <- c.dryRunRaw(target, "Spin") }()
	}
	time.Sleep(300 * time.Millisecond)
	healthWithin(t, n.URL(), 5*time.Second)
	// The process's own evaluation goes on beside its spinning dry-runs.
	add := c.send(pid, "", "Action", "Add", "N", "4")
	if res := c.result(pid, add); string(res["Output"]) != `"4"` {
		t.Fatalf("Add during the dry-runs: %s", res["Output"])
	}
	count := map[int]int{}
	for range abusers {
		r := <-codes
		count[r.code]++
		switch r.code {
		case 413:
			if !contains(r.body, "wall-clock") {
				t.Fatalf("413 without the reason: %s", r.body)
			}
		case 503:
			if r.hdr.Get("Retry-After") == "" {
				t.Fatal("503 without Retry-After")
			}
		default:
			t.Fatalf("spinning dry-run answered %d %s", r.code, r.body)
		}
	}
	if count[413] < 1 || count[413] > 2 || count[503] != abusers-count[413] {
		t.Fatalf("answers %v: want at most 2 evaluated (413 at the cap) and the rest refused (503)", count)
	}
	healthWithin(t, n.URL(), 5*time.Second)
	if s := loopStateOf(t, c, pid); s.Sum != 4 {
		t.Fatalf("state after the abuse: %+v", s)
	}
}

// TestRunawayMessagePausesProcess is the fifth abuse of issue 10 on the real runtime: a
// message that never ends (the WASI format has no gas) is stopped at the wall-clock cap, is
// not recorded, and pauses its process with a clear status and metric; another process's
// results keep coming, and with no cap a process spinning forever does not delay them either.
func TestRunawayMessagePausesProcess(t *testing.T) {
	cfg := diskConfig(t)
	cfg.Limits.EvalTimeout = time.Second
	n := startNode(t, cfg)
	c := newClient(t, n.URL(), seedSigner(2))
	mod := c.publish(loopModule(t), "wasm32-wasip1-aonode")
	stuck := c.spawn(mod, n.SU().Address(), "Name", "stuck")
	c.result(stuck, stuck)
	spin := c.send(stuck, "", "Action", "Spin")
	r := c.do("GET", "/cu/result/"+spin+"?process-id="+stuck, "", nil)
	if r.code != 503 || !contains(r.body, "paused") || !contains(r.body, spin) || r.hdr.Get("Retry-After") == "" {
		t.Fatalf("result of the runaway message: %d %s (Retry-After %q)", r.code, r.body, r.hdr.Get("Retry-After"))
	}
	if _, err := n.Store().EvalResultByMessage(stuck, spin); err == nil {
		t.Fatal("the stopped evaluation was recorded")
	}
	if m := c.metric("aonode_cu_paused_processes"); m != "1" {
		t.Fatalf("aonode_cu_paused_processes = %q", m)
	}
	healthWithin(t, n.URL(), 5*time.Second)

	// No cap at all: one process spins forever, another's results keep coming.
	cfg2 := diskConfig(t)
	cfg2.Limits.EvalTimeout = -1
	n2 := startNode(t, cfg2)
	c2 := newClient(t, n2.URL(), seedSigner(2))
	mod2 := c2.publish(loopModule(t), "wasm32-wasip1-aonode")
	forever := c2.spawn(mod2, n2.SU().Address(), "Name", "forever")
	busy := c2.spawn(mod2, n2.SU().Address(), "Name", "busy")
	c2.result(forever, forever)
	c2.send(forever, "", "Action", "Spin")
	if err := n2.CU().Wake(forever); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		id := c2.send(busy, fmt.Sprint("add ", i), "Action", "Add", "N", "1")
		if res := c2.result(busy, id); string(res["Output"]) != fmt.Sprintf(`"%d"`, i+1) {
			t.Fatalf("Add %d beside the spinning process: %s", i, res["Output"])
		}
	}
	healthWithin(t, n2.URL(), 5*time.Second)
}
