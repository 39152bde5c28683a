package explorer

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/aonode/aonode/dataitem"
	"github.com/aonode/aonode/su"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// Badger's and the HTTP client's background goroutines outlive a test's store and
		// server by a moment; chromedp's allocator closes its own.
		goleak.IgnoreTopFunction("github.com/dgraph-io/ristretto/v2.(*defaultPolicy[...]).processItems"),
		goleak.IgnoreTopFunction("github.com/dgraph-io/ristretto/v2.(*Cache[...]).processItems"),
		goleak.IgnoreTopFunction("github.com/golang/glog.(*fileSink).flushDaemon"),
		goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
	)
}

func TestSlotsPagesNewestFirst(t *testing.T) {
	f := newFixture(t, nil)
	pid := f.process("Name", "counter")
	var ids []string
	for i := 1; i < 120; i++ {
		m, s := f.message(pid, fmt.Sprint(i), "Action", "Count")
		ids = append(ids, m.ID())
		if i%3 == 0 {
			f.result(s, map[string]any{"Output": map[string]any{"data": fmt.Sprintf("count %d", i)}, "Messages": []any{}, "Spawns": []any{}, "Assignments": []any{}, "GasUsed": 10})
		}
	}
	var page slotsReply
	f.mustGet("/api/process/"+pid+"/slots", &page)
	if page.LastNonce != 119 || len(page.Slots) != DefaultPageLimit || page.Slots[0].Nonce != 119 || page.Slots[49].Nonce != 70 {
		t.Fatalf("first page: last %d, %d rows from %d", page.LastNonce, len(page.Slots), page.Slots[0].Nonce)
	}
	if page.Newer != nil || page.Older == nil || *page.Older != 70 {
		t.Fatalf("first page links: newer %v older %v", page.Newer, page.Older)
	}
	for _, r := range page.Slots {
		if !r.ChainOK || r.Signer != f.addr || r.Action != "Count" || r.From != f.addr || r.MessageID != ids[r.Nonce-1] {
			t.Fatalf("row %d: %+v", r.Nonce, r)
		}
		if want := r.Nonce%3 == 0; r.Result.Evaluated != want || (want && r.Result.Output != fmt.Sprintf("count %d", r.Nonce)) {
			t.Fatalf("row %d result: %+v", r.Nonce, r.Result)
		}
	}
	f.mustGet("/api/process/"+pid+"/slots?before=70&limit=30", &page)
	if len(page.Slots) != 30 || page.Slots[0].Nonce != 69 || *page.Older != 40 || *page.Newer != 100 {
		t.Fatalf("second page: %d rows from %d, older %v newer %v", len(page.Slots), page.Slots[0].Nonce, page.Older, page.Newer)
	}
	f.mustGet("/api/process/"+pid+"/slots?at=5", &page)
	if len(page.Slots) != 6 || page.Slots[0].Nonce != 5 || page.Slots[5].Nonce != 0 || page.Older != nil || !page.Slots[5].ChainOK {
		t.Fatalf("page at 5: %+v", page)
	}
	if page.Slots[5].MessageID != pid || page.Slots[5].Type != "Process" {
		t.Fatalf("nonce 0 is %+v", page.Slots[5])
	}
	// Past the end is the newest page.
	f.mustGet("/api/process/"+pid+"/slots?at=100000", &page)
	if page.Slots[0].Nonce != 119 {
		t.Fatalf("at past the end starts at %d", page.Slots[0].Nonce)
	}
}

// A slot whose hash chain does not follow from the one before it is flagged, with the reason.
func TestSlotsFlagABrokenChain(t *testing.T) {
	f := newFixture(t, nil)
	pid := f.process()
	f.message(pid, "a")
	// The next assignment is built on a head with a wrong chain value.
	f.heads[pid].HashChain = dataitem.EncodeID(make([]byte, 32))
	f.message(pid, "b")
	f.message(pid, "c")
	var page slotsReply
	f.mustGet("/api/process/"+pid+"/slots", &page)
	ok := map[uint64]bool{}
	for _, r := range page.Slots {
		ok[r.Nonce] = r.ChainOK
		if !r.ChainOK && !strings.Contains(r.ChainError, "Hash-Chain") {
			t.Errorf("nonce %d: reason %q", r.Nonce, r.ChainError)
		}
	}
	if !ok[0] || !ok[1] || ok[2] || !ok[3] {
		t.Fatalf("chain flags %v, want only nonce 2 broken", ok)
	}
	var m messageReply
	f.mustGet("/api/message/"+page.Slots[1].MessageID+"?process="+pid, &m)
	if m.Slot == nil || m.Slot.ChainOK || m.Slot.Nonce != 2 {
		t.Fatalf("message page slot %+v", m.Slot)
	}
}

