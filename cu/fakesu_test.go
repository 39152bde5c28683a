package cu

import (
	"bytes"
	"context"
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
	"sync/atomic"
	"testing"

	"github.com/aonode/aonode/dataitem"
	"github.com/aonode/aonode/dataitem/aoapi"
	"github.com/aonode/aonode/su/sutest"
)

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func randID() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return b64(b)
}

// fakeSU is a real SU (su/sutest) whose answers a test can bend the way a remote SU might:
// a legacy process without its nonce-0 slot, a broken hash chain, a page request that blocks.
type fakeSU struct {
	t   testing.TB
	srv *sutest.Server

	mu    sync.Mutex
	procs map[string]*fakeProcess
	// block, when set, is consulted for every page request; it may block.
	block func(pid string, fromNonce int64)
	pages int
	slots atomic.Uint64 // items submitted
}

type fakeProcess struct {
	def     aoapi.Process // its owner, as the SU serves it
	owner   dataitem.Signer
	legacy  bool // its schedule starts with the first message at nonce 0, as before AOP-6
	corrupt int  // the nonce whose Hash-Chain is served wrong (0: none)
}

type anyPusher struct{}

func (anyPusher) TrustedPusher(string) bool { return true }

func newFakeSU(t testing.TB) *fakeSU {
	f := &fakeSU{t: t, procs: make(map[string]*fakeProcess)}
	// The height rises by one every ten slots, so that a slot's height is its own.
	// Every signer may push forwarded messages: the CU's tests are about what it does with
	// them, not about the SU's trust in pushers.
	f.srv = sutest.New(t, sutest.Options{BlockHeight: func() uint64 { return 1500000 + f.slots.Load()/10 }, Pushers: anyPusher{}})
	f.srv.Use(f.bend)
	return f
}

func (f *fakeSU) URL() string { return f.srv.URL }

// addProcess creates a process (AOP-6 unless legacy) with extra tags.
func (f *fakeSU) addProcess(moduleID string, legacy bool, tags ...Tag) string {
	owner := sutest.Key(f.t)
	p := f.srv.Process(f.t, owner, moduleID, "process data", itemTags(tags)...)
	f.submit(p)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.procs[p.ID()] = &fakeProcess{
		def:    aoapi.Process{Owner: aoapi.Owner{Address: p.Address(), Key: b64(p.Owner)}},
		owner:  owner,
		legacy: legacy,
	}
	return p.ID()
}

func itemTags(tags []Tag) []dataitem.Tag {
	out := make([]dataitem.Tag, len(tags))
	for i, t := range tags {
		out[i] = dataitem.Tag(t)
	}
	return out
}

// addMessage schedules a message with the given tags, tsStep ms after the previous slot.
func (f *fakeSU) addMessage(pid string, tsStep int64, data string, tags ...Tag) string {
	return f.addMessageBy(pid, sutest.Key(f.t), tsStep, data, tags...)
}

// addMessageBy schedules a message signed by owner.
func (f *fakeSU) addMessageBy(pid string, owner dataitem.Signer, tsStep int64, data string, tags ...Tag) string {
	f.srv.Advance(tsStep)
	m := sutest.Message(f.t, owner, pid, data, itemTags(tags)...)
	// ed25519 signatures are deterministic: the same owner sending the same data and tags
	// twice makes the same item, which an SU refuses. Such a repeat gets an anchor of its own.
	for n := 1; f.held(m.ID()); n++ {
		target, _ := dataitem.DecodeID(pid)
		anchor := fmt.Sprintf("repeat-%025d", n)
		var err error
		m, err = dataitem.Sign(owner, dataitem.Fields{Target: target[:], Anchor: []byte(anchor), Tags: m.Tags, Data: m.Data})
		if err != nil {
			f.t.Fatal(err)
		}
	}
	f.submit(m)
	return m.ID()
}

// held reports whether the SU already holds item id.
func (f *fakeSU) held(id string) bool {
	_, err := f.srv.DB.Item(id)
	return err == nil
}

func (f *fakeSU) submit(it *dataitem.Item) {
	f.srv.Submit(f.t, it.Raw())
	f.slots.Add(1)
}

// assign gives pid a pure assignment of an item the SU holds in another process; the SU
// serves its slot with "message": null.
func (f *fakeSU) assign(pid, mid string, tsStep int64) string {
	f.srv.Advance(tsStep)
	res, err := f.srv.SU.AssignExisting(context.Background(), pid, mid, nil)
	if err != nil {
		f.t.Fatal(err)
	}
	f.slots.Add(1)
	return res.Slot.AssignmentID
}

