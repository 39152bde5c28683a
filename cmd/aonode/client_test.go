package main

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aonode/aonode/dataitem"
	"github.com/aonode/aonode/dataitem/aoapi"
	"github.com/aonode/aonode/node/gateway"
	"github.com/aonode/aonode/store"
	"github.com/aonode/aonode/su/sutest"
)

// fakeNode is a node for the client commands: the real gateway over an in-memory store at
// the root, a real SU under /su, and recording fakes of the MU and CU under theirs.
type fakeNode struct {
	t   *testing.T
	db  *store.DB
	srv *httptest.Server
	su  *sutest.Server // the real SU under /su

	mu          sync.Mutex
	muItems     []*dataitem.Item
	muStatus    int
	resultCalls int
	resultAfter int // /cu/result answers 404 this many times before the result
	cuRequests  []*http.Request
	cuBodies    []string
}

func newFakeNode(t *testing.T) *fakeNode {
	t.Helper()
	db, err := store.Open(store.Options{InMemory: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	gw, err := gateway.New(gateway.Options{Store: db, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	n := &fakeNode{t: t, db: db, muStatus: http.StatusAccepted}
	mux := http.NewServeMux()
	mux.Handle("/", gw)
	n.su = sutest.New(t, sutest.Options{})
	mux.Handle("/su/", http.StripPrefix("/su", n.su.SU.Handler()))
	mux.HandleFunc("POST /mu/{$}", func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		if r.Header.Get("Content-Type") != "application/octet-stream" {
			http.Error(w, "bad content type", 400)
			return
		}
		it, err := dataitem.ParseVerified(raw)
		if err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		n.mu.Lock()
		defer n.mu.Unlock()
		if n.muStatus != http.StatusAccepted {
			http.Error(w, "mu is down", n.muStatus)
			return
		}
		n.muItems = append(n.muItems, it)
		w.WriteHeader(http.StatusAccepted)
		fmt.Fprintf(w, `{"message":"Processing DataItem","id":%q}`, it.ID())
	})
	cu := func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		n.mu.Lock()
		defer n.mu.Unlock()
		n.cuRequests = append(n.cuRequests, r)
		n.cuBodies = append(n.cuBodies, string(body))
		switch {
		case strings.HasPrefix(r.URL.Path, "/cu/result/"):
			n.resultCalls++
			if n.resultCalls <= n.resultAfter {
				w.WriteHeader(http.StatusNotFound)
				fmt.Fprint(w, `{"error":"not yet"}`)
				return
			}
			fmt.Fprint(w, `{"Messages":[],"Spawns":[],"Assignments":[],"Output":"ok","Prompt":"aos> ","GasUsed":0}`)
		case strings.HasPrefix(r.URL.Path, "/cu/results/"):
			fmt.Fprint(w, `{"pageInfo":{"hasNextPage":false},"edges":[]}`)
		case r.URL.Path == "/cu/dry-run":
			fmt.Fprint(w, `{"Messages":[],"Output":"dry"}`)
		default:
			http.NotFound(w, r)
		}
	}
	mux.HandleFunc("/cu/", cu)
	n.srv = httptest.NewServer(mux)
	t.Cleanup(func() {
		n.srv.Close()
		_ = db.Close()
	})
	return n
}

func (n *fakeNode) lastMUItem() *dataitem.Item {
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.muItems) == 0 {
		n.t.Fatal("the MU received nothing")
	}
	return n.muItems[len(n.muItems)-1]
}

func writeKey(t *testing.T) (string, dataitem.Signer) {
	t.Helper()
	s, err := dataitem.GenerateKey(dataitem.ED25519)
	if err != nil {
		t.Fatal(err)
	}
	b, err := dataitem.MarshalKey(s)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "key.json")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p, s
}

func tagList(it *dataitem.Item) string {
	var parts []string
	for _, tg := range it.Tags {
		parts = append(parts, tg.Name+"="+tg.Value)
	}
	return strings.Join(parts, "; ")
}

