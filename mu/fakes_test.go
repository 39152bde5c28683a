package mu

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aonode/aonode/dataitem"
)

// fakeSU speaks the reference SU JSON and refuses duplicates as the real one does. It records
// everything it accepted so that tests can check what the MU delivered, and how often.
type fakeSU struct {
	addr string
	srv  *httptest.Server

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
	clock    int64
}

type fakeSlot struct {
	aid, mid string
	ts       int64
	pure     bool
}

func newFakeSU(t testing.TB) *fakeSU {
	t.Helper()
	f := &fakeSU{
		addr:     randomID(),
		items:    map[string]*dataitem.Item{},
		procs:    map[string]*dataitem.Item{},
		sched:    map[string][]fakeSlot{},
		accepted: map[string]int{},
		assigns:  map[string]int{},
		clock:    time.Now().UnixMilli(),
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /{$}", f.post)
	mux.HandleFunc("GET /processes/{pid}", f.getProcess)
	mux.HandleFunc("GET /{pid}", f.list)
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

func randomID() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return dataitem.EncodeID(b[:])
}

func suError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

func (f *fakeSU) tick() int64 { f.clock++; return f.clock }

func (f *fakeSU) post(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.posts++
	if f.failNext > 0 {
		f.failNext--
		suError(w, http.StatusServiceUnavailable, "warming up")
		return
	}
	q := r.URL.Query()
	if q.Has("assign") {
		pid, mid := q.Get("process-id"), q.Get("assign")
		if f.procs[pid] == nil {
			suError(w, 400, "Process not found")
			return
		}
		if f.items[mid] == nil {
			suError(w, 400, "Message "+mid+" is not held by this SU")
			return
		}
		for _, s := range f.sched[pid] {
			if s.mid == mid {
				f.dups++
				suError(w, 400, "Message already exists")
				return
			}
		}
		aid := randomID()
		f.sched[pid] = append(f.sched[pid], fakeSlot{aid: aid, mid: mid, ts: f.tick(), pure: true})
		f.assigns[pid+"|"+mid]++
		_ = json.NewEncoder(w).Encode(map[string]any{"id": aid, "timestamp": f.clock})
		return
	}
	raw, _ := io.ReadAll(r.Body)
	it, err := dataitem.ParseVerified(raw)
	if err != nil {
		suError(w, 400, "Invalid data item: "+err.Error())
		return
	}
	id := it.ID()
	typ, _ := it.Tag("Type")
	var pid string
	switch typ {
	case "Process":
		if s, _ := it.Tag("Scheduler"); s != f.addr {
			suError(w, 400, "Process "+id+" is scheduled by "+s+", not by this SU")
			return
		}
		if f.procs[id] != nil {
			f.dups++
			suError(w, 400, "Process "+id+" already exists")
			return
		}
		f.procs[id] = it
		pid = id
	case "Message":
		pid = dataitem.EncodeID(it.Target)
		if f.procs[pid] == nil {
			suError(w, 400, "Process "+pid+" not found on this SU")
			return
		}
		for _, s := range f.sched[pid] {
			if s.mid == id {
				f.dups++
				suError(w, 400, "Message already exists")
				return
			}
		}
	default:
		suError(w, 400, "Unsupported Type tag value")
		return
	}
	f.items[id] = it
	f.accepted[id]++
	f.order = append(f.order, id)
	f.sched[pid] = append(f.sched[pid], fakeSlot{aid: randomID(), mid: id, ts: f.tick()})
	_ = json.NewEncoder(w).Encode(map[string]any{"id": id, "timestamp": f.clock})
}

func tagsJSON(tags []dataitem.Tag) []Tag {
	out := make([]Tag, len(tags))
	for i, t := range tags {
		out[i] = Tag{t.Name, t.Value}
	}
	return out
}

func (f *fakeSU) getProcess(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	p := f.procs[r.PathValue("pid")]
	f.mu.Unlock()
	if p == nil {
		suError(w, 400, "Process not found")
		return
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"process_id": p.ID(), "tags": tagsJSON(p.Tags), "timestamp": 1})
}

func (f *fakeSU) list(w http.ResponseWriter, r *http.Request) {
	pid := r.PathValue("pid")
	from, _ := strconv.ParseInt(r.URL.Query().Get("from"), 10, 64)
	f.mu.Lock()
	defer f.mu.Unlock()
	type edge struct {
		Cursor string         `json:"cursor"`
		Node   map[string]any `json:"node"`
	}
	edges := []edge{}
	for _, s := range f.sched[pid] {
		if s.ts <= from {
			continue
		}
		edges = append(edges, edge{strconv.FormatInt(s.ts, 10), map[string]any{
			"message":    nil,
			"assignment": map[string]any{"id": s.aid, "tags": []Tag{{"Process", pid}, {"Message", s.mid}}},
		}})
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"page_info": map[string]bool{"has_next_page": false}, "edges": edges})
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

// install puts a process straight into a fake SU, as if spawned earlier.
func (f *fakeSU) install(p *dataitem.Item) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.procs[p.ID()] = p
	f.items[p.ID()] = p
	f.sched[p.ID()] = append(f.sched[p.ID()], fakeSlot{aid: randomID(), mid: p.ID(), ts: f.tick()})
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
