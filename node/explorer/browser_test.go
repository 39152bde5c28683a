package explorer_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/aonode/aonode/dataitem"
	"github.com/aonode/aonode/node"
	"github.com/aonode/aonode/node/explorer"
	"github.com/aonode/aonode/node/fixtures"
	"github.com/aonode/aonode/store"
)

// chromium finds a Chromium or Chrome binary: $AONODE_CHROMIUM, else the usual names on
// PATH (Debian's package installs /usr/bin/chromium; scripts/ensure-chromium.sh installs it).
func chromium() string {
	if p := os.Getenv("AONODE_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// shotDir is where the screenshots go: $AONODE_EXPLORER_SHOTS, else a new temporary folder
// that the test names and leaves for a person to look at.
func shotDir(t *testing.T) string {
	if d := os.Getenv("AONODE_EXPLORER_SHOTS"); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	d, err := os.MkdirTemp("", "aonode-explorer-shots-")
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// tab is one headless browser tab, and what went wrong in it: JavaScript dialogs (an
// alert() from injected markup would open one), uncaught exceptions and console errors
// (a Content-Security-Policy violation is reported there).
type tab struct {
	t        *testing.T
	ctx      context.Context
	shots    string
	mu       sync.Mutex
	problems []string
}

func newTab(t *testing.T, bin, shots string) *tab {
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(bin),
		chromedp.NoSandbox, // root in containers and CI
		chromedp.WindowSize(1400, 1000),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("hide-scrollbars", true),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	tb := &tab{t: t, ctx: ctx, shots: shots}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		cancelCtx()
		cancelAlloc()
		wg.Wait()
	})
	// The first call starts the browser; it must not carry a timeout (chromedp.Run).
	if _, err := chromedp.Call(ctx, log.Enable, cdp.Empty{}); err != nil {
		t.Fatalf("starting %s: %v", bin, err)
	}
	err := chromedp.Listen(ctx, func(ev any) {
		switch e := ev.(type) {
		case *runtime.EventExceptionThrown:
			tb.problem("uncaught exception: %s", (&chromedp.ExceptionError{ExceptionDetails: e.ExceptionDetails}).Error())
		case *log.EventEntryAdded:
			if e.Entry.Level == log.EntryLevelError && e.Entry.Source != log.EntrySourceNetwork {
				tb.problem("console %s: %s", e.Entry.Source, e.Entry.Text)
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	// A dialog stops the page until it is answered: note it and dismiss it.
	dialogs := chromedp.Events(ctx, page.JavascriptDialogOpening)
	wg.Go(func() {
		for ev, err := range dialogs {
			if err != nil {
				return
			}
			tb.problem("a JavaScript dialog opened: %q", ev.Message)
			_, _ = chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: false})
		}
	})
	return tb
}

func (tb *tab) problem(format string, args ...any) {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	tb.problems = append(tb.problems, fmt.Sprintf(format, args...))
}

func (tb *tab) run(what string, actions ...chromedp.Action[chromedp.Void]) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 90*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		tb.t.Fatalf("%s: %v", what, err)
	}
}

// open navigates to an explorer route and waits until the page has drawn it.
func (tb *tab) open(base, hash string) {
	tb.t.Helper()
	tb.run("opening "+hash,
		chromedp.Navigate(base+"/explorer/"+hash),
		chromedp.Poll[chromedp.Void](fmt.Sprintf(`document.body.dataset.ready === %q`, hash), chromedp.WithPollingTimeout(60*time.Second)))
}

// eval evaluates a JavaScript expression in the page.
func eval[T any](tb *tab, js string) T {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js))
	if err != nil {
		tb.t.Fatalf("evaluating %s: %v", js, err)
	}
	return v
}

func (tb *tab) shot(name string) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 60*time.Second)
	defer cancel()
	buf, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		tb.t.Fatalf("screenshot %s: %v", name, err)
	}
	p := filepath.Join(tb.shots, name)
	if err := os.WriteFile(p, buf, 0o644); err != nil {
		tb.t.Fatal(err)
	}
	tb.t.Logf("screenshot: %s", p)
}

func (tb *tab) checkClean() {
	tb.t.Helper()
	tb.mu.Lock()
	defer tb.mu.Unlock()
	for _, p := range tb.problems {
		tb.t.Error(p)
	}
}