func decodeOut(t *testing.T, r result) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &m); err != nil {
		t.Fatalf("stdout is not one JSON object: %v\n%s", err, r.stdout)
	}
	return m
}

func publishModule(t *testing.T, n *fakeNode, key string) string {
	t.Helper()
	wasm := filepath.Join(t.TempDir(), "m.wasm")
	if err := os.WriteFile(wasm, []byte("\x00asm\x01\x00\x00\x00"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := run(t, "module", "publish", wasm, "--format", "wasm32-unknown-emscripten2", "--memory-limit", "512-mb",
		"--compute-limit", "9000000000000", "--key", key, "--node", n.srv.URL, "--extension", "WeaveDrive", "--tag", "Name=test")
	r.want(t, 0, "")
	return decodeOut(t, r)["id"].(string)
}

func TestModulePublish(t *testing.T) {
	n := newFakeNode(t)
	key, s := writeKey(t)
	id := publishModule(t, n, key)
	raw, err := n.db.Item(id)
	if err != nil {
		t.Fatalf("module not stored: %v", err)
	}
	it, err := dataitem.ParseVerified(raw)
	if err != nil {
		t.Fatal(err)
	}
	want := "Data-Protocol=ao; Type=Module; Module-Format=wasm32-unknown-emscripten2; Input-Encoding=JSON-1; " +
		"Output-Encoding=JSON-1; Variant=ao.TN.1; Content-Type=application/wasm; Memory-Limit=512-mb; " +
		"Compute-Limit=9000000000000; Extension=WeaveDrive; Name=test"
	if got := tagList(it); got != want {
		t.Fatalf("tags\n got %s\nwant %s", got, want)
	}
	if it.Address() != dataitem.OwnerAddress(s.Owner()) || string(it.Data) != "\x00asm\x01\x00\x00\x00" {
		t.Fatal("wrong owner or data")
	}

	dir := t.TempDir()
	notWasm := filepath.Join(dir, "x.wasm")
	os.WriteFile(notWasm, []byte("hello"), 0o644)
	wasm := filepath.Join(dir, "ok.wasm")
	os.WriteFile(wasm, []byte("\x00asm\x01\x00\x00\x00"), 0o644)
	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"module"}, 2, "subcommand is required"},
		{[]string{"module", "frob"}, 2, "unknown subcommand"},
		{[]string{"module", "publish", "--format", "f", "--key", key}, 2, "exactly one FILE"},
		{[]string{"module", "publish", wasm, "--format", "f", "--memory-limit", "lots", "--key", key}, 2, "--memory-limit"},
		{[]string{"module", "publish", wasm, "--format", "f", "--compute-limit", "-1", "--key", key}, 2, "--compute-limit"},
		{[]string{"module", "publish", wasm, "--format", "f", "--memory-limit", "none", "--compute-limit", "0", "--key", key}, 2, "--compute-limit"},
		{[]string{"module", "publish", wasm, "--format", "f"}, 2, "--key FILE is required"},
		{[]string{"module", "publish", notWasm, "--format", "f", "--key", key, "--node", n.srv.URL}, 1, "not a WebAssembly binary"},
		{[]string{"module", "publish", wasm, "--format", "f", "--key", key, "--node", "ftp://x"}, 2, "--node"},
		{[]string{"module", "publish", wasm, "--format", "f", "--key", key, "--node", n.srv.URL + "/nothing"}, 1, "404"},
	} {
		run(t, tc.args...).want(t, tc.code, tc.msg)
	}
}

