package su

import (
	"bytes"
	"encoding/json"
	"flag"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"unicode/utf8"

	"github.com/aonode/aonode/dataitem"
	"github.com/aonode/aonode/dataitem/utf8lossy"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// TestGoldenShapes pins the exact bytes of every JSON shape of the API. Keys, clock and
// anchors are fixed and ed25519 signatures are deterministic, so the bytes are too.
// Regenerate with: go test ./su -run TestGoldenShapes -update (and review the diff).
func TestGoldenShapes(t *testing.T) {
	e := newTestEnv(t, withFixedAnchor)
	p := e.process(dataitem.Tag{Name: "Name", Value: "<golden & co>"})
	target, _ := dataitem.DecodeID(p.ID())
	m1 := e.sign(dataitem.Fields{Target: target[:], Anchor: []byte("anchor-that-is-32-bytes-of-utf-8"),
		Data: []byte("print(\"hi\")\n\xff"), Tags: []dataitem.Tag{
			{Name: "Data-Protocol", Value: "ao"}, {Name: "Variant", Value: "ao.TN.1"},
			{Name: "Type", Value: "Message"}, {Name: "Action", Value: "Eval"}}})
	m2 := e.message(p.ID(), []byte("2"))

	_, postProcess, _ := e.do("POST", "/", p.Raw())
	e.clock.add(1500)
	_, postMessage, _ := e.do("POST", "/", m1.Raw())
	e.clock.add(10)
	e.do("POST", "/", m2.Raw())
	p2 := e.process()
	e.post("/", p2.Raw(), 200)
	e.post("/?process-id="+url.QueryEscape(p2.ID())+"&assign="+m1.ID()+"&exclude=Data", nil, 200)
	get := func(path string) []byte {
		_, b, _ := e.do("GET", path, nil)
		return b
	}
	q := "?process-id=" + p.ID()
	files := map[string][]byte{
		"info.json":            get("/"),
		"timestamp.json":       get("/timestamp"),
		"post_process.json":    postProcess,
		"post_message.json":    postMessage,
		"message.json":         get("/" + m1.ID() + q),
		"message_anchor.json":  get("/" + m1.ID() + q + "&show-anchor"),
		"process.json":         get("/processes/" + p.ID()),
		"latest.json":          get("/" + p.ID() + "/latest"),
		"list.json":            get("/" + p.ID() + q),
		"list_nonce.json":      get("/" + p.ID() + q + "&from-nonce=1&limit=1"),
		"list_assigned.json":   get("/" + p2.ID() + "?process-id=" + p2.ID() + "&show-anchor"),
		"error_not_found.json": get("/" + handAID0 + q),
	}
	for name, got := range files {
		path := filepath.Join("testdata", name)
		if *update {
			if err := os.MkdirAll("testdata", 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, got, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run with -update to create)", err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from the golden file:\n got %s\nwant %s", name, got, want)
		}
		if !json.Valid(got) {
			t.Errorf("%s is not JSON", name)
		}
	}
}

func FuzzLossyUTF8(f *testing.F) {
	for _, s := range []string{"", "abc", "\xF0\x90\x80", "\xE2\x82X", "\xED\xA0\x80", "\xF4\x90\x80\x80", "€\xff€"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := utf8lossy.String(s)
		if !utf8.ValidString(got) {
			t.Fatalf("utf8lossy.String(%q) = %q is not UTF-8", s, got)
		}
		if utf8.ValidString(s) && got != s {
			t.Fatalf("valid input changed: %q -> %q", s, got)
		}
		if len(got) > 3*len(s) {
			t.Fatalf("output %d bytes for %d input bytes", len(got), len(s))
		}
	})
}

// FuzzPageQuery feeds arbitrary list queries through the handler: never a panic, always a 200
// page or a 400 error object.
func FuzzPageQuery(f *testing.F) {
	for _, s := range []string{"", "from=1", "to=5&limit=1", "from-nonce=-1", "from-nonce=9223372036854775807", "limit=0", "to-nonce=-5"} {
		f.Add(s)
	}
	e := newTestEnv(f)
	p := e.process()
	e.submit(p)
	e.submit(e.message(p.ID(), nil))
	h := e.su.Handler()
	f.Fuzz(func(t *testing.T, query string) {
		q, err := url.ParseQuery(query)
		if err != nil {
			return
		}
		q.Set("process-id", p.ID())
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/"+p.ID()+"?"+q.Encode(), nil))
		var v map[string]any
		if (rec.Code != 200 && rec.Code != 400) || json.Unmarshal(rec.Body.Bytes(), &v) != nil {
			t.Fatalf("%q: %d %s", query, rec.Code, rec.Body)
		}
	})
}
