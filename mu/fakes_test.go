package mu

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aonode/aonode/dataitem"
	"github.com/aonode/aonode/su/sutest"
)

// fakeSU is a real SU (su/sutest) with a recording middleware in front: it keeps what the SU
// accepted so that tests can check what the MU delivered, and how often, and it can answer
// 503 to the next POSTs.
type fakeSU struct {
	addr string
	srv  *sutest.Server

	mu       sync.Mutex
	items    map[string]*dataitem.Item // every item it holds, by id
	procs    map[string]*dataitem.Item
	sched    map[string][]fakeSlot // per process
	accepted map[string]int        // item id -> times scheduled (must stay <= 1)
	order    []string              // accepted item ids, in order
	assigns  map[string]int        // pid|mid -> pure assignments made
	posts    int                   // every POST, replays included
	dups     int
	failNext int // the next POSTs answer 503
}

type fakeSlot struct {
	aid, mid string
	pure     bool
}

func newFakeSU(t testing.TB) *fakeSU {
	t.Helper()
	f := &fakeSU{
		srv:      sutest.New(t, sutest.Options{StartMs: time.Now().UnixMilli(), Pushers: muKey{}}),
		items:    map[string]*dataitem.Item{},
		procs:    map[string]*dataitem.Item{},
		sched:    map[string][]fakeSlot{},
		accepted: map[string]int{},
		assigns:  map[string]int{},
	}
	f.addr = f.srv.Address()
	f.srv.Use(f.record)
	return f
}

// record serves POST / through the SU and books what it accepted; other routes pass through.
func (f *fakeSU) record(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			next.ServeHTTP(w, r)
			return
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		f.posts++
		if f.failNext > 0 {
			f.failNext--
			suError(w, http.StatusServiceUnavailable, "warming up")
			return
		}
		raw, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(raw))
		f.srv.Advance(1) // one ms per item, so that FindAssignment's from is exclusive of the last
		rec := httptest.NewRecorder()
		next.ServeHTTP(rec, r)
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
		if rec.Code != http.StatusOK {
			if strings.Contains(rec.Body.String(), "already exists") {
				f.dups++
			}
			return
		}
		var receipt struct{ ID string }
		_ = json.Unmarshal(rec.Body.Bytes(), &receipt)
		if q := r.URL.Query(); q.Has("assign") {
			pid, mid := q.Get("process-id"), q.Get("assign")
			f.sched[pid] = append(f.sched[pid], fakeSlot{aid: receipt.ID, mid: mid, pure: true})
			f.assigns[pid+"|"+mid]++
			return
		}
		it, err := dataitem.Parse(raw)
		if err != nil {
			panic("the SU accepted an item that does not parse: " + err.Error())
		}
		f.book(it)
		f.accepted[it.ID()]++
		f.order = append(f.order, it.ID())
	})
}

// book notes an item the SU scheduled, with its assignment.
func (f *fakeSU) book(it *dataitem.Item) {
	pid := it.ID()
	if typ, _ := it.Tag("Type"); typ == "Process" {
		f.procs[pid] = it
	} else {
		pid = dataitem.EncodeID(it.Target)
	}
	slot, err := f.srv.DB.SlotByMessage(pid, it.ID())
	if err != nil {
		panic("the SU accepted an item it cannot find: " + err.Error())
	}
	f.items[it.ID()] = it
	f.sched[pid] = append(f.sched[pid], fakeSlot{aid: slot.AssignmentID, mid: it.ID()})
}

func randomID() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return dataitem.EncodeID(b)
}

func suError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

// message returns the item scheduled under id (message id or assignment id) in pid.
func (f *fakeSU) message(pid, id string) (*dataitem.Item, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if id == pid {
		p := f.procs[pid]
		return p, p != nil
	}
	for _, s := range f.sched[pid] {
		if s.aid == id || s.mid == id {
			return f.items[s.mid], true
		}
	}
	return nil, false
}

func (f *fakeSU) snapshot() (accepted map[string]int, order []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	accepted = make(map[string]int, len(f.accepted))
	for k, v := range f.accepted {
		accepted[k] = v
	}
	return accepted, append([]string(nil), f.order...)
}

func (f *fakeSU) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.order)
}

// program computes a process's result for one scheduled item (nil = empty result).
type program func(pid string, it *dataitem.Item) map[string]any

// fakeCU answers GET /result from a program run over what the fake SUs scheduled, and
// GET /cron from a fixed list of edges per process.
type fakeCU struct {
	sus  []*fakeSU
	prog program
	srv  *httptest.Server

	mu       sync.Mutex
	requests map[string]int // pid|id -> GET /result calls
	fail     map[string]int // pid|id -> status to answer instead
	cron     map[string][]map[string]any
	cronFrom []string
}

