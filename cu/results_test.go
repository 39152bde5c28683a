package cu

import (
	"encoding/base64"
	"encoding/json"
	"math"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/aonode/aonode/store"
)

func decodeCursor(t testing.TB, c string) map[string]any {
	t.Helper()
	raw, err := base64.StdEncoding.DecodeString(c)
	if err != nil {
		t.Fatalf("cursor %q is not base64: %v", c, err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("cursor %q: %v", raw, err)
	}
	return m
}

func outputs(conn connection) []string {
	var out []string
	for _, e := range conn.Edges {
		var n map[string]json.RawMessage
		_ = json.Unmarshal(e.Node, &n)
		out = append(out, string(n["Output"]))
	}
	return out
}

func TestResultsPaging(t *testing.T) {
	h := newHarness(t, nil)
	defer h.close()
	pid := h.su.addProcess(h.mod, false)
	ids := h.addMessages(pid, 29)
	wantStatus(t, h.get("/result/"+ids[28]+"?process-id="+pid), 200, "")

	var all []string
	from := ""
	for page := 0; ; page++ {
		var conn connection
		r := h.get("/results/" + pid + "?limit=10" + from)
		wantStatus(t, r, 200, "")
		if !strings.HasPrefix(string(r.body), `{"pageInfo":{"hasNextPage":`) {
			t.Fatalf("connection shape: %.80s", r.body)
		}
		r.json(t, &conn)
		all = append(all, outputs(conn)...)
		if len(conn.Edges) > 0 {
			cur := decodeCursor(t, conn.Edges[0].Cursor)
			if cur["sort"] != "ASC" || cur["ordinate"] == nil || cur["timestamp"] == nil {
				t.Fatalf("cursor %v", cur)
			}
			var node map[string]json.RawMessage
			_ = json.Unmarshal(conn.Edges[0].Node, &node)
			if _, ok := node["GasUsed"]; ok {
				t.Fatalf("a /results node carries GasUsed: %s", conn.Edges[0].Node)
			}
		}
		if !conn.PageInfo.HasNextPage {
			break
		}
		if page > 5 {
			t.Fatal("paging does not end")
		}
		from = "&from=" + url.QueryEscape(conn.Edges[len(conn.Edges)-1].Cursor)
	}
	if len(all) != 30 {
		t.Fatalf("paged %d results, want 30", len(all))
	}
	// Each edge names its message (beside the reference's cursor and node).
	var last connection
	h.get("/results/"+pid+"?sort=DESC&limit=1").json(t, &last)
	if len(last.Edges) != 1 || last.Edges[0].MessageID != ids[28] {
		t.Fatalf("the newest edge names %+v, want message %s", last.Edges, ids[28])
	}
	for i, o := range all {
		if !strings.Contains(o, "count="+strconv.Itoa(i+1)+" ") {
			t.Fatalf("result %d out of order: %s", i, o)
		}
	}

	// DESC starts at the latest; limit defaults to 25.
	var desc connection
	h.get("/results/"+pid+"?sort=DESC").json(t, &desc)
	if len(desc.Edges) != 25 || !desc.PageInfo.HasNextPage || !strings.Contains(outputs(desc)[0], "count=30 ") {
		t.Fatalf("DESC: %d edges, first %v", len(desc.Edges), outputs(desc)[:1])
	}
	if decodeCursor(t, desc.Edges[0].Cursor)["sort"] != "DESC" {
		t.Fatal("DESC cursor")
	}
	// DESC below a cursor (to is inclusive).
	var below connection
	h.get("/results/"+pid+"?sort=DESC&limit=3&to="+url.QueryEscape(desc.Edges[4].Cursor)).json(t, &below)
	if got := outputs(below); len(got) != 3 || !strings.Contains(got[0], "count=26 ") || !strings.Contains(got[2], "count=24 ") {
		t.Fatalf("DESC to cursor: %v", got)
	}

	// Millisecond timestamps as bounds: from exclusive, to inclusive.
	r5, err := h.db.EvalResultByMessage(pid, ids[4]) // slot 5, the 6th result
	if err != nil {
		t.Fatal(err)
	}
	r9, _ := h.db.EvalResultByMessage(pid, ids[8])
	var win connection
	h.get("/results/"+pid+"?from="+strconv.FormatInt(r5.Timestamp, 10)+"&to="+strconv.FormatInt(r9.Timestamp, 10)).json(t, &win)
	if got := outputs(win); len(got) != 4 || !strings.Contains(got[0], "count=7 ") || !strings.Contains(got[3], "count=10 ") {
		t.Fatalf("timestamp window: %v", got)
	}
	var descWin connection
	h.get("/results/"+pid+"?sort=DESC&from="+strconv.FormatInt(r5.Timestamp, 10)+"&to="+strconv.FormatInt(r9.Timestamp, 10)).json(t, &descWin)
	if got := outputs(descWin); len(got) != 4 || !strings.Contains(got[0], "count=10 ") || !strings.Contains(got[3], "count=7 ") {
		t.Fatalf("DESC timestamp window: %v", got)
	}
	// An unknown process has no results.
	var none connection
	h.get("/results/"+randID()).json(t, &none)
	if len(none.Edges) != 0 || none.PageInfo.HasNextPage {
		t.Fatal("results for an unknown process")
	}
}

func TestCrons(t *testing.T) {
	h := newHarness(t, nil)
	defer h.close()
	h.rt.record = true
	pid := h.su.addProcess(h.mod, false,
		Tag{Name: "Cron-Interval", Value: "5-seconds"}, Tag{Name: "Cron-Tag-Action", Value: "Tick"})
	for range 3 {
		h.su.addMessage(pid, 10_000, "", Tag{Name: "Action", Value: "Count"})
	}
	var crons connection
	r := h.get("/cron/" + pid)
	wantStatus(t, r, 200, "")
	r.json(t, &crons)
	if len(crons.Edges) != 6 {
		t.Fatalf("%d cron results, want 6 (two per 10 s gap)", len(crons.Edges))
	}
	for _, o := range outputs(crons) {
		if !strings.Contains(o, "cron=true") {
			t.Fatalf("cron output %s", o)
		}
	}
	cur := decodeCursor(t, crons.Edges[0].Cursor)
	if cur["cron"] != "0-5-seconds" || cur["timestamp"] != float64(1_700_000_005_000) {
		t.Fatalf("cron cursor %v", cur)
	}
	// Paging by a cron cursor.
	var rest connection
	h.get("/cron/"+pid+"?from="+url.QueryEscape(crons.Edges[2].Cursor)).json(t, &rest)
	if len(rest.Edges) != 3 || rest.Edges[0].Cursor != crons.Edges[3].Cursor {
		t.Fatalf("cron paging: %d edges", len(rest.Edges))
	}
	var all connection
	h.get("/results/"+pid+"?limit=100").json(t, &all)
	if len(all.Edges) != 10 {
		t.Fatalf("%d results, want 4 scheduled + 6 cron", len(all.Edges))
	}
	named := 0
	for _, e := range all.Edges {
		if e.MessageID != "" {
			named++
		}
	}
	if named != 4 {
		t.Fatalf("%d edges name a message, want the 4 scheduled (crons have none)", named)
	}
	h.rt.mu.Lock()
	first := string(h.rt.seen[1])
	h.rt.mu.Unlock()
	want := `{"Owner":"` + addressFrom(Owner(h.su.procs[pid].def.Owner)) + `","Target":"` + pid + `","From":"` +
		addressFrom(Owner(h.su.procs[pid].def.Owner)) + `","Tags":[{"name":"Action","value":"Tick"}],"Timestamp":1700000005000,"Block-Height":1500000,"Cron":true,"Read-Only":false}`
	if first != want {
		t.Fatalf("cron message\n%s\nwant\n%s", first, want)
	}
	// Cron evaluations are stored between the scheduled slots, in time order.
	var ts []int64
	if err := h.db.EvalResults(pid, 0, 0, false, func(r store.EvalResult) bool {
		ts = append(ts, r.Timestamp)
		return true
	}); err != nil {
		t.Fatal(err)
	}
	for i := 1; i < len(ts); i++ {
		if ts[i] < ts[i-1] {
			t.Fatalf("evaluations out of time order: %v", ts)
		}
	}
}

func TestParseCrons(t *testing.T) {
	crons, err := parseCrons([]Tag{
		{Name: "Cron-Tag-Early", Value: "e"},
		{Name: "Cron-Interval", Value: "10-blocks"},
		{Name: "Cron-Tag-Action", Value: "A"},
		{Name: "Cron-Interval", Value: "1-hour"},
		{Name: "Cron-Tag-Action", Value: "B"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(crons) != 2 || crons[0].blocks != 10 || crons[1].seconds != 3600 || crons[0].id != "0-10-blocks" ||
		len(crons[0].tags) != 2 || crons[1].tags[0].Value != "B" {
		t.Fatalf("%+v", crons)
	}
	for _, bad := range []string{"10", "x-seconds", "5-fortnights", "0-seconds", "500-ms"} {
		if _, err := parseCrons([]Tag{{Name: "Cron-Interval", Value: bad}}); err == nil {
			t.Errorf("Cron-Interval %q accepted", bad)
		}
	}
	for _, tc := range []struct{ from, origin, n, want int64 }{
		{10, 0, 5, 10}, {11, 0, 5, 15}, {-3, 0, 5, 0}, {-7, 0, 5, -5}, {101, 100, 10, 110}, {100, 100, 10, 100},
	} {
		if got := nextMultiple(tc.from, tc.origin, tc.n); got != tc.want {
			t.Errorf("nextMultiple(%d,%d,%d) = %d, want %d", tc.from, tc.origin, tc.n, got, tc.want)
		}
	}
}

func TestParseMemoryLimit(t *testing.T) {
	for in, want := range map[string]uint64{
		"512-mb": 512 << 20, "1-gb": 1 << 30, "16384-mb": 16384 << 20, "100": 100, "1.5-kb": 1536, "2-GB": 2 << 30,
		// Sizes too large for a uint64 are sizes, above any maximum.
		"1e400-mb": math.MaxUint64, "99999999999-pb": math.MaxUint64,
	} {
		if got, ok := parseMemoryLimit(in); !ok || got != want {
			t.Errorf("parseMemoryLimit(%q) = %d, %v; want %d", in, got, ok, want)
		}
	}
	for _, bad := range []string{"", "mb", "-5-mb", "1-xb"} {
		if _, ok := parseMemoryLimit(bad); ok {
			t.Errorf("parseMemoryLimit(%q) accepted", bad)
		}
	}
}

// TestResultsPageByteBudget: a page of /results ends once its results add up to
// MaxPageBytes, whatever the limit, and the rest follows on the next pages.
func TestResultsPageByteBudget(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.MaxPageBytes = 600 })
	defer h.close()
	pid := h.su.addProcess(h.mod, false)
	ids := h.addMessages(pid, 9)
	wantStatus(t, h.get("/result/"+ids[8]+"?process-id="+pid), 200, "")
	seen, pages, from := 0, 0, ""
	for {
		var conn connection
		h.get("/results/"+pid+"?limit=1000"+from).json(t, &conn)
		pages++
		seen += len(conn.Edges)
		if len(conn.Edges) == 0 || len(conn.Edges) > 3 {
			t.Fatalf("page %d has %d results under a 600-byte budget", pages, len(conn.Edges))
		}
		if !conn.PageInfo.HasNextPage {
			break
		}
		from = "&from=" + url.QueryEscape(conn.Edges[len(conn.Edges)-1].Cursor)
	}
	if seen != 10 || pages < 3 {
		t.Fatalf("%d results in %d pages", seen, pages)
	}
}
