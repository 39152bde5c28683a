package su

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/aonode/aonode/dataitem"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// fixedAnchor is not valid UTF-8, like most random anchors, so it shows as null unless
// show-anchor asks for it.
func fixedAnchor(b []byte) error {
	for i := range b {
		b[i] = 0xFF
	}
	return nil
}

func withFixedAnchor(o *Options) { o.Anchor = fixedAnchor }

func TestHTTPInfoTimestampHealth(t *testing.T) {
	e := newTestEnv(t)
	_, body, _ := e.do("GET", "/", nil)
	want := fmt.Sprintf(`{"address":%q,"timestamp":"1700000000000"}`, e.su.Address())
	if string(body) != want {
		t.Fatalf("GET / = %s, want %s", body, want)
	}
	if _, body, _ = e.do("GET", "/?process-id=x", nil); string(body) != want {
		t.Fatalf("GET /?process-id = %s", body)
	}
	code, body, h := e.do("GET", "/timestamp", nil)
	if code != 200 || string(body) != `{"timestamp":"1700000000000","block_height":"000001393008"}` ||
		h.Get("Content-Type") != "application/json" {
		t.Fatalf("GET /timestamp = %d %s %v", code, body, h)
	}
	if code, body, _ := e.do("GET", "/health", nil); code != 200 || len(body) != 0 {
		t.Fatalf("GET /health = %d %q", code, body)
	}
	if code, body, _ := e.do("GET", "/metrics", nil); code != 400 || string(body) != `{"error":"Metrics not enabled"}` {
		t.Fatalf("GET /metrics without metrics = %d %q", code, body)
	}
	// Every refusal is JSON, also from routing and query parsing.
	for _, tc := range []struct {
		method, path string
		code         int
		body         string
	}{
		{"PUT", "/", http.StatusMethodNotAllowed, `{"error":"Method Not Allowed"}`},
		{"DELETE", "/" + handAID0, http.StatusMethodNotAllowed, `{"error":"Method Not Allowed"}`},
		{"GET", "/a/b/c", http.StatusNotFound, `{"error":"Not Found"}`},
		{"GET", "/a/b", http.StatusNotFound, `{"error":"Not Found"}`},
		{"GET", "/" + handAID0 + "?process-id=%zz", http.StatusBadRequest, `{"error":"Query deserialize error: invalid URL escape \"%zz\""}`},
		{"GET", "/" + handAID0 + "?process-id=x&limit=ten", http.StatusBadRequest, `{"error":"Message or Process not found"}`},
	} {
		code, body, h := e.do(tc.method, tc.path, nil)
		if code != tc.code || string(body) != tc.body || h.Get("Content-Type") != "application/json" {
			t.Errorf("%s %s = %d %s (%s), want %d %s", tc.method, tc.path, code, body, h.Get("Content-Type"), tc.code, tc.body)
		}
	}
}

func TestHTTPMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	e := newTestEnv(t, func(o *Options) {
		o.Registerer = reg
		o.MetricsHandler = promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	})
	p := e.process()
	e.do("POST", "/", p.Raw())
	code, body, _ := e.do("GET", "/metrics", nil)
	if code != 200 || !strings.Contains(string(body), `su_schedule_requests_total{outcome="ok"} 1`) ||
		!strings.Contains(string(body), `su_http_requests_total{code="200",route="POST /{$}"} 1`) {
		t.Fatalf("GET /metrics = %d\n%s", code, body)
	}
}

type postReply struct {
	ID        string `json:"id"`
	Timestamp int64  `json:"timestamp"`
}

func (e *testEnv) post(path string, body []byte, status int) (postReply, string) {
	e.t.Helper()
	code, b, _ := e.do("POST", path, body)
	if code != status {
		e.t.Fatalf("POST %s: %d %s, want %d", path, code, b, status)
	}
	var r postReply
	if status == 200 {
		if err := json.Unmarshal(b, &r); err != nil {
			e.t.Fatal(err)
		}
	}
	return r, string(b)
}