// TestModulePublishDefaults: without --format, --memory-limit or --compute-limit the module
// gets the detected format and the dev node's limits (a module without limits would be
// refused by the CU at the first message); "none" leaves a limit out; --quiet prints the id.
func TestModulePublishDefaults(t *testing.T) {
	n := newFakeNode(t)
	key, _ := writeKey(t)
	wasm := filepath.Join(t.TempDir(), "ok.wasm")
	os.WriteFile(wasm, []byte("\x00asm\x01\x00\x00\x00"), 0o644)
	r := run(t, "module", "publish", wasm, "--key", key, "--node", n.srv.URL)
	r.want(t, 0, "")
	out := decodeOut(t, r)
	raw, _ := n.db.Item(out["id"].(string))
	it, _ := dataitem.Parse(raw)
	want := "Data-Protocol=ao; Type=Module; Module-Format=wasm32-unknown-emscripten2; Input-Encoding=JSON-1; " +
		"Output-Encoding=JSON-1; Variant=ao.TN.1; Content-Type=application/wasm; Memory-Limit=1-gb; Compute-Limit=9000000000000"
	if got := tagList(it); got != want || out["memoryLimit"] != "1-gb" {
		t.Fatalf("tags\n got %s\nwant %s\n(output %v)", got, want, out)
	}
	r = run(t, "module", "publish", wasm, "--key", key, "--node", n.srv.URL, "--memory-limit", "none", "--compute-limit", "none", "--tag", "N=2", "--quiet")
	r.want(t, 0, "")
	id := strings.TrimSpace(r.stdout)
	if r.stdout != id+"\n" || checkID("id", id) != nil {
		t.Fatalf("--quiet printed %q", r.stdout)
	}
	raw, _ = n.db.Item(id)
	it, _ = dataitem.Parse(raw)
	if got := tagList(it); strings.Contains(got, "Limit") {
		t.Fatalf("none left a limit: %s", got)
	}
}

func TestSpawn(t *testing.T) {
	n := newFakeNode(t)
	key, s := writeKey(t)
	mod := publishModule(t, n, key)
	before := time.Now().UnixMilli()
	r := run(t, "spawn", "--module", mod, "--key", key, "--node", n.srv.URL, "--tag", "Name=p", "--tag", "Type=ignored", "--tag", "Authority=a")
	r.want(t, 0, "")
	out := decodeOut(t, r)
	it := n.lastMUItem()
	if out["process"] != it.ID() || out["scheduler"] != n.su.Address() || out["module"] != mod {
		t.Fatalf("output %v", out)
	}
	ts, _ := it.Tag("Timestamp")
	ms, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || ms < before || ms > time.Now().UnixMilli() {
		t.Fatalf("Timestamp tag %q", ts)
	}
	want := "Name=p; Authority=a; Content-Type=text/plain; SDK=aoconnect; Data-Protocol=ao; Variant=ao.TN.1; Type=Process; Module=" +
		mod + "; Scheduler=" + n.su.Address() + "; Timestamp=" + ts
	if got := tagList(it); got != want {
		t.Fatalf("tags\n got %s\nwant %s", got, want)
	}
	if string(it.Data) != " " || it.Target != nil || it.Address() != dataitem.OwnerAddress(s.Owner()) {
		t.Fatalf("data %q target %x", it.Data, it.Target)
	}

	// With data and an explicit scheduler: no Content-Type, no SU look-up.
	r = run(t, "spawn", "--module", mod, "--key", key, "--node", n.srv.URL, "--scheduler", "addr", "--data", "boot", "--tag", "Variant=ao.N.1")
	r.want(t, 0, "")
	it = n.lastMUItem()
	ts, _ = it.Tag("Timestamp")
	want = "SDK=aoconnect; Data-Protocol=ao; Variant=ao.N.1; Type=Process; Module=" + mod + "; Scheduler=addr; Timestamp=" + ts
	if got := tagList(it); got != want || string(it.Data) != "boot" {
		t.Fatalf("tags\n got %s\nwant %s", got, want)
	}

	notModule := sign(t, s, "x", "Data-Protocol", "ao", "Type", "Process")
	b := n.db.NewBatch()
	b.PutItem(notModule.ID(), notModule.Raw())
	if err := n.db.Commit(t.Context(), b); err != nil {
		t.Fatal(err)
	}
	missing := sign(t, s, "y").ID()
	run(t, "spawn", "--module", notModule.ID(), "--key", key, "--node", n.srv.URL).want(t, 1, "lacks Type: Module")
	run(t, "spawn", "--module", missing, "--key", key, "--node", n.srv.URL).want(t, 1, "not found")
	run(t, "spawn", "--key", key, "--node", n.srv.URL).want(t, 2, "--module ID is required")
	run(t, "spawn", "--module", "short", "--key", key).want(t, 2, "--module")
	run(t, "spawn", "--module", mod, "--module-file", "x.wasm", "--key", key).want(t, 2, "not both")
	run(t, "spawn", "--module", mod, "--key", key, "--anchor", "short").want(t, 2, "--anchor")
}

