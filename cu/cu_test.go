package cu

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/aonode/aonode/cu/memhash"
	"github.com/aonode/aonode/cu/module"
	"github.com/aonode/aonode/dataitem"
	"github.com/aonode/aonode/node/clock"
	"github.com/aonode/aonode/store"
)

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		os.Exit(runChild())
	}
	goleak.VerifyTestMain(m)
}

func testSigner() dataitem.Signer {
	seed := sha256.Sum256([]byte("aonode cu test key"))
	return dataitem.NewEd25519Signer(ed25519.NewKeyFromSeed(seed[:]))
}

// harness is a CU wired to a fake SU, a fake gateway and the fake runtime.
type harness struct {
	t    testing.TB
	su   *fakeSU
	gw   *fakeGateway
	rt   *fakeRuntime
	db   *store.DB
	cu   *CU
	srv  *httptest.Server
	mod  string
	reg  *prometheus.Registry
	opts func(*Config)
	// clock is the CU's: it reads 1,800,000,000,000 ms and moves only when a test advances it.
	clock *clock.Manual
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func openStore(t testing.TB, dir string) *store.DB {
	t.Helper()
	opts := store.Options{InMemory: true, Logger: quietLogger()}
	if dir != "" {
		opts = store.DefaultOptions(dir)
		opts.Logger = quietLogger()
	}
	db, err := store.Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func newHarness(t testing.TB, opts func(*Config)) *harness {
	h := &harness{t: t, su: newFakeSU(t), gw: newFakeGateway(t), rt: &fakeRuntime{}, opts: opts}
	h.mod = h.gw.addModule([]byte("fake wasm"), moduleTags(string(fakeFormat),
		Tag{Name: "Memory-Limit", Value: "1-mb"}, Tag{Name: "Compute-Limit", Value: "9000000"}))
	h.db = openStore(t, "")
	t.Cleanup(func() { _ = h.db.Close() })
	h.start()
	return h
}

func (h *harness) config() Config {
	src, err := NewSUClient(h.su.URL(), SUClientOptions{PageSize: 7})
	if err != nil {
		h.t.Fatal(err)
	}
	gw, err := NewGateway(h.gw.srv.URL, nil, 0)
	if err != nil {
		h.t.Fatal(err)
	}
	h.reg = prometheus.NewRegistry()
	if h.clock == nil {
		h.clock = clock.NewManual(time.UnixMilli(1_800_000_000_000))
	}
	cfg := Config{
		Store: h.db, Signer: testSigner(), Source: src, Gateway: gw,
		Runtimes:        map[module.Format]Runtime{fakeFormat: h.rt},
		CheckpointEvery: 10, CommitEvery: 4, Registerer: h.reg, Logger: quietLogger(),
		Clock: h.clock,
	}
	if h.opts != nil {
		h.opts(&cfg)
	}
	return cfg
}

func (h *harness) start() {
	c, err := New(h.config())
	if err != nil {
		h.t.Fatal(err)
	}
	h.cu = c
	h.srv = httptest.NewServer(c.Handler())
}

func (h *harness) stop() {
	h.srv.Close()
	if err := h.cu.Close(); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) close() { h.stop() }

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decoding %q: %v", r.body, err)
	}
}

func (h *harness) do(method, path string, body []byte) response {
	h.t.Helper()
	req, err := http.NewRequest(method, h.srv.URL+path, bytes.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

func (h *harness) get(path string) response { return h.do(http.MethodGet, path, nil) }

func wantStatus(t testing.TB, r response, status int, errSubstring string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d (body %s)", r.status, status, r.body)
	}
	if errSubstring != "" {
		var e struct {
			Error string `json:"error"`
		}
		r.json(t, &e)
		if !strings.Contains(e.Error, errSubstring) {
			t.Fatalf("error %q does not contain %q", e.Error, errSubstring)
		}
	}
}

// addMessages schedules n messages with Action=Count, 1 s apart.
func (h *harness) addMessages(pid string, n int, tags ...Tag) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = h.su.addMessage(pid, 1000, "hello", append([]Tag{{Name: "Action", Value: "Count"}}, tags...)...)
	}
	return ids
}

