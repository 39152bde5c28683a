package cu

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/aonode/aonode/aoapi"
)

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func randID() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return b64(b)
}

func newOwner() Owner {
	k := make([]byte, 32)
	_, _ = rand.Read(k)
	sum := sha256.Sum256(k)
	return Owner{Address: b64(sum[:]), Key: b64(k)}
}

// fakeSU speaks the reference SU's read API (ao-protocol.md §1.1-1.2) over httptest.
type fakeSU struct {
	t   testing.TB
	srv *httptest.Server

	mu    sync.Mutex
	procs map[string]*fakeProcess
	// block, when set, is consulted for every page request; it may block.
	block func(pid string, fromNonce int64)
	pages int
	now   int64
}

type fakeProcess struct {
	def    aoapi.Process
	legacy bool
	slots  []aoapi.MessageNode // in nonce order
}

func newFakeSU(t testing.TB) *fakeSU {
	f := &fakeSU{t: t, procs: make(map[string]*fakeProcess), now: 1_700_000_000_000}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeSU) URL() string { return f.srv.URL }

// addProcess creates a process (AOP-6 unless legacy) with extra tags.
func (f *fakeSU) addProcess(moduleID string, legacy bool, tags ...Tag) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	pid := randID()
	all := append([]Tag{
		{Name: "Data-Protocol", Value: "ao"}, {Name: "Variant", Value: "ao.TN.1"},
		{Name: "Type", Value: "Process"}, {Name: "Module", Value: moduleID},
		{Name: "Scheduler", Value: "sched"},
	}, tags...)
	data := "process data"
	p := &fakeProcess{legacy: legacy, def: aoapi.Process{
		ProcessID: pid, Block: "000001500000", Owner: newOwner(), Tags: all,
		Timestamp: f.now, Data: &data, Signature: randID(),
	}}
	f.procs[pid] = p
	if !legacy {
		f.appendSlotLocked(p, &aoapi.Message{ID: pid, Owner: p.def.Owner, Data: &data, Tags: all, Signature: p.def.Signature}, 0)
	}
	return pid
}

func (f *fakeSU) appendSlotLocked(p *fakeProcess, m *aoapi.Message, tsStep int64) aoapi.MessageNode {
	nonce := len(p.slots)
	var hc [32]byte
	if nonce == 0 {
		pidb, _ := base64.RawURLEncoding.DecodeString(p.def.ProcessID)
		hc = sha256.Sum256(pidb)
	} else {
		prev := p.slots[nonce-1].Assignment
		a, _ := base64.RawURLEncoding.DecodeString(prev.ID)
		pc, _ := tagValue(prev.Tags, "Hash-Chain")
		c, _ := base64.RawURLEncoding.DecodeString(pc)
		hc = sha256.Sum256(append(a, c...))
	}
	f.now += tsStep
	tags := []Tag{
		{Name: "Process", Value: p.def.ProcessID}, {Name: "Epoch", Value: "0"},
		{Name: "Nonce", Value: strconv.Itoa(nonce)}, {Name: "Hash-Chain", Value: b64(hc[:])},
		{Name: "Block-Height", Value: fmt.Sprintf("%012d", 1500000+nonce/10)},
		{Name: "Timestamp", Value: strconv.FormatInt(f.now, 10)},
		{Name: "Data-Protocol", Value: "ao"}, {Name: "Type", Value: "Assignment"}, {Name: "Variant", Value: "ao.TN.1"},
	}
	if m.ID != p.def.ProcessID {
		tags = append(tags, Tag{Name: "Message", Value: m.ID})
	}
	s := aoapi.MessageNode{Message: m, Assignment: &aoapi.Assignment{ID: randID(), Owner: newOwner(), Tags: tags, Signature: randID()}}
	p.slots = append(p.slots, s)
	return s
}

// addMessage schedules a message with the given tags, tsStep ms after the previous slot.
func (f *fakeSU) addMessage(pid string, tsStep int64, data string, tags ...Tag) string {
	return f.addMessageBy(pid, newOwner(), tsStep, data, tags...)
}

// addMessageBy schedules a message signed by owner.
func (f *fakeSU) addMessageBy(pid string, owner Owner, tsStep int64, data string, tags ...Tag) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	p := f.procs[pid]
	id := randID()
	all := append([]Tag{{Name: "Data-Protocol", Value: "ao"}, {Name: "Type", Value: "Message"}}, tags...)
	f.appendSlotLocked(p, &aoapi.Message{ID: id, Owner: owner, Data: &data, Tags: all, Signature: randID(), Target: pid}, tsStep)
	return id
}

// processOwner returns the owner of pid.
func (f *fakeSU) processOwner(pid string) Owner {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.procs[pid].def.Owner
}

// corruptChain replaces the Hash-Chain of slot n.
func (f *fakeSU) corruptChain(pid string, n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	tags := f.procs[pid].slots[n].Assignment.Tags
	for i := range tags {
		if tags[i].Name == "Hash-Chain" {
			tags[i].Value = randID()
		}
	}
}

func (f *fakeSU) writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (f *fakeSU) notFound(w http.ResponseWriter) {
	f.writeJSON(w, http.StatusBadRequest, map[string]string{"error": "Message or Process not found"})
}