// TestSpawnModuleFile publishes and spawns in one command, prints only the process id with
// --quiet, and gives each process a fresh anchor.
func TestSpawnModuleFile(t *testing.T) {
	n := newFakeNode(t)
	key, _ := writeKey(t)
	wasm := filepath.Join(t.TempDir(), "m.wasm")
	os.WriteFile(wasm, []byte("\x00asm\x01\x00\x00\x00"), 0o644)
	r := run(t, "spawn", "--module-file", wasm, "--key", key, "--node", n.srv.URL, "--memory-limit", "256-mb", "--quiet")
	r.want(t, 0, "")
	it := n.lastMUItem()
	if r.stdout != it.ID()+"\n" {
		t.Fatalf("--quiet printed %q, want the process id %s", r.stdout, it.ID())
	}
	mod, _ := it.Tag("Module")
	raw, err := n.db.Item(mod)
	if err != nil {
		t.Fatalf("the module of --module-file is not on the node: %v", err)
	}
	m, _ := dataitem.Parse(raw)
	if f, _ := m.Tag("Module-Format"); f != "wasm32-unknown-emscripten2" {
		t.Fatalf("module format %q", f)
	}
	if l, _ := m.Tag("Memory-Limit"); l != "256-mb" {
		t.Fatalf("module memory limit %q", l)
	}
	if len(it.Anchor) != 32 {
		t.Fatalf("anchor %q", it.Anchor)
	}
	run(t, "spawn", "--module-file", wasm, "--key", key, "--node", n.srv.URL, "--module-format", "wasm32-unknown-emscripten4").want(t, 0, "")
	if n.lastMUItem().ID() == it.ID() || string(n.lastMUItem().Anchor) == string(it.Anchor) {
		t.Fatal("two spawns share an id or an anchor")
	}
	notWasm := filepath.Join(t.TempDir(), "x.wasm")
	os.WriteFile(notWasm, []byte("hello"), 0o644)
	run(t, "spawn", "--module-file", notWasm, "--key", key, "--node", n.srv.URL).want(t, 1, "not a WebAssembly binary")
}

// TestClientEnvironment: AONODE_NODE and AONODE_KEY stand in for --node and --key, and
// without them the dev node's key in ./.aonode-dev is used.
func TestClientEnvironment(t *testing.T) {
	n := newFakeNode(t)
	key, s := writeKey(t)
	pid := sign(t, s, "p").ID()
	t.Setenv(envNode, n.srv.URL)
	t.Setenv(envKey, key)
	run(t, "send", "--process", pid).want(t, 0, "")
	if n.lastMUItem().Address() != dataitem.OwnerAddress(s.Owner()) {
		t.Fatal("AONODE_KEY was not the signer")
	}
	t.Setenv(envKey, "")
	dir := t.TempDir()
	t.Chdir(dir)
	run(t, "send", "--process", pid).want(t, 2, "--key FILE is required")
	if err := os.MkdirAll(DefaultDevDataDir, 0o700); err != nil {
		t.Fatal(err)
	}
	devKey, devSigner := writeKey(t)
	b, _ := os.ReadFile(devKey)
	os.WriteFile(filepath.Join(DefaultDevDataDir, "key.json"), b, 0o600)
	run(t, "send", "--process", pid).want(t, 0, "")
	if n.lastMUItem().Address() != dataitem.OwnerAddress(devSigner.Owner()) {
		t.Fatal("the dev key was not the signer")
	}
	// --key wins over both.
	t.Setenv(envKey, devKey)
	run(t, "send", "--process", pid, "--key", key).want(t, 0, "")
	if n.lastMUItem().Address() != dataitem.OwnerAddress(s.Owner()) {
		t.Fatal("--key did not win")
	}
	t.Setenv(envNode, "ftp://nowhere")
	run(t, "send", "--process", pid).want(t, 2, "--node")
}