func TestHTTPPost(t *testing.T) {
	e := newTestEnv(t)
	p := e.process()
	r, body := e.post("/", p.Raw(), 200)
	if r.ID != p.ID() || body != fmt.Sprintf(`{"id":%q,"timestamp":1700000000000}`, p.ID()) {
		t.Fatalf("POST process = %s", body)
	}
	m := e.message(p.ID(), []byte("hello"))
	if r, _ := e.post("/", m.Raw(), 200); r.ID != m.ID() {
		t.Fatalf("POST message id %s", r.ID)
	}
	wrongSU := e.sign(dataitem.Fields{Tags: []dataitem.Tag{
		{Name: "Data-Protocol", Value: "ao"}, {Name: "Type", Value: "Process"},
		{Name: "Module", Value: handAID0}, {Name: "Scheduler", Value: handAID1},
	}})
	noType := e.sign(dataitem.Fields{Tags: []dataitem.Tag{{Name: "Data-Protocol", Value: "ao"}}})
	badType := e.sign(dataitem.Fields{Tags: []dataitem.Tag{{Name: "Data-Protocol", Value: "ao"}, {Name: "Type", Value: "Module"}}})
	pidBytes := p.RawID()
	noProtocol := e.sign(dataitem.Fields{Target: pidBytes[:], Tags: []dataitem.Tag{{Name: "Type", Value: "Message"}}})
	link := e.message(p.ID(), nil, dataitem.Tag{Name: "Data", Value: "x+link"})
	noModule := e.sign(dataitem.Fields{Tags: []dataitem.Tag{{Name: "Data-Protocol", Value: "ao"}, {Name: "type", Value: "Process"},
		{Name: "Scheduler", Value: e.su.Address()}}})
	for _, c := range []struct {
		name, body string
		raw        []byte
	}{
		{"duplicate", `{"error":"Message already exists"}`, m.Raw()},
		{"wrong scheduler", fmt.Sprintf(`{"error":"Process %s is scheduled by %s, not by this SU (%s)"}`, wrongSU.ID(), handAID1, e.su.Address()), wrongSU.Raw()},
		{"no type", `{"error":"Type tag not present"}`, noType.Raw()},
		{"bad type", `{"error":"Unsupported Type tag value"}`, badType.Raw()},
		{"no data protocol", `{"error":"Data-Protocol tag not present"}`, noProtocol.Raw()},
		{"+link", `{"error":"Tag names and values may not end in +link"}`, link.Raw()},
		{"no module", `{"error":"Process has no Module tag"}`, noModule.Raw()},
		{"unknown process", fmt.Sprintf(`{"error":"Process %s not found on this SU"}`, wrongSU.ID()), e.message(wrongSU.ID(), nil).Raw()},
	} {
		t.Run(c.name, func(t *testing.T) {
			if _, body := e.post("/", c.raw, 400); body != c.body {
				t.Fatalf("got %s\nwant %s", body, c.body)
			}
		})
	}
	// A bad signature and garbage are 400 with an explanation.
	tampered := bytes.Clone(m.Raw())
	tampered[len(tampered)-1] ^= 1
	for _, raw := range [][]byte{tampered, []byte("garbage"), nil} {
		if _, body := e.post("/", raw, 400); !strings.HasPrefix(body, `{"error":"Invalid data item: `) {
			t.Fatalf("got %s", body)
		}
	}
	verifyChain(t, e.db, p.ID())
}

func TestHTTPPostBodyLimit(t *testing.T) {
	e := newTestEnv(t, func(o *Options) { o.MaxItemBytes = 1000 })
	p := e.process()
	big := e.message(p.ID(), bytes.Repeat([]byte("x"), 2000))
	want := `{"error":"Request body exceeds the limit of 1000 bytes"}`
	if _, body := e.post("/", big.Raw(), 413); body != want {
		t.Fatalf("with Content-Length: %s", body)
	}
	// Without a Content-Length the limit still cuts the read short.
	req, _ := http.NewRequest("POST", e.srv.URL+"/", io.MultiReader(bytes.NewReader(big.Raw())))
	req.ContentLength = -1
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 413 || string(body) != want {
		t.Fatalf("chunked: %d %s", resp.StatusCode, body)
	}
	e.post("/", p.Raw(), 200)
}