// TestBrowser drives a real headless Chromium through the explorer. Where no browser is
// installed it prints one SKIP line.
func TestBrowser(t *testing.T) {
	bin := chromium()
	if bin == "" {
		t.Skip("SKIP: no Chromium found (Debian: apt-get install chromium, which scripts/ensure-chromium.sh runs; or set AONODE_CHROMIUM)")
	}
	shots := shotDir(t)
	t.Logf("screenshots go to %s", shots)
	t.Run("aos", func(t *testing.T) { testAOSNode(t, bin, shots) })
	t.Run("network50", func(t *testing.T) { testNetwork50(t, bin, shots) })
	t.Run("multisu", func(t *testing.T) { testMultiSU(t, bin, shots) })
}

// client drives a node as aoconnect does.
type client struct {
	t      *testing.T
	base   string
	signer dataitem.Signer
	http   *http.Client
}

func (c *client) do(method, path string, body []byte) (int, []byte) {
	c.t.Helper()
	req, err := http.NewRequest(method, c.base+path, bytes.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	return resp.StatusCode, b
}

func tags(kv ...string) []dataitem.Tag {
	var out []dataitem.Tag
	for i := 0; i+1 < len(kv); i += 2 {
		out = append(out, dataitem.Tag{Name: kv[i], Value: kv[i+1]})
	}
	return out
}

func (c *client) sign(f dataitem.Fields) *dataitem.Item {
	c.t.Helper()
	it, err := dataitem.Sign(c.signer, f)
	if err != nil {
		c.t.Fatal(err)
	}
	return it
}

func (c *client) post(it *dataitem.Item) string {
	c.t.Helper()
	if code, b := c.do("POST", "/mu", it.Raw()); code != http.StatusAccepted {
		c.t.Fatalf("POST /mu: %d %s", code, b)
	}
	return it.ID()
}

func (c *client) spawn(module, scheduler string, extra ...string) string {
	c.t.Helper()
	tg := append(tags(extra...), tags("Data-Protocol", "ao", "Variant", "ao.TN.1", "Type", "Process",
		"Module", module, "Scheduler", scheduler, "Timestamp", fmt.Sprint(time.Now().UnixMilli()))...)
	return c.post(c.sign(dataitem.Fields{Data: []byte(" "), Tags: tg}))
}

func (c *client) send(pid, data string, extra ...string) string {
	c.t.Helper()
	target, err := dataitem.DecodeID(pid)
	if err != nil {
		c.t.Fatal(err)
	}
	tg := append(tags(extra...), tags("Data-Protocol", "ao", "Variant", "ao.TN.1", "Type", "Message")...)
	return c.post(c.sign(dataitem.Fields{Target: target[:], Data: []byte(data), Tags: tg}))
}

func (c *client) result(pid, id string) map[string]json.RawMessage {
	c.t.Helper()
	code, b := c.do("GET", "/cu/result/"+id+"?process-id="+pid, nil)
	if code != http.StatusOK {
		c.t.Fatalf("result of %s: %d %s", id, code, b)
	}
	var out map[string]json.RawMessage
	if err := json.Unmarshal(b, &out); err != nil {
		c.t.Fatal(err)
	}
	return out
}

func (c *client) getJSON(path string, v any) {
	c.t.Helper()
	code, b := c.do("GET", path, nil)
	if code != http.StatusOK {
		c.t.Fatalf("GET %s: %d %s", path, code, b)
	}
	if err := json.Unmarshal(b, v); err != nil {
		c.t.Fatal(err)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

const handlersLua = `Handlers.add("ping", Handlers.utils.hasMatchingTag("Action", "Ping"), function(msg)
  Send({Target = msg.From, Action = "Pong", Data = "pong"})
end)
return "ready"`

// The hostile message: markup and script in tag names, tag values and data, which the page
// must show as the text it is.
const (
	xssAction = `<img src=x onerror="window.__xss=1;alert(1)">`
	xssName   = `<script>window.__xss=2</script>`
	xssValue  = `"><svg onload="window.__xss=3;alert(3)">`
	xssData   = `<script>window.__xss=4;alert(4)</script><b id="xss-bold">bold</b>`
)

// testAOSNode runs a dev node (every role, one process) with aos processes that talk, spawn
// and receive a hostile message, then looks at every page.
func testAOSNode(t *testing.T, bin, shots string) {
	wasm := fixtures.Read(t, "fixtures", "wasm", "aos.wasm")
	if raceEnabled {
		t.Skip("runs aos, which takes minutes under -race; scripts/test.sh runs it without -race")
	}
	cfg := node.DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.Signer = dataitem.NewEd25519Signer(ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, 32)))
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg.CompileCacheDir = filepath.Join(os.TempDir(), "aonode-explorer-test-wasm-cache")
	n, err := node.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := n.Close(); err != nil {
			t.Error(err)
		}
	})
	base := n.URL()
	c := &client{t: t, base: base, signer: dataitem.NewEd25519Signer(ed25519.NewKeyFromSeed(bytes.Repeat([]byte{8}, 32))), http: &http.Client{Timeout: 2 * time.Minute}}
	t.Cleanup(c.http.CloseIdleConnections)
	sched := n.SU().Address()

	mod := c.sign(dataitem.Fields{Data: wasm, Tags: tags(
		"Data-Protocol", "ao", "Type", "Module", "Module-Format", "wasm32-unknown-emscripten2",
		"Input-Encoding", "JSON-1", "Output-Encoding", "JSON-1", "Variant", "ao.TN.1",
		"Content-Type", "application/wasm", "Memory-Limit", "1-gb", "Compute-Limit", "9000000000000")})
	if code, b := c.do("POST", "/tx", mod.Raw()); code != http.StatusOK {
		t.Fatalf("publishing aos: %d %s", code, b)
	}
	p := c.spawn(mod.ID(), sched, "Name", "explorer-demo", "Authority", sched)
	q := c.spawn(mod.ID(), sched, "Name", "echo", "Authority", sched)
	for _, pid := range []string{p, q} {
		c.result(pid, pid)
		c.result(pid, c.send(pid, handlersLua, "Action", "Eval"))
	}
	ping := c.send(p, `Send({Target = "`+q+`", Action = "Ping"})`, "Action", "Eval")
	c.result(p, ping)
	c.result(p, c.send(p, `Spawn(ao.env.Module.Id, {Data = "", Tags = {Name = "kid", Authority = "`+sched+`"}})`, "Action", "Eval"))
	for i := 1; i <= 3; i++ {
		c.result(p, c.send(p, fmt.Sprintf("return %d * 7", i), "Action", "Eval"))
	}
	xss := c.send(p, xssData, "Action", xssAction, xssName, xssValue)
	c.result(p, xss)
	var kids struct {
		Processes []struct{ ID string } `json:"processes"`
	}
	waitFor(t, "the spawned process", func() bool {
		c.getJSON("/explorer/api/processes?from-process="+p, &kids)
		return len(kids.Processes) == 1
	})
	kid := kids.Processes[0].ID
	waitFor(t, "the crank queue to drain", func() bool { return n.MU().Pending() == 0 })
	var slots struct {
		LastNonce int `json:"last_nonce"`
		Slots     []struct {
			Action string `json:"action"`
		} `json:"slots"`
	}
	waitFor(t, "q's Pong and the Spawned notice in p", func() bool {
		c.getJSON("/explorer/api/process/"+p+"/slots", &slots)
		var pong, spawned bool
		for _, s := range slots.Slots {
			pong = pong || s.Action == "Pong"
			spawned = spawned || s.Action == "Spawned"
		}
		return pong && spawned
	})

	tb := newTab(t, bin, shots)
	tb.open(base, "#/")
	// Rates need a second sample of /metrics, 3 s after the first; a figure drawn wrongly
	// shows by the third.
	tb.run("the live figures", chromedp.Poll[chromedp.Void](`Number(document.querySelector('.figures').dataset.samples) >= 3`, chromedp.WithPollingTimeout(30*time.Second)))
	if n := eval[int](tb, `[...document.querySelectorAll('.fig:not(.absent) .fig-value')].filter((v) => v.textContent === '…' || v.textContent === '—').length`); n != 0 {
		t.Errorf("%d figures show no value after three samples", n)
	}
	if n := eval[int](tb, `document.querySelectorAll('.fig.alarm').length`); n != 0 {
		t.Errorf("%d figures raise the alarm on a node without errors", n)
	}
	tb.shot("overview.png")

	// The process page: its slots, newest first, with results; the graph shows the child.
	tb.open(base, "#/process/"+p)
	tb.run("the spawned process in the graph", chromedp.WaitReady(chromedp.CSS(fmt.Sprintf(`svg.pgraph a[href="#/process/%s"]`, kid))))
	rows := eval[int](tb, `document.querySelectorAll('table.slots tbody tr').length`)
	if rows != slots.LastNonce+1 {
		t.Errorf("the slots table has %d rows, the process %d slots", rows, slots.LastNonce+1)
	}
	text := eval[string](tb, `document.querySelector('table.slots').innerText`)
	for _, want := range []string{"Eval", "Pong", "Spawned", "ready", "21", xssAction} {
		if !strings.Contains(text, want) {
			t.Errorf("the slots table lacks %q", want)
		}
	}
	oks := eval[int](tb, `document.querySelectorAll('table.slots .badge.ok').length`)
	if oks < rows-2 {
		t.Errorf("only %d of %d slots show an ok result", oks, rows)
	}
	tb.shot("process.png")

	tb.open(base, "#/process/"+kid)
	tb.shot("process-spawned.png")
	tb.open(base, "#/processes")
	tb.shot("processes.png")
	tb.open(base, "#/network")
	tb.shot("network-single.png")

	// Search by a message id, as a person types it.
	tb.open(base, "#/")
	tb.run("searching "+ping,
		chromedp.SetValue(chromedp.ID("search-q"), ping),
		chromedp.Click(chromedp.CSS("#search button")),
		chromedp.Poll[chromedp.Void](fmt.Sprintf(`document.body.dataset.ready && document.body.dataset.ready.startsWith("#/message/%s")`, ping), chromedp.WithPollingTimeout(60*time.Second)))
	text = eval[string](tb, `document.querySelector('.bigid').innerText`)
	if !strings.Contains(text, ping) {
		t.Errorf("search for %s landed on %q", ping, text)
	}
	tb.run("the pushed Ping", chromedp.WaitReady(chromedp.CSS(`ul.outbox a[href^="#/message/"]`)))
	tb.shot("message.png")

	// The hostile message shows as text, runs nothing and adds no element.
	tb.open(base, "#/message/"+xss+"?process="+p)
	body := eval[string](tb, `document.body.innerText`)
	for _, want := range []string{xssAction, xssName, xssValue, xssData} {
		if !strings.Contains(body, want) {
			t.Errorf("the message page does not show %q as text", want)
		}
	}
	injected := eval[bool](tb, `window.__xss !== undefined || document.querySelector('#xss-bold, [onerror], [onload], img:not([src="logo.svg"]), body script:not([src])') !== null`)
	if injected {
		t.Error("the hostile message's markup became part of the page")
	}
	tb.shot("message-hostile.png")
	tb.open(base, "#/process/"+p)
	injected = eval[bool](tb, `window.__xss !== undefined || document.querySelector('[onerror], [onload], img:not([src="logo.svg"])') !== null`)
	if injected {
		t.Error("the hostile message's markup became part of the process page")
	}
	tb.open(base, "#/search?q="+sched)
	tb.shot("search.png")
	tb.checkClean()
}