func sign(t *testing.T, s dataitem.Signer, data string, tags ...string) *dataitem.Item {
	t.Helper()
	f := dataitem.Fields{Data: []byte(data)}
	for i := 0; i+1 < len(tags); i += 2 {
		f.Tags = append(f.Tags, dataitem.Tag{Name: tags[i], Value: tags[i+1]})
	}
	it, err := dataitem.Sign(s, f)
	if err != nil {
		t.Fatal(err)
	}
	return it
}

func TestSend(t *testing.T) {
	n := newFakeNode(t)
	key, s := writeKey(t)
	pid := sign(t, s, "p").ID()
	r := run(t, "send", "--process", pid, "--key", key, "--node", n.srv.URL, "--tag", "Action=Eval", "--data", "1+1",
		"--anchor", "0123456789abcdef0123456789abcdef")
	r.want(t, 0, "")
	it := n.lastMUItem()
	if out := decodeOut(t, r); out["id"] != it.ID() || out["process"] != pid || out["result"] != nil {
		t.Fatalf("output %v", out)
	}
	if got, want := tagList(it), "Action=Eval; SDK=aoconnect; Data-Protocol=ao; Variant=ao.TN.1; Type=Message"; got != want {
		t.Fatalf("tags\n got %s\nwant %s", got, want)
	}
	if dataitem.EncodeID(it.Target) != pid || string(it.Data) != "1+1" || string(it.Anchor) != "0123456789abcdef0123456789abcdef" {
		t.Fatal("wrong target, data or anchor")
	}

	// Without --anchor every send is a new message: a random anchor of 32 characters.
	run(t, "send", "--process", pid, "--key", key, "--node", n.srv.URL, "--data", "same").want(t, 0, "")
	first := n.lastMUItem()
	r = run(t, "send", "--process", pid, "--key", key, "--node", n.srv.URL, "--data", "same", "--quiet")
	r.want(t, 0, "")
	second := n.lastMUItem()
	if first.ID() == second.ID() || len(first.Anchor) != 32 || len(second.Anchor) != 32 || r.stdout != second.ID()+"\n" {
		t.Fatalf("repeated sends: %s (%q) and %s (%q), --quiet printed %q", first.ID(), first.Anchor, second.ID(), second.Anchor, r.stdout)
	}

	run(t, "send", "--process", pid, "--key", key, "--node", n.srv.URL, "--cast").want(t, 0, "")
	if got, want := tagList(n.lastMUItem()), "Cast=true; SDK=aoconnect; Content-Type=text/plain; Data-Protocol=ao; Variant=ao.TN.1; Type=Message"; got != want {
		t.Fatalf("cast tags\n got %s\nwant %s", got, want)
	}
	if string(n.lastMUItem().Data) != " " {
		t.Fatal("no-data message must carry a single space")
	}

	// --wait polls through the CU's 404s until the result is there.
	n.mu.Lock()
	n.resultAfter, n.resultCalls = 2, 0
	n.mu.Unlock()
	r = run(t, "send", "--process", pid, "--key", key, "--node", n.srv.URL, "--wait", "--poll", "5ms")
	r.want(t, 0, "")
	out := decodeOut(t, r)
	res, _ := out["result"].(map[string]any)
	if res["Output"] != "ok" || out["id"] != n.lastMUItem().ID() {
		t.Fatalf("output %v", out)
	}
	// One encoder for the CLI's JSON, without HTML escaping.
	if !strings.Contains(r.stdout, `"Prompt": "aos> "`) || strings.Contains(r.stdout, `\u003e`) {
		t.Fatalf("send --wait output escapes HTML:\n%s", r.stdout)
	}
	n.mu.Lock()
	last := n.cuRequests[len(n.cuRequests)-1]
	calls := n.resultCalls
	n.mu.Unlock()
	if calls != 3 || last.URL.Path != "/cu/result/"+n.lastMUItem().ID() || last.URL.Query().Get("process-id") != pid {
		t.Fatalf("%d result calls, last %s", calls, last.URL)
	}

	// A deadline ends the wait with an error that still names the sent message.
	n.mu.Lock()
	n.resultAfter, n.resultCalls = 1<<30, 0
	n.mu.Unlock()
	run(t, "send", "--process", pid, "--key", key, "--node", n.srv.URL, "--wait", "--poll", "5ms", "--wait-timeout", "50ms").
		want(t, 1, "was sent, but: no result within 50ms")

	n.mu.Lock()
	n.muStatus = http.StatusInternalServerError
	n.mu.Unlock()
	run(t, "send", "--process", pid, "--key", key, "--node", n.srv.URL).want(t, 1, "500: mu is down")

	run(t, "send", "--process", pid, "--key", key, "--cast", "--wait").want(t, 2, "exclude each other")
	run(t, "send", "--key", key).want(t, 2, "--process ID is required")
	run(t, "send", "--process", pid, "--node", n.srv.URL).want(t, 2, "--key FILE is required")
	run(t, "send", "--process", pid, "--key", key, "--anchor", "short").want(t, 2, "--anchor")
	run(t, "send", "--process", pid, "--key", key, "--data", "a", "--data-file", "b").want(t, 2, "not both")
}