func TestHTTPAssign(t *testing.T) {
	e := newTestEnv(t)
	p1, p2 := e.process(), e.process()
	e.post("/", p1.Raw(), 200)
	e.post("/", p2.Raw(), 200)
	m := e.message(p1.ID(), []byte("m"))
	e.post("/", m.Raw(), 200)

	r, _ := e.post("/?process-id="+p2.ID()+"&assign="+m.ID()+"&exclude=Data,Anchor", nil, 200)
	slot, err := e.db.SlotByAssignment(r.ID)
	if err != nil || slot.Process != p2.ID() || slot.MessageID != m.ID() || slot.Nonce != 1 {
		t.Fatalf("assign answered %s: slot %+v, %v", r.ID, slot, err)
	}
	for _, c := range []struct{ query, body string }{
		{"?process-id=" + p2.ID(), `{"error":"If sending assign or process-id, you must send both."}`},
		{"?assign=" + m.ID(), `{"error":"If sending assign or process-id, you must send both."}`},
		{"?process-id=" + p2.ID() + "&assign=" + m.ID(), `{"error":"Message already exists"}`},
		{"?process-id=" + p2.ID() + "&assign=abc", `{"error":"assign must be a 43-character base64url id"}`},
		{"?process-id=" + p2.ID() + "&assign=" + handAID0, fmt.Sprintf(`{"error":"Message %s is not held by this SU"}`, handAID0)},
		{"?process-id=" + handPID + "&assign=" + m.ID(), fmt.Sprintf(`{"error":"Process %s not found on this SU"}`, handPID)},
		{"?process-id=" + p2.ID() + "&assign=" + m.ID() + "&base-layer", `{"error":"base-layer assignments are not supported by this SU"}`},
	} {
		if _, body := e.post("/"+c.query, nil, 400); body != c.body {
			t.Errorf("POST %s = %s, want %s", c.query, body, c.body)
		}
	}
	verifyChain(t, e.db, p2.ID())
}

// objects decoded loosely, to check values; field order is checked on raw bytes.
type ownerObj struct{ Address, Key string }
type tagObj struct{ Name, Value string }
type innerObj struct {
	ID        string
	Owner     ownerObj
	Data      *string
	Tags      []tagObj
	Signature string
	Anchor    *string
	Target    *string
}
type msgObj struct {
	Message    *innerObj
	Assignment innerObj
}