func TestProcessListPagesAndFilters(t *testing.T) {
	f := newFixture(t, nil)
	a := f.process("Name", "alpha")
	b := f.process("Name", "beta")
	c := f.process("Name", "gamma", "From-Process", a)
	f.message(b, "x")
	var page processesReply
	f.mustGet("/api/processes?limit=2", &page)
	if len(page.Processes) != 2 || page.Processes[0].ID != c || page.Processes[1].ID != b || page.Next == "" {
		t.Fatalf("first page %+v", page)
	}
	if p := page.Processes[1]; p.Slots != 2 || *p.LastNonce != 1 || p.Name != "beta" || p.Module != moduleID || p.Owner != f.addr || !slices.Equal(p.Schedulers, []string{f.addr}) || p.Evaluated != nil {
		t.Fatalf("beta %+v", p)
	}
	f.mustGet("/api/processes?limit=2&after="+page.Next, &page)
	if len(page.Processes) != 1 || page.Processes[0].ID != a || page.Next != "" {
		t.Fatalf("second page %+v", page)
	}
	for q, want := range map[string][]string{
		"name=beta":              {b},
		"from-process=" + a:      {c},
		"owner=" + f.addr:        {c, b, a},
		"scheduler=" + f.addr:    {c, b, a},
		"module=" + moduleID:     {c, b, a},
		"name=nobody":            {},
		"owner=" + moduleID:      {},
		"name=alpha&module=" + a: {},
	} {
		f.mustGet("/api/processes?"+q, &page)
		var got []string
		for _, p := range page.Processes {
			got = append(got, p.ID)
		}
		if !slices.Equal(got, want) && !(len(got) == 0 && len(want) == 0) {
			t.Errorf("%s: %v, want %v", q, got, want)
		}
	}
	var p processReply
	f.mustGet("/api/process/"+c, &p)
	if p.FromProcess != a || p.Item == nil || p.Item.Verified == nil || !*p.Item.Verified || len(p.Schedulers) != 1 || !p.Schedulers[0].Self {
		t.Fatalf("process c: %+v", p)
	}
}