func TestResultResultsDryrun(t *testing.T) {
	n := newFakeNode(t)
	_, s := writeKey(t)
	pid, mid := sign(t, s, "p").ID(), sign(t, s, "m").ID()

	r := run(t, "result", "--message", mid, "--process", pid, "--node", n.srv.URL+"/")
	r.want(t, 0, "")
	if decodeOut(t, r)["Output"] != "ok" || !strings.Contains(r.stdout, `"Prompt": "aos> "`) {
		t.Fatal(r.stdout)
	}
	r = run(t, "results", "--process", pid, "--node", n.srv.URL, "--from", "abc", "--sort", "DESC", "--limit", "5")
	r.want(t, 0, "")
	if _, ok := decodeOut(t, r)["pageInfo"]; !ok {
		t.Fatal(r.stdout)
	}
	r = run(t, "dryrun", "--process", pid, "--node", n.srv.URL, "--tag", "Action=Balance")
	r.want(t, 0, "")
	if decodeOut(t, r)["Output"] != "dry" {
		t.Fatal(r.stdout)
	}
	n.mu.Lock()
	reqs, bodies := n.cuRequests, n.cuBodies
	n.mu.Unlock()
	if len(reqs) != 3 {
		t.Fatalf("%d CU requests", len(reqs))
	}
	if q := reqs[0].URL; q.Path != "/cu/result/"+mid || q.Query().Get("process-id") != pid {
		t.Fatalf("result request %s", q)
	}
	if q := reqs[1].URL; q.Path != "/cu/results/"+pid || q.RawQuery != "from=abc&limit=5&sort=DESC" {
		t.Fatalf("results request %s", q)
	}
	if q := reqs[2].URL; q.Path != "/cu/dry-run" || q.Query().Get("process-id") != pid || reqs[2].Header.Get("Content-Type") != "application/json" {
		t.Fatalf("dry-run request %s", q)
	}
	want := `{"Id":"1234","Owner":"1234","Target":"` + pid + `","Data":"1234","Tags":[{"name":"Action","value":"Balance"},` +
		`{"name":"Data-Protocol","value":"ao"},{"name":"Type","value":"Message"},{"name":"Variant","value":"ao.TN.1"}],"Anchor":"0"}`
	if bodies[2] != want {
		t.Fatalf("dry-run body\n got %s\nwant %s", bodies[2], want)
	}

	n.mu.Lock()
	n.resultAfter, n.resultCalls = 1, 0
	n.mu.Unlock()
	run(t, "result", "--message", mid, "--process", pid, "--node", n.srv.URL).want(t, 1, `404: {"error":"not yet"}`)
	run(t, "results", "--process", pid, "--sort", "UP").want(t, 2, "--sort")
	run(t, "result", "--process", pid).want(t, 2, "--message ID is required")
	run(t, "dryrun").want(t, 2, "--process ID is required")

	// With a key, Owner is its address (aos answers its owner's Eval); --owner still wins.
	key, ks := writeKey(t)
	run(t, "dryrun", "--process", pid, "--node", n.srv.URL, "--key", key).want(t, 0, "")
	run(t, "dryrun", "--process", pid, "--node", n.srv.URL, "--key", key, "--owner", "me").want(t, 0, "")
	n.mu.Lock()
	bodies = n.cuBodies
	n.mu.Unlock()
	var withKey, withOwner struct{ Owner string }
	json.Unmarshal([]byte(bodies[len(bodies)-2]), &withKey)
	json.Unmarshal([]byte(bodies[len(bodies)-1]), &withOwner)
	if withKey.Owner != dataitem.OwnerAddress(ks.Owner()) || withOwner.Owner != "me" {
		t.Fatalf("dry-run Owner with a key %q, with --owner %q", withKey.Owner, withOwner.Owner)
	}
}