// processOwner returns the key that signed pid.
func (f *fakeSU) processOwner(pid string) dataitem.Signer {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.procs[pid].owner
}

// corruptChain serves a wrong Hash-Chain on slot n.
func (f *fakeSU) corruptChain(pid string, n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.procs[pid].corrupt = n
}

// bend serves the SU's answers with the test's changes: it blocks page requests when asked,
// and rewrites the slots of legacy and corrupted processes.
func (f *fakeSU) bend(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		pid := r.URL.Query().Get("process-id")
		if r.Method == http.MethodGet && pid != "" && strings.Trim(r.URL.Path, "/") == pid {
			from := int64(-1)
			if v := r.URL.Query().Get("from-nonce"); v != "" {
				from, _ = strconv.ParseInt(v, 10, 64)
			}
			f.mu.Lock()
			block := f.block
			f.pages++
			f.mu.Unlock()
			if block != nil {
				block(pid, from)
			}
		}
		rec := httptest.NewRecorder()
		next.ServeHTTP(rec, r)
		body := rec.Body.Bytes()
		if rec.Code == http.StatusOK && r.Method == http.MethodGet {
			body = f.rewrite(body)
		}
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(rec.Code)
		_, _ = w.Write(body)
	})
}

// rewrite applies the bends to a page or a message node; other answers pass unchanged.
func (f *fakeSU) rewrite(body []byte) []byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	var page aoapi.Page
	if json.Unmarshal(body, &page) == nil && bytes.Contains(body, []byte(`"page_info"`)) {
		edges := page.Edges[:0]
		for _, e := range page.Edges {
			if f.bendNode(&e.Node) {
				edges = append(edges, e)
			}
		}
		page.Edges = edges
		out, _ := json.Marshal(page)
		return out
	}
	var node aoapi.MessageNode
	if json.Unmarshal(body, &node) == nil && node.Assignment != nil {
		f.bendNode(&node)
		out, _ := json.Marshal(node)
		return out
	}
	return body
}

// renumber serves slot k of a legacy process as slot k-1, with the hash chain that starts
// from the process id at its first message.
func (f *fakeSU) renumber(pid string, k int, a *aoapi.Assignment) {
	p, _ := base64.RawURLEncoding.DecodeString(pid)
	chain := sha256.Sum256(p)
	for j := 2; j <= k; j++ {
		prev, err := f.srv.DB.Slot(pid, uint64(j-1))
		if err != nil {
			f.t.Errorf("legacy slot %d: %v", j-1, err)
			return
		}
		aid, _ := base64.RawURLEncoding.DecodeString(prev.AssignmentID)
		chain = sha256.Sum256(append(aid, chain[:]...))
	}
	tags := append([]aoapi.Tag(nil), a.Tags...)
	for i := range tags {
		switch tags[i].Name {
		case "Nonce":
			tags[i].Value = strconv.Itoa(k - 1)
		case "Hash-Chain":
			tags[i].Value = b64(chain[:])
		}
	}
	a.Tags = tags
}

// bendNode corrupts the node's hash chain when asked; false drops the node (a legacy
// process's slot 0).
func (f *fakeSU) bendNode(n *aoapi.MessageNode) bool {
	if n.Assignment == nil {
		return true
	}
	pid, _ := aoapi.TagValue(n.Assignment.Tags, "Process")
	nonce, _ := aoapi.TagValue(n.Assignment.Tags, "Nonce")
	p := f.procs[pid]
	if p == nil {
		return true
	}
	if p.legacy {
		k, _ := strconv.Atoi(nonce)
		if k == 0 {
			return false
		}
		f.renumber(pid, k, n.Assignment)
	}
	if p.corrupt != 0 && nonce == strconv.Itoa(p.corrupt) {
		tags := append([]aoapi.Tag(nil), n.Assignment.Tags...)
		for i := range tags {
			if tags[i].Name == "Hash-Chain" {
				tags[i].Value = randID()
			}
		}
		n.Assignment.Tags = tags
	}
	return true
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
	id := randID()
	g.addModuleAs(id, wasm, tags)
	return id
}

// addModuleAs serves an item under a given id.
func (g *fakeGateway) addModuleAs(id string, wasm []byte, tags []Tag) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.modules[id] = fakeModuleDef{tags: tags, wasm: wasm}
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
		Owner     Owner   `json:"owner"`
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