func TestSearchFindsEveryKindOfID(t *testing.T) {
	peer := Peer{PeerID: "12D3KooWTestPeer", Address: dataitem.EncodeID(make([]byte, 32)), Roles: []string{"cu"}}
	f := newFixture(t, fakeNetwork{self: "12D3KooWTestPeer", nodes: []Peer{peer}})
	pid := f.process("Name", "p")
	m, s := f.message(pid, "hello", "Action", "Hello")
	mod := f.sign(dataitem.Fields{Data: []byte("wasm"), Tags: tagList("Data-Protocol", "ao", "Type", "Module", "Module-Format", "wasm32-unknown-emscripten2")})
	b := f.db.NewBatch()
	b.PutParsedItem(mod)
	if err := f.db.Commit(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	child := f.process("Module", mod.ID(), "From-Process", pid)

	search := func(q string) []Match {
		var r searchReply
		f.mustGet("/api/search?q="+q, &r)
		return r.Matches
	}
	kinds := func(ms []Match) []string {
		var out []string
		for _, m := range ms {
			out = append(out, m.Kind)
		}
		return out
	}
	if ms := search(pid); !slices.Contains(kinds(ms), "process") || !slices.Contains(kinds(ms), "spawner") {
		t.Errorf("process id: %+v", ms)
	}
	if ms := search(m.ID()); len(ms) != 1 || ms[0].Kind != "message" || ms[0].Process != pid || *ms[0].Nonce != 1 || ms[0].Label != "Hello" {
		t.Errorf("message id: %+v", ms)
	}
	if ms := search(s.AssignmentID); len(ms) != 1 || ms[0].Kind != "assignment" || ms[0].Process != pid || *ms[0].Nonce != 1 {
		t.Errorf("assignment id: %+v", ms)
	}
	if ms := search(mod.ID()); len(ms) != 1 || ms[0].Kind != "module" || ms[0].Count != 1 {
		t.Errorf("module id: %+v", ms)
	}
	if ms := search(f.addr); !slices.Contains(kinds(ms), "wallet") || !slices.Contains(kinds(ms), "scheduler") {
		t.Errorf("wallet: %+v", ms)
	}
	if ms := search("12D3KooWTestPeer"); len(ms) != 1 || ms[0].Kind != "node" {
		t.Errorf("peer id: %+v", ms)
	}
	if ms := search(dataitem.EncodeID([]byte("nothing here at all, 32 bytes!!"))); len(ms) != 0 {
		t.Errorf("unknown id: %+v", ms)
	}
	var msg messageReply
	f.mustGet("/api/message/"+s.AssignmentID, &msg)
	if msg.ID != m.ID() || msg.Process != pid || msg.Slot == nil || msg.Slot.Nonce != 1 {
		t.Errorf("message page by assignment id: %+v", msg)
	}
	var p processReply
	f.mustGet("/api/process/"+child, &p)
	if p.Module != mod.ID() {
		t.Errorf("child's module %s", p.Module)
	}
}

// The message page finds the items a result became: the pushed message in its target's
// schedule and the spawned process in the index.
func TestMessageFollowsItsOutbox(t *testing.T) {
	f := newFixture(t, nil)
	p := f.process("Name", "p")
	q := f.process("Name", "q")
	m, s := f.message(p, "go", "Action", "Go")
	// What the MU makes of the outbox: a message to q and a spawned process, both carrying
	// From-Process p and Pushed-For m.
	f.message(q, "noise", "Action", "Other")
	pushed, ps := f.message(q, "ping", "Action", "Ping", "From-Process", p, "Pushed-For", m.ID())
	kid := f.process("Name", "kid", "From-Process", p, "Pushed-For", m.ID(), "App", "x")
	f.result(s, map[string]any{
		"Output":      "went",
		"Messages":    []any{map[string]any{"Target": q, "Tags": []map[string]string{{"name": "Action", "value": "Ping"}}, "Anchor": "00000000000000000000000000000001"}},
		"Spawns":      []any{map[string]any{"Tags": []map[string]string{{"name": "Name", "value": "kid"}, {"name": "App", "value": "x"}}}},
		"Assignments": []any{map[string]any{"Processes": []string{q}, "Message": m.ID()}},
		"GasUsed":     5,
	})
	var r messageReply
	f.mustGet("/api/message/"+m.ID(), &r)
	if r.Process != p || r.Item == nil || r.Item.DataPreview != "go" || !r.Item.DataText || r.Slot == nil || !r.Slot.ChainOK || r.Result == nil {
		t.Fatalf("message page %+v", r)
	}
	if r.Result.Summary.Output != "went" || r.Result.Summary.Messages != 1 || r.Result.Summary.Spawns != 1 || r.Result.Summary.Assignments != 1 {
		t.Fatalf("summary %+v", r.Result.Summary)
	}
	if len(r.Outbox) != 3 {
		t.Fatalf("outbox %+v", r.Outbox)
	}
	if o := r.Outbox[0]; o.Kind != "message" || o.Target != q || o.ID != pushed.ID() || *o.Nonce != ps.Nonce || o.Action != "Ping" {
		t.Errorf("pushed message %+v, want %s at %d", o, pushed.ID(), ps.Nonce)
	}
	if o := r.Outbox[1]; o.Kind != "spawn" || o.ID != kid {
		t.Errorf("spawn %+v, want %s", o, kid)
	}
	if o := r.Outbox[2]; o.Kind != "assignment" || o.ID != m.ID() || !slices.Equal(o.Processes, []string{q}) {
		t.Errorf("assignment %+v", o)
	}

	var g graphReply
	f.mustGet("/api/process/"+p+"/graph", &g)
	rel := map[string]string{}
	for _, n := range g.Nodes {
		rel[n.ID] = n.Relation
	}
	if rel[p] != "self" || rel[kid] != "child" || rel[q] != "peer" {
		t.Fatalf("graph nodes %+v", g.Nodes)
	}
	edges := map[string]int{}
	for _, e := range g.Edges {
		edges[e.From[:4]+">"+e.To[:4]+":"+e.Kind] = e.Count
	}
	want := map[string]int{p[:4] + ">" + kid[:4] + ":spawn": 1, p[:4] + ">" + q[:4] + ":message": 1, p[:4] + ">" + q[:4] + ":assignment": 1}
	for k, n := range want {
		if edges[k] != n {
			t.Errorf("edge %s: %d, want %d (all %v)", k, edges[k], n, edges)
		}
	}
	var gq graphReply
	f.mustGet("/api/process/"+q+"/graph", &gq)
	if len(gq.Edges) != 1 || gq.Edges[0].From != p || gq.Edges[0].Kind != "message" {
		t.Errorf("q's graph: %+v", gq.Edges)
	}
}

// Every answer carries the headers that keep untrusted content inert.
func TestSecurityHeaders(t *testing.T) {
	f := newFixture(t, nil)
	pid := f.process()
	for _, path := range []string{"/", "/app.js", "/app.css", "/logo.svg", "/api/node", "/api/processes", "/api/process/" + pid, "/api/process/nope", "/nothing"} {
		resp, err := http.Get(f.srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		h := resp.Header
		if h.Get("Content-Security-Policy") != csp || h.Get("X-Content-Type-Options") != "nosniff" || h.Get("X-Frame-Options") != "DENY" {
			t.Errorf("%s: headers %v", path, h)
		}
	}
	for _, directive := range []string{"script-src 'self'", "connect-src 'self'", "default-src 'none'", "style-src 'self'"} {
		if !strings.Contains(csp, directive) {
			t.Errorf("CSP lacks %s", directive)
		}
	}
	if strings.Contains(csp, "unsafe") {
		t.Errorf("CSP allows something unsafe: %s", csp)
	}
}

// The page's own code never turns data into markup: no HTML parsing sinks, no eval, no
// inline script or style in the HTML. (The browser test checks the same end to end.)
func TestAssetsHaveNoHTMLSinks(t *testing.T) {
	sinks := regexp.MustCompile(`innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function|setAttribute\(\s*['"]style|createContextualFragment|DOMParser`)
	err := fs.WalkDir(assetFS, "assets", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(assetFS, p)
		if err != nil {
			return err
		}
		text := string(b)
		switch {
		case strings.HasSuffix(p, ".js"):
			if loc := sinks.FindStringIndex(text); loc != nil {
				t.Errorf("%s uses %q", p, text[loc[0]:loc[1]])
			}
		case strings.HasSuffix(p, ".html"):
			if regexp.MustCompile(`<script(\s[^>]*)?>[^<\s]`).MatchString(text) || strings.Contains(text, "<style") ||
				regexp.MustCompile(`\s(on[a-z]+|style)=`).MatchString(text) {
				t.Errorf("%s has inline script, style or handlers", p)
			}
			if regexp.MustCompile(`(src|href)="(https?:)?//`).MatchString(text) {
				t.Errorf("%s loads something from another origin", p)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestBadRequests(t *testing.T) {
	f := newFixture(t, nil)
	pid := f.process()
	for path, want := range map[string]int{
		"/api/process/not-an-id":                       400,
		"/api/process/" + moduleID:                     404,
		"/api/process/" + pid + "/slots?limit=0":       400,
		"/api/process/" + pid + "/slots?before=x":      400,
		"/api/process/" + moduleID + "/slots":          404,
		"/api/processes?after=garbage":                 400,
		"/api/processes?after=1.short":                 400,
		"/api/processes?limit=-3":                      400,
		"/api/message/" + moduleID:                     404,
		"/api/message/" + pid + "?process=bad":         400,
		"/api/search":                                  400,
		"/api/search?q=" + strings.Repeat("a", 200):    400,
		"/api/nothing":                                 404,
		"/api/node?x=" + strings.Repeat("a", 3000):     414,
		"/api/process/" + pid + "/slots?limit=9999999": 200,
	} {
		var body map[string]any
		if code := f.get(path, &body); code != want {
			t.Errorf("%s: %d %v, want %d", path, code, body, want)
		} else if want != 200 && body["error"] == nil {
			t.Errorf("%s: no error text: %v", path, body)
		}
	}
}

func TestNodeInfo(t *testing.T) {
	f := newFixture(t, nil)
	var n nodeReply
	f.mustGet("/api/node", &n)
	if n.Version != "aonode/test" || n.UptimeMs != 3_600_000 || n.Address != f.addr || !slices.Equal(n.Roles, []string{"su", "cu"}) {
		t.Fatalf("node info %+v", n)
	}
}

func FuzzParseCursor(f *testing.F) {
	f.Add("12." + moduleID)
	f.Add("")
	f.Add("18446744073709551615.x")
	f.Fuzz(func(t *testing.T, v string) {
		ref, err := parseCursor(v)
		if err == nil && ref != nil {
			if _, derr := dataitem.DecodeID(ref.ID); derr != nil {
				t.Fatalf("cursor %q gave id %q", v, ref.ID)
			}
		}
	})
}

// The assignments the fixture makes verify as an SU's do: the test would prove nothing if
// the chain check passed on anything.
func TestFixtureSchedulesLikeAnSU(t *testing.T) {
	f := newFixture(t, nil)
	pid := f.process()
	for range 5 {
		f.message(pid, "m")
	}
	if _, err := su.VerifySchedule(f.db, pid); err != nil {
		t.Fatal(err)
	}
}