func TestResultShapeAndAttestation(t *testing.T) {
	h := newHarness(t, nil)
	defer h.close()
	pid := h.su.addProcess(h.mod, false)
	ids := h.addMessages(pid, 12)

	r := h.get("/result/" + ids[5] + "?process-id=" + pid)
	wantStatus(t, r, 200, "")
	// Keys in the reference's order, values as the module produced them.
	want := `{"Messages":[{"Data":"ack","Tags":[{"name":"Ref","value":"` + ids[5] + `"}],"Target":"`
	if !bytes.HasPrefix(r.body, []byte(want)) {
		t.Fatalf("result %s does not start with %s", r.body, want)
	}
	var res map[string]json.RawMessage
	r.json(t, &res)
	for _, k := range []string{"Messages", "Assignments", "Spawns", "Output", "GasUsed"} {
		if _, ok := res[k]; !ok {
			t.Errorf("result lacks %s: %s", k, r.body)
		}
	}
	if _, ok := res["Error"]; ok {
		t.Errorf("result has an Error: %s", r.body)
	}
	// Slot 0 is the process itself; message 5 is slot 6 and the 7th evaluation.
	if got := string(res["Output"]); got != `"count=7 ro=false cron=false boot=0"` {
		t.Errorf("Output = %s", got)
	}

	raw, err := base64.RawURLEncoding.DecodeString(r.header.Get(HeaderAttestation))
	if err != nil {
		t.Fatalf("attestation header: %v", err)
	}
	att := verifyAttestation(t, raw, pid, 6, ids[5], r.body)

	// The attestation route serves the same item.
	r2 := h.get("/attestation/" + ids[5] + "?process-id=" + pid)
	wantStatus(t, r2, 200, "")
	if !bytes.Equal(r2.body, raw) || r2.header.Get("Content-Type") != "application/octet-stream" {
		t.Fatalf("attestation route differs from the header")
	}
	// Memory-Root is the memory after the message: /state after the last message must
	// match the last message's attestation.
	last := h.get("/result/" + ids[11] + "?process-id=" + pid)
	lastRaw, _ := base64.RawURLEncoding.DecodeString(last.header.Get(HeaderAttestation))
	lastAtt := verifyAttestation(t, lastRaw, pid, 12, ids[11], last.body)
	st := h.get("/state/" + pid)
	wantStatus(t, st, 200, "")
	sum := memhash.Root(st.body)
	if got := lastAtt["Memory-Root"]; got != hex.EncodeToString(sum[:]) {
		t.Fatalf("Memory-Root %s, state hashes to %x", got, sum)
	}
	if att["Memory-Root"] == lastAtt["Memory-Root"] {
		t.Fatal("memory hash did not change between messages")
	}
	if st.header.Get("Last-Ordinate") != "12" || st.header.Get("Last-Timestamp") == "" || st.header.Get("Last-Block-Height") != "1500001" {
		t.Fatalf("state headers %v", st.header)
	}
	wantStatus(t, h.get("/attestation/"+randID()+"?process-id="+pid), 404, "no attestation")
}

// verifyAttestation checks an attestation item as any third party would and returns its tags.
func verifyAttestation(t testing.TB, raw []byte, pid string, slot int, msgID string, served []byte) map[string]string {
	t.Helper()
	it, err := dataitem.ParseVerified(raw)
	if err != nil {
		t.Fatalf("attestation does not verify: %v", err)
	}
	if it.Address() != addressOfSigner(testSigner()) {
		t.Fatalf("attestation signed by %s", it.Address())
	}
	tags := map[string]string{}
	for _, tg := range it.Tags {
		tags[tg.Name] = tg.Value
	}
	sum := sha256.Sum256(served)
	want := map[string]string{
		"Data-Protocol": "ao", "Type": "Attestation", "Process": pid, "Message": msgID,
		"Slot": itoa(slot), "Result-SHA256": hex.EncodeToString(sum[:]),
	}
	for k, v := range want {
		if tags[k] != v {
			t.Errorf("attestation tag %s = %q, want %q", k, tags[k], v)
		}
	}
	if len(tags["Memory-Root"]) != 64 || tags["Attestation-Format"] != "2" || tags["Timestamp"] == "" {
		t.Errorf("attestation tags %v", tags)
	}
	if dataitem.EncodeID(it.Target) != pid {
		t.Errorf("attestation target %x", it.Target)
	}
	return tags
}