func TestHTTPMessageShapes(t *testing.T) {
	e := newTestEnv(t, withFixedAnchor)
	p := e.process()
	e.post("/", p.Raw(), 200)
	anchor := []byte("this-anchor-is-32-bytes-of-utf8!")
	target, _ := dataitem.DecodeID(p.ID())
	m := e.sign(dataitem.Fields{Target: target[:], Anchor: anchor, Data: []byte("a\xffb<&>"), Tags: []dataitem.Tag{
		{Name: "Data-Protocol", Value: "ao"}, {Name: "Type", Value: "Message"}, {Name: "Action", Value: "Eval"}}})
	e.post("/", m.Raw(), 200)
	slot, _ := e.db.SlotByMessage(p.ID(), m.ID())

	body := e.getJSON("/"+m.ID()+"?process-id="+p.ID(), 200, nil)
	keys := []string{`{"message":{"id":`, `"owner":{"address":`, `"key":`, `"data":`, `"tags":[{"name":"Data-Protocol","value":"ao"}`,
		`"signature":`, `"anchor":`, `"target":`, `"assignment":{"id":`, `"owner":`, `"tags":`, `"signature":`, `"anchor":null,"target":""}}`}
	rest := string(body)
	for _, k := range keys {
		i := strings.Index(rest, k)
		if i < 0 {
			t.Fatalf("%s not in order in %s", k, body)
		}
		rest = rest[i+len(k):]
	}
	var got msgObj
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	msg := got.Message
	if msg == nil || msg.ID != m.ID() || *msg.Data != "a\uFFFDb<&>" || *msg.Anchor != string(anchor) ||
		*msg.Target != p.ID() || msg.Owner.Address != m.Address() || msg.Owner.Key != dataitem.EncodeID(m.Owner) ||
		msg.Signature != dataitem.EncodeID(m.Signature) || len(msg.Tags) != 3 {
		t.Fatalf("message %+v", msg)
	}
	if !strings.Contains(string(body), `a\ufffdb<&>`) && !strings.Contains(string(body), "a\uFFFDb<&>") {
		t.Fatalf("data escaped unlike serde_json: %s", body)
	}
	a := got.Assignment
	if a.ID != slot.AssignmentID || a.Anchor != nil || *a.Target != "" || len(a.Tags) != 10 || a.Tags[2] != (tagObj{"Nonce", "1"}) {
		t.Fatalf("assignment %+v", a)
	}
	// The same object by assignment id; with show-anchor the anchor is base64url.
	byAID := e.getJSON("/"+slot.AssignmentID+"?process-id="+p.ID(), 200, nil)
	if !bytes.Equal(byAID, body) {
		t.Fatalf("by assignment id:\n%s\n%s", byAID, body)
	}
	var shown msgObj
	e.getJSON("/"+slot.AssignmentID+"?process-id="+p.ID()+"&show-anchor", 200, &shown)
	if shown.Assignment.Anchor == nil || *shown.Assignment.Anchor != dataitem.EncodeID(bytes.Repeat([]byte{0xFF}, 32)) {
		t.Fatalf("show-anchor: %+v", shown.Assignment.Anchor)
	}
	// The rebuilt assignment verifies: what a CU needs.
	raw, _ := e.db.Item(slot.AssignmentID)
	if it, err := dataitem.ParseVerified(raw); err != nil || it.ID() != a.ID {
		t.Fatal(err)
	}

	code, text, _ := e.do("GET", "/"+m.ID(), nil)
	if code != 400 || string(text) != `{"error":"Query deserialize error: missing field `+"`process-id`"+`"}` {
		t.Fatalf("missing process-id: %d %s", code, text)
	}
	// aoconnect's getMessages: GET /{process}?from&to&limit without process-id answers the
	// list of a process this SU holds, the same as with it.
	for _, q := range []string{"", "?limit=1", "?from=0&to=9999999999999&limit=100"} {
		sep := "?"
		if q != "" {
			sep = "&"
		}
		_, without, _ := e.do("GET", "/"+p.ID()+q, nil)
		_, with, _ := e.do("GET", "/"+p.ID()+q+sep+"process-id="+p.ID(), nil)
		if !strings.Contains(string(without), `"page_info"`) || string(without) != string(with) {
			t.Fatalf("list%s without process-id:\n%s\nwith:\n%s", q, without, with)
		}
	}
	if _, b, _ := e.do("GET", "/"+p.ID()+"?limit=0", nil); string(b) != `{"error":"invalid limit: 0 (must be at least 1)"}` {
		t.Fatalf("a bad limit without process-id: %s", b)
	}
	if code, b, _ := e.do("GET", "/"+handAID0+"?from=1", nil); code != 400 || !strings.Contains(string(b), "missing field `process-id`") {
		t.Fatalf("an unknown id without process-id: %d %s", code, b)
	}
	e.getJSON("/"+handAID0+"?process-id="+p.ID(), 400, nil)
	if _, b, _ := e.do("GET", "/"+handAID0+"?process-id="+p.ID(), nil); string(b) != `{"error":"Message or Process not found"}` {
		t.Fatalf("not found: %s", b)
	}
}

func TestHTTPProcessAndLatest(t *testing.T) {
	e := newTestEnv(t, withFixedAnchor)
	p := e.process()
	e.post("/", p.Raw(), 200)

	body := e.getJSON("/processes/"+p.ID(), 200, nil)
	want := fmt.Sprintf(`{"process_id":%q,"block":"000001393008","owner":{"address":%q,"key":%q},"tags":[`,
		p.ID(), p.Address(), dataitem.EncodeID(p.Owner))
	if !strings.HasPrefix(string(body), want) ||
		!strings.HasSuffix(string(body), fmt.Sprintf(`],"timestamp":1700000000000,"data":"process data","anchor":null,"signature":%q,"target":""}`,
			dataitem.EncodeID(p.Signature))) {
		t.Fatalf("process object %s", body)
	}
	if _, b, _ := e.do("GET", "/processes/"+handAID0, nil); string(b) != `{"error":"Process not found"}` {
		t.Fatalf("unknown process: %s", b)
	}
	// /processes/latest is the process route, as in the reference's route order.
	if _, b, _ := e.do("GET", "/processes/latest", nil); string(b) != `{"error":"Process not found"}` {
		t.Fatalf("/processes/latest: %s", b)
	}
	if _, b, _ := e.do("GET", "/"+p.ID()+"/latest", nil); string(b) != `{"error":"Latest message not available"}` {
		t.Fatalf("latest of a bare process: %s", b)
	}
	m1, m2 := e.message(p.ID(), []byte("1")), e.message(p.ID(), []byte("2"))
	e.post("/", m1.Raw(), 200)
	e.post("/", m2.Raw(), 200)
	var latest msgObj
	e.getJSON("/"+p.ID()+"/latest", 200, &latest)
	if latest.Message == nil || latest.Message.ID != m2.ID() {
		t.Fatalf("latest %+v", latest.Message)
	}
	if code, _, _ := e.do("GET", "/a/b", nil); code != 404 {
		t.Fatalf("GET /a/b = %d", code)
	}
}

