package explorer

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"testing"

	"github.com/aonode/aonode/store"
)

// bigProcess fills f's store with a process of n slots, each with a CU result, in batches.
func bigProcess(b testing.TB, f *fixture, n int) (pid string, middle string) {
	pid = f.process("Name", "big")
	const batch = 1000
	for i := 1; i < n; i += batch {
		bt := f.db.NewBatch()
		for j := i; j < min(i+batch, n); j++ {
			m, s := f.messageInto(bt, pid, strconv.Itoa(j), "Action", "Transfer", "Quantity", strconv.Itoa(j))
			f.addResult(bt, s, map[string]any{"Output": "ok " + strconv.Itoa(j), "Messages": []any{}, "Spawns": []any{}, "Assignments": []any{}, "GasUsed": j})
			if j == n/2 {
				middle = m
			}
		}
		if err := f.db.Commit(context.Background(), bt); err != nil {
			b.Fatal(err)
		}
	}
	return pid, middle
}

// BenchmarkExplorer reads the pages of a process of 1,000 and of 100,000 slots: each page
// costs the same whatever the size (AONODE_BENCH_SLOTS overrides the large size).
//
//	go test -run '^$' -bench BenchmarkExplorer -benchtime 200x ./node/explorer/
func BenchmarkExplorer(b *testing.B) {
	large := 100_000
	if v := os.Getenv("AONODE_BENCH_SLOTS"); v != "" {
		var err error
		if large, err = strconv.Atoi(v); err != nil {
			b.Fatal(err)
		}
	}
	for _, n := range []int{1000, large} {
		db := newStore(b, b.TempDir())
		f := newFixtureOn(b, db, nil)
		pid, middle := bigProcess(b, f, n)
		for _, c := range []struct{ name, path string }{
			{"slots-newest", "/api/process/" + pid + "/slots"},
			{"slots-middle", fmt.Sprintf("/api/process/%s/slots?at=%d", pid, n/2)},
			{"slots-oldest", "/api/process/" + pid + "/slots?at=49"},
			{"process", "/api/process/" + pid},
			{"graph", "/api/process/" + pid + "/graph"},
			{"message", "/api/message/" + middle},
			{"search", "/api/search?q=" + middle},
			{"processes", "/api/processes"},
		} {
			b.Run(fmt.Sprintf("slots=%d/%s", n, c.name), func(b *testing.B) {
				req := httptest.NewRequest("GET", c.path, nil)
				cpu := processCPU()
				for b.Loop() {
					rec := httptest.NewRecorder()
					f.ex.ServeHTTP(rec, req)
					if rec.Code != http.StatusOK {
						b.Fatalf("%s: %d %s", c.path, rec.Code, rec.Body)
					}
				}
				// CPU time is disturbed less than wall time by the machine's other tenants.
				b.ReportMetric(float64((processCPU()-cpu).Microseconds())/float64(b.N), "cpu-µs/op")
			})
		}
	}
}

// TestLargeProcessPages checks the pages of a process of many slots at both ends and in the
// middle (AONODE_SOAK=1: 100,000 slots; else 5,000).
func TestLargeProcessPages(t *testing.T) {
	n := 5000
	if os.Getenv("AONODE_SOAK") != "" {
		n = 100_000
	}
	if testing.Short() {
		t.Skip("fills a store with thousands of slots")
	}
	f := newFixtureOn(t, newStore(t, t.TempDir()), nil)
	pid, middle := bigProcess(t, f, n)
	var page slotsReply
	for _, at := range []int{n - 1, n / 2, 49, 0} {
		f.mustGet(fmt.Sprintf("/api/process/%s/slots?at=%d", pid, at), &page)
		want := min(at+1, DefaultPageLimit)
		if len(page.Slots) != want || int(page.Slots[0].Nonce) != at || page.LastNonce != int64(n-1) {
			t.Fatalf("page at %d: %d rows from %d, last %d", at, len(page.Slots), page.Slots[0].Nonce, page.LastNonce)
		}
		for _, r := range page.Slots {
			if !r.ChainOK || (r.Nonce > 0 && (!r.Result.Evaluated || r.Result.Output != "ok "+strconv.Itoa(int(r.Nonce)))) {
				t.Fatalf("row %d: %+v", r.Nonce, r)
			}
		}
	}
	var g graphReply
	f.mustGet("/api/process/"+pid+"/graph", &g)
	if g.ScannedResults != graphResults || g.ScannedSlots != graphSlots || !g.Partial {
		t.Fatalf("graph of a large process read %d results and %d slots (partial %v)", g.ScannedResults, g.ScannedSlots, g.Partial)
	}
	var m messageReply
	f.mustGet("/api/message/"+middle, &m)
	if m.Slot == nil || int(m.Slot.Nonce) != n/2 || !m.Slot.ChainOK || m.Result == nil {
		t.Fatalf("the middle message: %+v", m)
	}
}

// messageInto is message into a batch the caller commits.
func (f *fixture) messageInto(b *store.Batch, pid, data string, extra ...string) (string, store.Slot) {
	f.t.Helper()
	m := f.signMessage(pid, data, extra...)
	return m.ID(), f.add(b, pid, m)
}