func addressOfSigner(s dataitem.Signer) string {
	sum := sha256.Sum256(s.Owner())
	return dataitem.EncodeID(sum[:])
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestRoot(t *testing.T) {
	h := newHarness(t, nil)
	defer h.close()
	r := h.get("/")
	wantStatus(t, r, 200, "")
	want := `{"address":"` + addressOfSigner(testSigner()) + `","timestamp":1800000000000}`
	if string(r.body) != want {
		t.Fatalf("GET / = %s, want %s", r.body, want)
	}
	wantStatus(t, h.get("/nope"), 404, "Not Found")
	m := h.get("/metrics")
	wantStatus(t, m, 200, "")
	if !bytes.Contains(m.body, []byte("aonode_cu_http_requests_total")) {
		t.Fatalf("metrics lack the request counter:\n%s", m.body)
	}
}

func TestRequestErrors(t *testing.T) {
	h := newHarness(t, nil)
	defer h.close()
	pid := h.su.addProcess(h.mod, false)
	ids := h.addMessages(pid, 2)
	unknown := randID()
	cases := []struct {
		name, method, path string
		status             int
		err                string
	}{
		{"result without process-id", "GET", "/result/" + ids[0], 400, "process-id"},
		{"result bad id", "GET", "/result/xyz?process-id=" + pid, 400, "invalid id"},
		{"result unknown message", "GET", "/result/" + unknown + "?process-id=" + pid, 404, "not found"},
		{"result unknown process", "GET", "/result/" + ids[0] + "?process-id=" + unknown, 404, "not found"},
		{"results bad sort", "GET", "/results/" + pid + "?sort=UP", 400, "sort"},
		{"results bad limit", "GET", "/results/" + pid + "?limit=-1", 400, "limit"},
		{"results bad cursor", "GET", "/results/" + pid + "?from=@@", 400, "cursor"},
		{"state unknown process", "GET", "/state/" + unknown, 404, "not found"},
		{"dry-run without process-id", "POST", "/dry-run", 400, "process-id"},
		{"dry-run bad body", "POST", "/dry-run?process-id=" + pid, 400, "invalid dry-run"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			wantStatus(t, h.do(tc.method, tc.path, []byte("{")), tc.status, tc.err)
		})
	}
	big := bytes.Repeat([]byte("x"), 2<<20)
	wantStatus(t, h.do("POST", "/dry-run?process-id="+pid, big), 413, "larger")
}

func TestDefinitionErrors(t *testing.T) {
	h := newHarness(t, nil)
	defer h.close()
	cases := []struct {
		name   string
		module []Tag
		proc   []Tag
		status int
		err    string
	}{
		{"unsupported format", moduleTags("wasm32-unknown-emscripten5",
			Tag{Name: "Memory-Limit", Value: "1-mb"}, Tag{Name: "Compute-Limit", Value: "1"}), nil, 422, "not supported"},
		{"memory above max", moduleTags(string(fakeFormat),
			Tag{Name: "Memory-Limit", Value: "2-gb"}, Tag{Name: "Compute-Limit", Value: "1"}), nil, 413, "Memory-Limit"},
		{"process overrides memory", moduleTags(string(fakeFormat),
			Tag{Name: "Memory-Limit", Value: "1-mb"}, Tag{Name: "Compute-Limit", Value: "1"}),
			[]Tag{{Name: "Memory-Limit", Value: "4-gb"}}, 413, "Memory-Limit"},
		{"compute above max", moduleTags(string(fakeFormat),
			Tag{Name: "Memory-Limit", Value: "1-mb"}, Tag{Name: "Compute-Limit", Value: "9000000000001"}), nil, 413, "Compute-Limit"},
		{"no memory limit", moduleTags(string(fakeFormat), Tag{Name: "Compute-Limit", Value: "1"}), nil, 413, "Memory-Limit"},
		{"memory not a size", moduleTags(string(fakeFormat),
			Tag{Name: "Memory-Limit", Value: "lots"}, Tag{Name: "Compute-Limit", Value: "1"}), nil, 422, "Memory-Limit \"lots\" is not a size"},
		{"compute too large to parse", moduleTags(string(fakeFormat),
			Tag{Name: "Memory-Limit", Value: "1-mb"}, Tag{Name: "Compute-Limit", Value: "99999999999999999999999"}), nil, 413, "above the CU maximum"},
		{"compute not a number", moduleTags(string(fakeFormat),
			Tag{Name: "Memory-Limit", Value: "1-mb"}, Tag{Name: "Compute-Limit", Value: "many"}), nil, 422, "Compute-Limit \"many\" is not a number"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			mod := h.gw.addModule([]byte("fake wasm"), tc.module)
			pid := h.su.addProcess(mod, false, tc.proc...)
			ids := h.addMessages(pid, 1)
			wantStatus(t, h.get("/result/"+ids[0]+"?process-id="+pid), tc.status, tc.err)
		})
	}
	t.Run("module not on gateway", func(t *testing.T) {
		pid := h.su.addProcess(randID(), false)
		ids := h.addMessages(pid, 1)
		wantStatus(t, h.get("/result/"+ids[0]+"?process-id="+pid), 404, "not found")
	})
	t.Run("module does not compile", func(t *testing.T) {
		mod := h.gw.addModule([]byte("broken"), moduleTags(string(fakeFormat),
			Tag{Name: "Memory-Limit", Value: "1-mb"}, Tag{Name: "Compute-Limit", Value: "1"}))
		pid := h.su.addProcess(mod, false)
		ids := h.addMessages(pid, 1)
		wantStatus(t, h.get("/result/"+ids[0]+"?process-id="+pid), 422, "not a wasm module")
	})
}

