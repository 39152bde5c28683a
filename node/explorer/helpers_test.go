package explorer

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aonode/aonode/dataitem"
	"github.com/aonode/aonode/store"
	"github.com/aonode/aonode/su"
)

// fixture is a store filled the way an SU and a CU fill it (su.Assign and su.Apply, the
// CU's result records), with an explorer over it behind an httptest server.
type fixture struct {
	t      testing.TB
	db     *store.DB
	signer dataitem.Signer // the SU's key and the messages' signer
	addr   string
	now    int64
	seq    int64 // messages signed
	mu     sync.Mutex
	heads  map[string]*su.Head
	ex     *Explorer
	srv    *httptest.Server
	net    Network
}

func seedSigner(seed byte) dataitem.Signer {
	var s [32]byte
	for i := range s {
		s[i] = seed
	}
	return dataitem.NewEd25519Signer(ed25519.NewKeyFromSeed(s[:]))
}

func newStore(t testing.TB, dir string) *store.DB {
	t.Helper()
	opts := store.DefaultOptions(dir)
	opts.InMemory = dir == ""
	db, err := store.Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func newFixture(t testing.TB, nw Network) *fixture {
	return newFixtureOn(t, newStore(t, ""), nw)
}

func newFixtureOn(t testing.TB, db *store.DB, nw Network) *fixture {
	t.Helper()
	f := &fixture{t: t, db: db, signer: seedSigner(1), now: 1_700_000_000_000, heads: map[string]*su.Head{}, net: nw}
	f.addr = dataitem.OwnerAddress(f.signer.Owner())
	started := time.UnixMilli(f.now - 3_600_000)
	ex, err := New(Options{
		Store: db,
		Node: func() NodeInfo {
			return NodeInfo{Version: "aonode/test", Roles: []string{"su", "cu"}, Address: f.addr, URL: "http://node.test"}
		},
		Started: started,
		Network: nw,
		Now:     func() time.Time { return time.UnixMilli(f.now) },
	})
	if err != nil {
		t.Fatal(err)
	}
	f.ex = ex
	f.srv = httptest.NewServer(ex)
	t.Cleanup(f.srv.Close)
	return f
}

func tagList(kv ...string) []dataitem.Tag {
	var out []dataitem.Tag
	for i := 0; i+1 < len(kv); i += 2 {
		out = append(out, dataitem.Tag{Name: kv[i], Value: kv[i+1]})
	}
	return out
}

func (f *fixture) sign(fl dataitem.Fields) *dataitem.Item {
	f.t.Helper()
	it, err := dataitem.Sign(f.signer, fl)
	if err != nil {
		f.t.Fatal(err)
	}
	return it
}

// schedule gives item a slot in pid (its nonce-0 slot when item is the process) and commits.
func (f *fixture) schedule(pid string, item *dataitem.Item) store.Slot {
	f.t.Helper()
	b := f.db.NewBatch()
	s := f.add(b, pid, item)
	if err := f.db.Commit(context.Background(), b); err != nil {
		f.t.Fatal(err)
	}
	return s
}

// add is schedule into a batch the caller commits.
func (f *fixture) add(b *store.Batch, pid string, item *dataitem.Item) store.Slot {
	f.t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now++
	in := su.Input{Process: pid, NowMs: f.now, Anchor: make([]byte, 32)}
	if item.ID() != pid {
		in.Message = item.ID()
	}
	a, head, err := su.Assign(f.heads[pid], in, f.signer)
	if err != nil {
		f.t.Fatal(err)
	}
	f.heads[pid] = &head
	s, err := su.Apply(b, a, item)
	if err != nil {
		f.t.Fatal(err)
	}
	return s
}

// process spawns a process with extra tags and returns its id.
func (f *fixture) process(extra ...string) string {
	f.t.Helper()
	tags := tagList("Data-Protocol", "ao", "Variant", "ao.TN.1", "Type", "Process", "Scheduler", f.addr)
	if !slices.Contains(extra, "Module") {
		tags = append(tags, dataitem.Tag{Name: "Module", Value: moduleID})
	}
	tags = append(tags, tagList(extra...)...)
	p := f.sign(dataitem.Fields{Data: []byte("1984"), Tags: tags})
	f.schedule(p.ID(), p)
	return p.ID()
}

// message sends a Message to pid with extra tags and data.
func (f *fixture) message(pid, data string, extra ...string) (*dataitem.Item, store.Slot) {
	f.t.Helper()
	m := f.signMessage(pid, data, extra...)
	return m, f.schedule(pid, m)
}

// signMessage signs a Message to pid; its anchor makes it unique.
func (f *fixture) signMessage(pid, data string, extra ...string) *dataitem.Item {
	f.t.Helper()
	target, err := dataitem.DecodeID(pid)
	if err != nil {
		f.t.Fatal(err)
	}
	tags := append(tagList("Data-Protocol", "ao", "Variant", "ao.TN.1", "Type", "Message"), tagList(extra...)...)
	f.mu.Lock()
	f.seq++
	anchor := anchorOf(f.seq)
	f.mu.Unlock()
	return f.sign(dataitem.Fields{Target: target[:], Data: []byte(data), Tags: tags, Anchor: anchor})
}

func anchorOf(n int64) []byte {
	a := make([]byte, 32)
	copy(a, strconv.FormatInt(n, 10))
	return a
}

// result stores a CU result for slot s of pid, signed as a CU attests it.
func (f *fixture) result(s store.Slot, body map[string]any) {
	f.t.Helper()
	b := f.db.NewBatch()
	f.addResult(b, s, body)
	if err := f.db.Commit(context.Background(), b); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) addResult(b *store.Batch, s store.Slot, body map[string]any) {
	f.t.Helper()
	raw, err := json.Marshal(body)
	if err != nil {
		f.t.Fatal(err)
	}
	_, hasErr := body["Error"]
	if err := b.PutEvalResult(store.EvalResult{
		Process: s.Process, Nonce: s.Nonce, MessageID: s.MessageID, Timestamp: s.Timestamp,
		HasError: hasErr, Result: raw, MemorySHA256: make([]byte, 32), HashChain: s.HashChain, AssignmentID: s.AssignmentID,
	}); err != nil {
		f.t.Fatal(err)
	}
}

// moduleID is a module id the processes name (the explorer does not load modules).
var moduleID = dataitem.EncodeID(make([]byte, 32))

// get asks the explorer and decodes its JSON answer into v (when not nil).
func (f *fixture) get(path string, v any) int {
	f.t.Helper()
	resp, err := http.Get(f.srv.URL + path)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	if v != nil {
		if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
			f.t.Fatalf("GET %s: %d, not JSON: %v", path, resp.StatusCode, err)
		}
	}
	return resp.StatusCode
}

// mustGet is get that wants 200.
func (f *fixture) mustGet(path string, v any) {
	f.t.Helper()
	if code := f.get(path, v); code != http.StatusOK {
		var e map[string]any
		f.get(path, &e)
		f.t.Fatalf("GET %s: %d %v", path, code, e)
	}
}