// fakeNetwork is a directory of nodes with given connections.
type fakeNetwork struct {
	self  string
	nodes []explorer.Peer
	links map[string][]string
}

func (n fakeNetwork) Self() string           { return n.self }
func (n fakeNetwork) Nodes() []explorer.Peer { return n.nodes }
func (n fakeNetwork) Connections(_ context.Context, p explorer.Peer) ([]string, error) {
	if p.PeerID == n.nodes[len(n.nodes)-1].PeerID {
		return nil, fmt.Errorf("dial tcp %s: connection refused", p.URL)
	}
	return n.links[p.PeerID], nil
}

// testNetwork50 draws a network of 50 nodes (a ring with chords, mixed roles, processes on
// its SUs) and checks every node is drawn.
func testNetwork50(t *testing.T, bin, shots string) {
	const nodes = 50
	nw := fakeNetwork{self: fmt.Sprintf("12D3KooWnode%02d", 0), links: map[string][]string{}}
	roles := [][]string{{"su", "cu", "mu"}, {"su"}, {"cu"}, {"mu"}, {"su", "cu"}}
	for i := range nodes {
		id := fmt.Sprintf("12D3KooWnode%02d", i)
		p := explorer.Peer{PeerID: id, URL: fmt.Sprintf("http://127.0.0.1:%d", 8800+2*i), Roles: roles[i%len(roles)], Connected: true}
		if p.Roles[0] == "su" {
			p.Scheduler = dataitem.EncodeID(bytes.Repeat([]byte{byte(i)}, 32))
		}
		nw.nodes = append(nw.nodes, p)
		for _, j := range []int{(i + 1) % nodes, (i + 7) % nodes, (i * 3) % nodes} {
			if j != i {
				nw.links[id] = append(nw.links[id], fmt.Sprintf("12D3KooWnode%02d", j))
			}
		}
	}
	opts := store.DefaultOptions("")
	opts.InMemory = true
	db, err := store.Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	signer := dataitem.NewEd25519Signer(ed25519.NewKeyFromSeed(bytes.Repeat([]byte{9}, 32)))
	b := db.NewBatch()
	for i := 0; i < nodes; i += 5 {
		for k := range 2 {
			it, err := dataitem.Sign(signer, dataitem.Fields{Data: []byte(" "), Tags: tags("Data-Protocol", "ao", "Type", "Process",
				"Name", fmt.Sprintf("app-%d-%d", i, k), "Module", dataitem.EncodeID(make([]byte, 32)), "Scheduler", nw.nodes[i].Scheduler)})
			if err != nil {
				t.Fatal(err)
			}
			b.PutParsedItem(it)
		}
	}
	if err := db.Commit(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	ex, err := explorer.New(explorer.Options{
		Store: db, Network: nw, Started: time.Now().Add(-time.Hour),
		Node: func() explorer.NodeInfo {
			return explorer.NodeInfo{Version: "aonode/1", Roles: []string{"su", "cu", "mu"}, PeerID: nw.self, Address: nw.nodes[0].Scheduler, URL: "http://127.0.0.1:8800"}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/explorer/", http.StripPrefix("/explorer", ex))
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "# TYPE aonode_p2p_connected_peers gauge\naonode_p2p_connected_peers 49\n")
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	tb := newTab(t, bin, shots)
	start := time.Now()
	tb.open(srv.URL, "#/network")
	drawn := eval[int](tb, `document.querySelectorAll('svg.graph g.node').length`)
	t.Logf("50-node network page drawn in %v (navigation, the view, layout and SVG)", time.Since(start).Round(time.Millisecond))
	if drawn != nodes {
		t.Errorf("%d nodes drawn, want %d", drawn, nodes)
	}
	unreachable := eval[int](tb, `document.querySelectorAll('svg.graph g.node.unreachable').length`)
	if unreachable != 1 {
		t.Errorf("%d nodes drawn as not answering, want 1", unreachable)
	}
	tb.shot("network-50.png")
	tb.checkClean()
}

// testMultiSU shows a process with three schedulers against the documented shapes of the
// endpoints other branches add: GET /su/consensus/{pid} (its Raft group), GET
// /cu/agreement/{pid}?slot=N|message=ID (the CUs' attestations) and GET /su/evidence.
func testMultiSU(t *testing.T, bin, shots string) {
	addrs := []string{"", dataitem.EncodeID(bytes.Repeat([]byte{2}, 32)), dataitem.EncodeID(bytes.Repeat([]byte{3}, 32))}
	nw := fakeNetwork{self: "12D3KooWsuA", links: map[string][]string{"12D3KooWsuA": {"12D3KooWsuB", "12D3KooWsuC"}, "12D3KooWsuB": {"12D3KooWsuC"}}}
	fx := explorer.NewTestFixture(t, &nw)
	addrs[0] = fx.Address()
	for i, id := range []string{"12D3KooWsuA", "12D3KooWsuB", "12D3KooWsuC"} {
		nw.nodes = append(nw.nodes, explorer.Peer{PeerID: id, URL: fmt.Sprintf("http://127.0.0.1:%d", 8900+2*i), Roles: []string{"su", "cu", "mu"}, Scheduler: addrs[i], Connected: true})
	}
	nw.nodes = append(nw.nodes, explorer.Peer{PeerID: "12D3KooWgone", URL: "http://127.0.0.1:8999", Roles: []string{"cu"}})
	pid := fx.Process("Name", "replicated", "Scheduler", addrs[1], "Scheduler", addrs[2])
	msgs := map[uint64]string{}
	for i := 1; i <= 6; i++ {
		id, s := fx.Message(pid, fmt.Sprint(i), "Action", "Transfer")
		msgs[s.Nonce] = id
		fx.Result(s, map[string]any{"Output": fmt.Sprintf("balance %d", 100-i), "Messages": []any{}, "Spawns": []any{}, "Assignments": []any{}, "GasUsed": 1})
	}
	mux := http.NewServeMux()
	mux.Handle("/explorer/", http.StripPrefix("/explorer", fx.Explorer()))
	writeJSON := func(w http.ResponseWriter, v any) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(v)
	}
	mux.HandleFunc("GET /su/consensus/{pid}", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("pid") != pid {
			http.NotFound(w, r)
			return
		}
		writeJSON(w, map[string]any{"process": pid, "group": "Zm9vYmFyYmF6cXV4cXV1eHF1dXhxdXV4cXV1eHF1dXg", "members": addrs, "leader": addrs[1], "term": 3, "commit_index": 42, "last_nonce": 6})
	})
	mux.HandleFunc("GET /cu/agreement/{pid}", func(w http.ResponseWriter, r *http.Request) {
		var slot uint64
		if v := r.URL.Query().Get("message"); v != "" {
			for n, id := range msgs {
				if id == v {
					slot = n
				}
			}
		} else if _, err := fmt.Sscan(r.URL.Query().Get("slot"), &slot); err != nil {
			http.Error(w, `{"error":"bad slot"}`, http.StatusBadRequest)
			return
		}
		var atts []map[string]string
		for i, a := range addrs {
			mem := strings.Repeat("ab", 32)
			if slot == 3 && i == 2 {
				mem = strings.Repeat("cd", 32)
			}
			atts = append(atts, map[string]string{"cu": a, "result_sha256": strings.Repeat("12", 32), "memory_sha256": mem, "item": "AAAA"})
		}
		writeJSON(w, map[string]any{"process": pid, "slot": slot, "message": msgs[slot], "attestations": atts, "agree": slot != 3})
	})
	mux.HandleFunc("GET /su/evidence", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, []map[string]any{{"process": pid, "nonce": 4, "signer": addrs[2], "assignments": []string{"a1", "a2"}}})
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	tb := newTab(t, bin, shots)
	tb.open(srv.URL, "#/process/"+pid)
	tb.run("the agreement column", chromedp.Poll[chromedp.Void](`document.querySelectorAll('td.agree .badge').length === 7`, chromedp.WithPollingTimeout(30*time.Second)))
	if n := eval[int](tb, `[...document.querySelectorAll('td.agree .badge')].filter((b) => b.textContent.startsWith('disagree')).length`); n != 1 {
		t.Errorf("%d slots shown as disagreeing, want 1", n)
	}
	raft := eval[string](tb, `[...document.querySelectorAll('section.card')].find((c) => c.querySelector('h2') && c.querySelector('h2').textContent === 'Raft group').innerText`)
	for _, want := range []string{"leader", "42", addrs[1][:6]} {
		if !strings.Contains(raft, want) {
			t.Errorf("the Raft group card lacks %q: %q", want, raft)
		}
	}
	tb.shot("process-multisu.png")
	tb.open(srv.URL, "#/message/"+msgs[3]+"?process="+pid)
	tb.run("the agreement card", chromedp.Poll[chromedp.Void](`document.body.innerText.includes('they disagree')`, chromedp.WithPollingTimeout(30*time.Second)))
	tb.shot("message-disagree.png")
	tb.open(srv.URL, "#/network")
	tb.run("the Raft groups and the evidence", chromedp.Poll[chromedp.Void](`document.body.innerText.includes('Raft groups') && document.body.innerText.includes('1 found')`, chromedp.WithPollingTimeout(30*time.Second)))
	if n := eval[int](tb, `document.querySelectorAll('svg.graph .leader-mark').length`); n < 1 {
		t.Errorf("no Raft leader marked in the network graph")
	}
	tb.shot("network-multisu.png")
	tb.checkClean()
}