// A pure assignment: found by its assignment id with "message": null, not by the item's id,
// and listed with "message": null.
func TestHTTPPureAssignment(t *testing.T) {
	e := newTestEnv(t)
	p1, p2 := e.process(), e.process()
	e.post("/", p1.Raw(), 200)
	e.post("/", p2.Raw(), 200)
	m := e.message(p1.ID(), []byte("m"))
	e.post("/", m.Raw(), 200)
	r, _ := e.post("/?process-id="+p2.ID()+"&assign="+m.ID(), nil, 200)

	var got msgObj
	e.getJSON("/"+r.ID+"?process-id="+p2.ID(), 200, &got)
	if got.Message != nil || got.Assignment.ID != r.ID {
		t.Fatalf("by assignment id: %+v", got)
	}
	e.getJSON("/"+m.ID()+"?process-id="+p2.ID(), 400, nil)
	// In its own process the message is still found.
	e.getJSON("/"+m.ID()+"?process-id="+p1.ID(), 200, &got)
	if got.Message == nil || got.Message.ID != m.ID() {
		t.Fatalf("in own process: %+v", got)
	}
	var pg pageObj
	e.getJSON("/"+p2.ID()+"?process-id="+p2.ID(), 200, &pg)
	if len(pg.Edges) != 2 || pg.Edges[1].Node.Message != nil || pg.Edges[1].Node.Assignment.ID != r.ID {
		t.Fatalf("list %+v", pg)
	}
}

type pageObj struct {
	PageInfo struct {
		HasNextPage *bool `json:"has_next_page"`
	} `json:"page_info"`
	Edges []struct {
		Node   msgObj
		Cursor string
	}
}

func TestHTTPPaging(t *testing.T) {
	e := newTestEnv(t)
	e.clock.set(1000)
	p := e.process()
	e.post("/", p.Raw(), 200)
	ids := map[string]string{"p": p.ID()}
	for i, ts := range []int64{2000, 2000, 3000, 4000} {
		e.clock.set(ts)
		m := e.message(p.ID(), []byte{byte(i)})
		e.post("/", m.Raw(), 200)
		ids[fmt.Sprintf("m%d", i+1)] = m.ID()
	}
	bare := e.process()
	e.post("/", bare.Raw(), 200)

	list := func(pid, query string) (string, bool) {
		t.Helper()
		var pg pageObj
		body := e.getJSON("/"+pid+"?process-id="+pid+query, 200, &pg)
		if pg.PageInfo.HasNextPage == nil || !strings.HasPrefix(string(body), `{"page_info":{"has_next_page":`) {
			t.Fatalf("page shape %s", body)
		}
		var parts []string
		for _, ed := range pg.Edges {
			name := "?"
			for k, v := range ids {
				if ed.Node.Message != nil && ed.Node.Message.ID == v {
					name = k
				}
			}
			if name == "p" && ed.Node.Assignment.Tags[2] != (tagObj{"Nonce", "0"}) {
				t.Fatalf("process node without its nonce-0 assignment: %+v", ed.Node.Assignment)
			}
			parts = append(parts, name+"@"+ed.Cursor)
		}
		return strings.Join(parts, " "), *pg.PageInfo.HasNextPage
	}
	pid := p.ID()
	cases := []struct {
		query, want string
		next        bool
	}{
		{"", "p@1000 m1@2000 m2@2000 m3@3000 m4@4000", false},
		{"&limit=5", "p@1000 m1@2000 m2@2000 m3@3000 m4@4000", false},
		{"&limit=4", "p@1000 m1@2000 m2@2000 m3@3000", true},
		{"&limit=1", "p@1000", true},
		{"&from=1000", "m1@2000 m2@2000 m3@3000 m4@4000", false},
		// from is exclusive: a message sharing the boundary timestamp is skipped (the
		// reference's caveat; nonce mode avoids it).
		{"&from=2000", "m3@3000 m4@4000", false},
		{"&from=1999&to=3000", "m1@2000 m2@2000 m3@3000", false},
		{"&to=2000", "p@1000 m1@2000 m2@2000", false},
		{"&to=500", "p@1000", false},
		{"&from=1000&limit=2", "m1@2000 m2@2000", true},
		{"&from=3000&limit=1", "m4@4000", false},
		{"&from=4000", "", false},
		{"&from-nonce=-1", "p@0 m1@1 m2@2 m3@3 m4@4", false},
		{"&to-nonce=2", "p@0 m1@1 m2@2", false},
		{"&from-nonce=0", "m1@1 m2@2 m3@3 m4@4", false},
		{"&from-nonce=1&to-nonce=3", "m2@2 m3@3", false},
		{"&from-nonce=2&limit=1", "m3@3", true},
		{"&from-nonce=3&limit=1", "m4@4", false},
		{"&from-nonce=4", "", false},
		{"&from-nonce=-1&limit=1", "p@0", true},
		{"&from-nonce=0&to-nonce=0", "", false},
	}
	for _, c := range cases {
		got, next := list(pid, c.query)
		if got != c.want || next != c.next {
			t.Errorf("%q: got %q next=%v, want %q next=%v", c.query, got, next, c.want, c.next)
		}
	}
	ids["bare"] = bare.ID()
	if got, next := list(bare.ID(), "&limit=1"); got != "bare@"+fmt.Sprint(e.clock.now()) || next {
		t.Errorf("bare process, limit 1: %q next=%v", got, next)
	}
	if got, next := list(bare.ID(), "&from-nonce=0"); got != "" || next {
		t.Errorf("bare process from nonce 0: %q next=%v", got, next)
	}
	for _, q := range []string{"&limit=0", "&limit=-3", "&limit=x", "&from=x", "&to=1.5", "&from-nonce=-2", "&to-nonce=z"} {
		e.getJSON("/"+pid+"?process-id="+pid+q, 400, nil)
	}
}