func newFakeCU(t testing.TB, prog program, sus ...*fakeSU) *fakeCU {
	t.Helper()
	c := &fakeCU{sus: sus, prog: prog, requests: map[string]int{}, fail: map[string]int{}, cron: map[string][]map[string]any{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /result/{id}", c.result)
	mux.HandleFunc("GET /cron/{pid}", c.getCron)
	c.srv = httptest.NewServer(mux)
	t.Cleanup(c.srv.Close)
	return c
}

func emptyResult() map[string]any {
	return map[string]any{"Messages": []any{}, "Spawns": []any{}, "Assignments": []any{}, "Output": "", "GasUsed": 0}
}

func (c *fakeCU) result(w http.ResponseWriter, r *http.Request) {
	id, pid := r.PathValue("id"), r.URL.Query().Get("process-id")
	c.mu.Lock()
	c.requests[pid+"|"+id]++
	status := c.fail[pid+"|"+id]
	c.mu.Unlock()
	if status != 0 {
		suError(w, status, "injected failure")
		return
	}
	for _, su := range c.sus {
		if it, ok := su.message(pid, id); ok {
			res := c.prog(pid, it)
			if res == nil {
				res = emptyResult()
			}
			_ = json.NewEncoder(w).Encode(res)
			return
		}
	}
	suError(w, 404, "message "+id+" has no result in process "+pid)
}

func (c *fakeCU) getCron(w http.ResponseWriter, r *http.Request) {
	pid, from := r.PathValue("pid"), r.URL.Query().Get("from")
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cronFrom = append(c.cronFrom, from)
	edges := []map[string]any{}
	after := from == ""
	for _, e := range c.cron[pid] {
		if after {
			edges = append(edges, e)
		}
		if e["cursor"] == from {
			after = true
		}
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"pageInfo": map[string]bool{"hasNextPage": false}, "edges": edges})
}

func (c *fakeCU) calls(pid, id string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.requests[pid+"|"+id]
}

// --- items ---

// muKey trusts the MU of these tests (keyFromSeed("mu")) to push outbox messages, as a node
// trusts an MU whose record announces the role.
type muKey struct{}

func (muKey) TrustedPusher(addr string) bool {
	return addr == dataitem.OwnerAddress(keyFromSeed("mu").Owner())
}

func keyFromSeed(seed string) dataitem.Signer {
	s := sha256.Sum256([]byte(seed))
	return dataitem.NewEd25519Signer(ed25519.NewKeyFromSeed(s[:]))
}

func mustSign(t testing.TB, s dataitem.Signer, f dataitem.Fields) *dataitem.Item {
	t.Helper()
	it, err := dataitem.Sign(s, f)
	if err != nil {
		t.Fatal(err)
	}
	return it
}

func processItem(t testing.TB, s dataitem.Signer, scheduler, module string, extra ...dataitem.Tag) *dataitem.Item {
	tags := append([]dataitem.Tag{
		{Name: "Data-Protocol", Value: "ao"}, {Name: "Variant", Value: "ao.TN.1"}, {Name: "Type", Value: "Process"},
		{Name: "Module", Value: module}, {Name: "Scheduler", Value: scheduler},
	}, extra...)
	return mustSign(t, s, dataitem.Fields{Tags: tags, Data: []byte(randomID())})
}

func messageItem(t testing.TB, s dataitem.Signer, target string, extra ...dataitem.Tag) *dataitem.Item {
	id, err := dataitem.DecodeID(target)
	if err != nil {
		t.Fatal(err)
	}
	tags := append(append([]dataitem.Tag(nil), extra...),
		dataitem.Tag{Name: "Data-Protocol", Value: "ao"}, dataitem.Tag{Name: "Variant", Value: "ao.TN.1"},
		dataitem.Tag{Name: "Type", Value: "Message"})
	return mustSign(t, s, dataitem.Fields{Target: id[:], Tags: tags, Data: []byte(randomID())})
}

// install schedules a process on the SU directly, as if spawned earlier.
func (f *fakeSU) install(t testing.TB, p *dataitem.Item) {
	f.srv.Submit(t, p.Raw())
	f.mu.Lock()
	defer f.mu.Unlock()
	f.book(p)
}

func anchorFor(id string, i int) string {
	h := sha256.Sum256([]byte(fmt.Sprintf("%s/%d", id, i)))
	return hex.EncodeToString(h[:16])
}

func outMsg(target, anchor string, tags ...Tag) map[string]any {
	return map[string]any{"Target": target, "Anchor": anchor, "Data": "data", "Tags": tags}
}

func tagsOf(it *dataitem.Item) string {
	var b strings.Builder
	for _, t := range it.Tags {
		fmt.Fprintf(&b, "%s=%s;", t.Name, t.Value)
	}
	return b.String()
}