func TestHashChainFailure(t *testing.T) {
	h := newHarness(t, nil)
	defer h.close()
	pid := h.su.addProcess(h.mod, false)
	ids := h.addMessages(pid, 10)
	h.su.corruptChain(pid, 7) // the slot of ids[6]
	wantStatus(t, h.get("/result/"+ids[3]+"?process-id="+pid), 200, "")
	wantStatus(t, h.get("/result/"+ids[8]+"?process-id="+pid), 422, "HashChain invalid on message "+ids[6])
	// Nothing after the broken link was stored.
	if _, err := h.db.EvalResultByMessage(pid, ids[6]); err == nil {
		t.Fatal("the message with the bad hash chain was evaluated")
	}
}

func TestErrorsKeepMemory(t *testing.T) {
	h := newHarness(t, nil)
	defer h.close()
	pid := h.su.addProcess(h.mod, false)
	a := h.su.addMessage(pid, 1000, "", Tag{Name: "Action", Value: "Count"})
	fail := h.su.addMessage(pid, 1000, "", Tag{Name: "Action", Value: "Fail"})
	trap := h.su.addMessage(pid, 1000, "", Tag{Name: "Action", Value: "Trap"})
	host := h.su.addMessage(pid, 1000, "", Tag{Name: "Action", Value: "HostFail"})
	b := h.su.addMessage(pid, 1000, "", Tag{Name: "Action", Value: "Count"})

	memOf := func(id string) (string, response) {
		r := h.get("/result/" + id + "?process-id=" + pid)
		wantStatus(t, r, 200, "")
		raw, _ := base64.RawURLEncoding.DecodeString(r.header.Get(HeaderAttestation))
		it, err := dataitem.ParseVerified(raw)
		if err != nil {
			t.Fatal(err)
		}
		v, _ := it.Tag("Memory-Root")
		return v, r
	}
	ma, _ := memOf(a)
	mf, rf := memOf(fail)
	mt, rt := memOf(trap)
	mh, rh := memOf(host)
	mb, rb := memOf(b)
	if mf != ma || mt != ma || mh != ma {
		t.Fatalf("an error changed the memory: %s %s %s %s", ma, mf, mt, mh)
	}
	if !bytes.Contains(rh.body, []byte(`"Error":"host failure"`)) {
		t.Fatalf("host failure result %s", rh.body)
	}
	if mb == ma {
		t.Fatal("memory did not change after a good message")
	}
	var res map[string]json.RawMessage
	rf.json(t, &res)
	if string(res["Error"]) != `"handled failure"` || string(res["Output"]) != `"partial"` {
		t.Fatalf("Error result %s", rf.body)
	}
	rt.json(t, &res)
	if string(res["Error"]) != `"unreachable executed"` {
		t.Fatalf("trap result %s", rt.body)
	}
	// The counter in memory skipped the failed messages: 1 (process) + a + b.
	var out map[string]json.RawMessage
	rb.json(t, &out)
	if string(out["Output"]) != `"count=3 ro=false cron=false boot=0"` {
		t.Fatalf("after errors: %s", rb.body)
	}
	// Errors are not listed by /results.
	var conn connection
	h.get("/results/"+pid).json(t, &conn)
	if len(conn.Edges) != 3 {
		t.Fatalf("/results has %d edges, want 3 (errors filtered)", len(conn.Edges))
	}
}