func TestHTTPPagingStopsAtByteBudget(t *testing.T) {
	e := newTestEnv(t, func(o *Options) { o.MaxPageBytes = 1 })
	p := e.process()
	e.post("/", p.Raw(), 200)
	e.post("/", e.message(p.ID(), nil).Raw(), 200)
	var pg pageObj
	e.getJSON("/"+p.ID()+"?process-id="+p.ID(), 200, &pg)
	if len(pg.Edges) != 1 || !*pg.PageInfo.HasNextPage {
		t.Fatalf("byte budget: %d edges, next %v", len(pg.Edges), *pg.PageInfo.HasNextPage)
	}
	e.getJSON("/"+p.ID()+"?process-id="+p.ID()+"&from-nonce=0", 200, &pg)
	if len(pg.Edges) != 1 || *pg.PageInfo.HasNextPage {
		t.Fatalf("second page: %d edges, next %v", len(pg.Edges), *pg.PageInfo.HasNextPage)
	}
}

func TestHTTPServesClosedStoreAs503(t *testing.T) {
	e := newTestEnv(t)
	p := e.process()
	e.post("/", p.Raw(), 200)
	m := e.message(p.ID(), nil)
	if err := e.db.Close(); err != nil {
		t.Fatal(err)
	}
	if code, body, _ := e.do("POST", "/", m.Raw()); code != 503 {
		t.Fatalf("POST on closed store: %d %s", code, body)
	}
}

func TestHTTPCORS(t *testing.T) {
	e := newTestEnv(t)
	req, _ := http.NewRequest("OPTIONS", e.srv.URL+"/", nil)
	req.Header.Set("Origin", "https://example.org")
	req.Header.Set("Access-Control-Request-Method", "POST")
	req.Header.Set("Access-Control-Request-Headers", "content-type")
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Access-Control-Allow-Origin") != "*" ||
		resp.Header.Get("Access-Control-Allow-Headers") != "content-type" ||
		!strings.Contains(resp.Header.Get("Access-Control-Allow-Methods"), "POST") {
		t.Fatalf("preflight: %d %v", resp.StatusCode, resp.Header)
	}
	if _, _, h := e.do("GET", "/timestamp", nil); h.Get("Access-Control-Allow-Origin") != "*" {
		t.Fatalf("no CORS header on GET: %v", h)
	}
}