// TestSpawnSchedulerSet: repeated --scheduler flags give one Scheduler tag each, in order;
// a set of two carries a warning; bad sets are usage errors.
func TestSpawnSchedulerSet(t *testing.T) {
	n := newFakeNode(t)
	key, _ := writeKey(t)
	mod := publishModule(t, n, key)
	r := run(t, "spawn", "--module", mod, "--key", key, "--node", n.srv.URL, "--scheduler", "C", "--scheduler", "A", "--scheduler", "B")
	r.want(t, 0, "")
	var out struct {
		Process, Scheduler, Warning string
		Schedulers                  []string
	}
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatal(err)
	}
	it := n.lastMUItem()
	if out.Process != it.ID() || out.Scheduler != "C" || strings.Join(out.Schedulers, ",") != "C,A,B" || out.Warning != "" {
		t.Fatalf("output %s", r.stdout)
	}
	ts, _ := it.Tag("Timestamp")
	want := "Content-Type=text/plain; SDK=aoconnect; Data-Protocol=ao; Variant=ao.TN.1; Type=Process; Module=" + mod +
		"; Scheduler=C; Scheduler=A; Scheduler=B; Timestamp=" + ts
	if got := tagList(it); got != want {
		t.Fatalf("tags\n got %s\nwant %s", got, want)
	}
	if got := aoapi.Schedulers(it.Tags); strings.Join(got, ",") != "A,B,C" {
		t.Fatalf("set %v", got)
	}

	r = run(t, "spawn", "--module", mod, "--key", key, "--node", n.srv.URL, "--scheduler", "A", "--scheduler", "B")
	r.want(t, 0, "")
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.Warning, "cannot survive the loss of either") {
		t.Fatalf("no warning for a set of two: %s", r.stdout)
	}
	r = run(t, "spawn", "--module", mod, "--key", key, "--node", n.srv.URL, "--scheduler", "A", "--scheduler", "B", "--quiet")
	r.want(t, 0, "warning: a set of two")
	if strings.Contains(r.stdout, "warning") {
		t.Fatalf("--quiet printed the warning on stdout: %q", r.stdout)
	}

	many := []string{"spawn", "--module", mod, "--key", key}
	for i := range aoapi.MaxSchedulers + 1 {
		many = append(many, "--scheduler", fmt.Sprint("S", i))
	}
	run(t, many...).want(t, 2, "more than")
	run(t, "spawn", "--module", mod, "--key", key, "--scheduler", "A", "--scheduler", "A").want(t, 2, "named twice")
	run(t, "spawn", "--module", mod, "--key", key, "--scheduler", "A,B").want(t, 2, "one address per")
	run(t, "spawn", "--module", mod, "--key", key, "--scheduler", " ").want(t, 2, "empty scheduler")
}