func (f *fakeSU) serve(w http.ResponseWriter, r *http.Request) {
	path := strings.Trim(r.URL.Path, "/")
	q := r.URL.Query()
	switch {
	case path == "timestamp":
		f.mu.Lock()
		now := f.now
		f.mu.Unlock()
		f.writeJSON(w, 200, map[string]string{"timestamp": strconv.FormatInt(now, 10), "block_height": "000001500999"})
		return
	case strings.HasPrefix(path, "processes/"):
		f.mu.Lock()
		p := f.procs[strings.TrimPrefix(path, "processes/")]
		f.mu.Unlock()
		if p == nil {
			f.notFound(w)
			return
		}
		f.writeJSON(w, 200, p.def)
		return
	case strings.HasSuffix(path, "/latest"):
		f.mu.Lock()
		defer f.mu.Unlock()
		p := f.procs[strings.TrimSuffix(path, "/latest")]
		if p == nil || len(p.slots) == 0 {
			f.writeJSON(w, 400, map[string]string{"error": "Latest message not available"})
			return
		}
		f.writeJSON(w, 200, p.slots[len(p.slots)-1])
		return
	}
	pid := q.Get("process-id")
	if pid == "" {
		http.Error(w, "Query deserialize error: missing field `process-id`", 400)
		return
	}
	f.mu.Lock()
	p := f.procs[pid]
	f.mu.Unlock()
	if p == nil {
		f.notFound(w)
		return
	}
	if path != pid {
		f.mu.Lock()
		defer f.mu.Unlock()
		for _, s := range p.slots {
			if (s.Message != nil && s.Message.ID == path) || s.Assignment.ID == path {
				f.writeJSON(w, 200, s)
				return
			}
		}
		f.notFound(w)
		return
	}
	from := int64(-1)
	if v := q.Get("from-nonce"); v != "" {
		from, _ = strconv.ParseInt(v, 10, 64)
	}
	limit := 100
	if v := q.Get("limit"); v != "" {
		limit, _ = strconv.Atoi(v)
	}
	f.mu.Lock()
	block := f.block
	f.pages++
	f.mu.Unlock()
	if block != nil {
		block(pid, from)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	type edge struct {
		Node   aoapi.MessageNode `json:"node"`
		Cursor string            `json:"cursor"`
	}
	var page struct {
		PageInfo struct {
			HasNextPage bool `json:"has_next_page"`
		} `json:"page_info"`
		Edges []edge `json:"edges"`
	}
	page.Edges = []edge{}
	for n := from + 1; n < int64(len(p.slots)); n++ {
		if len(page.Edges) == limit {
			page.PageInfo.HasNextPage = true
			break
		}
		page.Edges = append(page.Edges, edge{Node: p.slots[n], Cursor: strconv.FormatInt(n, 10)})
	}
	f.writeJSON(w, 200, page)
}

// fakeGateway serves module metadata (/graphql) and binaries (/raw/{id}).
type fakeGateway struct {
	srv     *httptest.Server
	mu      sync.Mutex
	modules map[string]fakeModuleDef
	raws    int
}

type fakeModuleDef struct {
	tags []Tag
	wasm []byte
}

func newFakeGateway(t testing.TB) *fakeGateway {
	g := &fakeGateway{modules: make(map[string]fakeModuleDef)}
	g.srv = httptest.NewServer(http.HandlerFunc(g.serve))
	t.Cleanup(g.srv.Close)
	return g
}

func moduleTags(format string, extra ...Tag) []Tag {
	return append([]Tag{
		{Name: "Data-Protocol", Value: "ao"}, {Name: "Type", Value: "Module"},
		{Name: "Module-Format", Value: format}, {Name: "Input-Encoding", Value: "JSON-1"},
		{Name: "Output-Encoding", Value: "JSON-1"}, {Name: "Variant", Value: "ao.TN.1"},
	}, extra...)
}

func (g *fakeGateway) addModule(wasm []byte, tags []Tag) string {
	g.mu.Lock()
	defer g.mu.Unlock()
	id := randID()
	g.modules[id] = fakeModuleDef{tags: tags, wasm: wasm}
	return id
}

func (g *fakeGateway) serve(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if strings.HasPrefix(r.URL.Path, "/raw/") {
		m, ok := g.modules[strings.TrimPrefix(r.URL.Path, "/raw/")]
		if !ok {
			http.NotFound(w, r)
			return
		}
		g.raws++
		_, _ = w.Write(m.wasm)
		return
	}
	if r.URL.Path != "/graphql" {
		http.NotFound(w, r)
		return
	}
	var req struct {
		Query     string `json:"query"`
		Variables struct {
			IDs []string `json:"ids"`
		} `json:"variables"`
	}
	_ = json.NewDecoder(r.Body).Decode(&req)
	type node struct {
		ID        string  `json:"id"`
		Signature string  `json:"signature"`
		Anchor    *string `json:"anchor"`
		Owner     Owner `json:"owner"`
		Tags      []Tag   `json:"tags"`
		Recipient string  `json:"recipient"`
	}
	edges := []map[string]node{}
	for _, id := range req.Variables.IDs {
		if m, ok := g.modules[id]; ok {
			edges = append(edges, map[string]node{"node": {ID: id, Owner: Owner{Address: "module-owner", Key: ""}, Tags: m.tags}})
		}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"data": map[string]any{"transactions": map[string]any{"edges": edges}}})
}