func TestMemoryLimitEnforced(t *testing.T) {
	h := newHarness(t, nil)
	defer h.close()
	mod := h.gw.addModule([]byte("fake wasm"), moduleTags(string(fakeFormat),
		Tag{Name: "Memory-Limit", Value: "5-kb"}, Tag{Name: "Compute-Limit", Value: "1"}))
	pid := h.su.addProcess(mod, false)
	grow := h.su.addMessage(pid, 1000, "", Tag{Name: "Action", Value: "Grow"})
	grow2 := h.su.addMessage(pid, 1000, "", Tag{Name: "Action", Value: "Grow"})
	wantStatus(t, h.get("/result/"+grow+"?process-id="+pid), 200, "")
	r := h.get("/result/" + grow2 + "?process-id=" + pid)
	var res map[string]json.RawMessage
	r.json(t, &res)
	if !strings.Contains(string(res["Error"]), "memory limit") {
		t.Fatalf("growing past Memory-Limit: %s", r.body)
	}
	st := h.get("/state/" + pid)
	if len(st.body) != 64+4096 {
		t.Fatalf("memory is %d bytes after the refused growth", len(st.body))
	}
}

func TestLegacyProcessBoots(t *testing.T) {
	h := newHarness(t, nil)
	defer h.close()
	pid := h.su.addProcess(h.mod, true)
	ids := h.addMessages(pid, 3)
	r := h.get("/result/" + ids[0] + "?process-id=" + pid)
	wantStatus(t, r, 200, "")
	var res map[string]json.RawMessage
	r.json(t, &res)
	// The synthetic process message ran first (boot=1, count 2) and was not stored.
	if string(res["Output"]) != `"count=2 ro=false cron=false boot=1"` {
		t.Fatalf("legacy first message: %s", r.body)
	}
	var conn connection
	h.get("/results/"+pid).json(t, &conn)
	if len(conn.Edges) != 3 {
		t.Fatalf("%d results, want 3", len(conn.Edges))
	}
}

func TestDryRun(t *testing.T) {
	h := newHarness(t, nil)
	defer h.close()
	h.rt.record = true
	pid := h.su.addProcess(h.mod, false)
	ids := h.addMessages(pid, 5)
	before := h.get("/state/" + pid)
	body := `{"Id":"1234","Owner":"1234","Target":"` + pid + `","Data":"1234","Tags":[{"name":"Action","value":"Count"},{"name":"Owner","value":"spoof"}],"Anchor":"0"}`
	for range 2 {
		r := h.do("POST", "/dry-run?process-id="+pid, []byte(body))
		wantStatus(t, r, 200, "")
		var res map[string]json.RawMessage
		r.json(t, &res)
		if string(res["Output"]) != `"count=7 ro=true cron=false boot=1"` {
			t.Fatalf("dry-run: %s", r.body)
		}
	}
	after := h.get("/state/" + pid)
	if !bytes.Equal(before.body, after.body) {
		t.Fatal("dry-run changed the process memory")
	}
	// The message the module saw: Read-Only, From mapped, spoofed Owner tag removed.
	h.rt.mu.Lock()
	seen := h.rt.seen[len(h.rt.seen)-1]
	h.rt.mu.Unlock()
	want := `{"Id":"1234","Data":"1234","Owner":"1234","Target":"` + pid + `","Anchor":"0","From":"1234",` +
		`"Tags":[{"name":"Action","value":"Count"}],"Timestamp":1700000005000,"Block-Height":1500000,"Cron":false,"Read-Only":true}`
	if string(seen) != want {
		t.Fatalf("dry-run message\n%s\nwant\n%s", seen, want)
	}
	// A dry-run pinned to an earlier message still runs (on the latest state).
	wantStatus(t, h.do("POST", "/dry-run?process-id="+pid+"&to="+ids[1], []byte(body)), 200, "")
	wantStatus(t, h.do("POST", "/dry-run?process-id="+pid+"&to="+randID(), []byte(body)), 404, "")
	var conn connection
	h.get("/results/"+pid).json(t, &conn)
	if len(conn.Edges) != 6 {
		t.Fatalf("dry-runs were stored: %d results", len(conn.Edges))
	}
}

// The MU asks for a spawned process's boot result as /result/{pid}?process-id={pid}: the
// process is its own first slot, whatever the SU answers for its id.
func TestResultOfTheProcessItself(t *testing.T) {
	h := newHarness(t, nil)
	defer h.close()
	pid := h.su.addProcess(h.mod, false)
	h.addMessages(pid, 2)
	r := h.get("/result/" + pid + "?process-id=" + pid)
	wantStatus(t, r, 200, "")
	var res map[string]json.RawMessage
	r.json(t, &res)
	if got := string(res["Output"]); got != `"count=1 ro=false cron=false boot=0"` {
		t.Fatalf("Output = %s", got)
	}
}
