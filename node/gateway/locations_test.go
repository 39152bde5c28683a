package gateway

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aonode/aonode/dataitem"
	"github.com/aonode/aonode/dataitem/aoapi"
	"github.com/aonode/aonode/store"
)

// newGateway is newFixture with options and the Gateway itself.
func newGateway(t *testing.T, opts Options) (*fixture, *Gateway) {
	t.Helper()
	db, err := store.Open(store.Options{InMemory: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	opts.Store = db
	opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	g, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(g)
	t.Cleanup(func() {
		srv.Close()
		_ = db.Close()
	})
	return &fixture{db: db, srv: srv}, g
}

func location(t *testing.T, s dataitem.Signer, url string, ttl time.Duration, issued time.Time) *dataitem.Item {
	t.Helper()
	f, err := aoapi.SchedulerLocationFields(url, ttl, issued)
	if err != nil {
		t.Fatal(err)
	}
	it, err := dataitem.Sign(s, f)
	if err != nil {
		t.Fatal(err)
	}
	return it
}

// TestPutSchedulerLocation: the gateway keeps one location per scheduler, the newest that
// says something new or refreshes one half its Time-To-Live old, and deletes what it
// replaces; an older one, also uploaded by POST /tx, does not win.
func TestPutSchedulerLocation(t *testing.T) {
	f, g := newGateway(t, Options{})
	ctx := context.Background()
	su := signer(20)
	addr := dataitem.OwnerAddress(su.Owner())
	t0 := time.UnixMilli(1_700_000_000_000)
	newest := func() string {
		code, body := f.gql(t, schedulerLocationQuery, map[string]any{"owner": addr})
		if code != http.StatusOK {
			t.Fatalf("%d %s", code, body)
		}
		return body
	}
	put := func(it *dataitem.Item, want bool) {
		t.Helper()
		if stored, err := g.PutSchedulerLocation(ctx, it); err != nil || stored != want {
			t.Fatalf("PutSchedulerLocation %s: stored %v (%v), want %v", it.ID(), stored, err, want)
		}
	}
	a := location(t, su, "http://a/su", time.Hour, t0)
	put(a, true)
	put(a, false)
	put(location(t, su, "http://a/su", time.Hour, t0.Add(10*time.Minute)), false) // fresh enough
	put(location(t, su, "http://a/su", time.Hour, t0.Add(-time.Minute)), false)   // older
	b := location(t, su, "http://b/su", time.Hour, t0.Add(11*time.Minute))        // moved
	put(b, true)
	if !strings.Contains(newest(), "http://b/su") {
		t.Fatalf("newest after the move: %s", newest())
	}
	if has, _ := f.db.HasItem(a.ID()); has {
		t.Fatal("the replaced location is still stored")
	}
	c := location(t, su, "http://b/su", time.Hour, t0.Add(41*time.Minute)) // half the TTL later
	put(c, true)
	if has, _ := f.db.HasItem(b.ID()); has {
		t.Fatal("the refreshed location is still stored")
	}
	// An old one replayed through POST /tx is answered but does not become the newest.
	f.upload(t, location(t, su, "http://old/su", time.Hour, t0))
	if body := newest(); !strings.Contains(body, `"1700002460000"`) || strings.Contains(body, "http://old/su") {
		t.Fatalf("after a replay: %s", body)
	}
	// Not a location at all.
	if _, err := g.PutSchedulerLocation(ctx, sign(t, su, nil, "", "Type", "Module")); !errors.Is(err, aoapi.ErrNotSchedulerLocation) {
		t.Fatalf("a module as a location: %v", err)
	}
	// A reference-style location (no Timestamp) uploaded by its owner is kept; a gossiped one
	// later still wins, and the reference-style one is left in place.
	ref := sign(t, su, nil, "1984", "Data-Protocol", "ao", "Type", "Scheduler-Location", "Url", "http://ref/su", "Time-To-Live", "3600000")
	f.upload(t, ref)
	if !strings.Contains(newest(), "http://ref/su") {
		t.Fatalf("reference-style upload: %s", newest())
	}
	put(location(t, su, "http://b/su", time.Hour, t0.Add(50*time.Minute)), true)
	if has, _ := f.db.HasItem(ref.ID()); !has || !strings.Contains(newest(), "http://b/su") {
		t.Fatalf("after a gossiped one: ref held %v, newest %s", has, newest())
	}
}

// fakePeers answers Fetch from items, counting calls; block, when set, holds every call until
// it is closed.
type fakePeers struct {
	mu    sync.Mutex
	items map[string]*dataitem.Item
	calls atomic.Int32
	block chan struct{}
	wrong *dataitem.Item // answered for every id, when set
}

func (p *fakePeers) Fetch(ctx context.Context, id string) (*dataitem.Item, error) {
	p.calls.Add(1)
	if p.block != nil {
		select {
		case <-p.block:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if p.wrong != nil {
		return p.wrong, nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if it, ok := p.items[id]; ok {
		return it, nil
	}
	return nil, errors.New("not at any peer")
}

type manualNow struct {
	mu sync.Mutex
	t  time.Time
}

func (m *manualNow) now() time.Time { m.mu.Lock(); defer m.mu.Unlock(); return m.t }
func (m *manualNow) add(d time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.t = m.t.Add(d)
}

// TestPeerLookups: an id the store lacks is fetched from the peers by GET /{id}, /raw/{id}
// and GraphQL ids, then kept; a miss is remembered for PeerMissTTL; a peer answering with
// another item is refused; concurrent requests for one id make one fetch; one GraphQL request
// asks the peers for a few ids only.
func TestPeerLookups(t *testing.T) {
	peers := &fakePeers{items: map[string]*dataitem.Item{}}
	clk := &manualNow{t: time.Unix(1000, 0)}
	f, _ := newGateway(t, Options{Peers: peers, Now: clk.now})
	mod := moduleItem(t, signer(21))
	peers.items[mod.ID()] = mod

	get := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get(f.srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/raw/" + mod.ID()); code != 200 || body != string(mod.Data) {
		t.Fatalf("GET /raw of a peer's module: %d", code)
	}
	if has, _ := f.db.HasItem(mod.ID()); !has || peers.calls.Load() != 1 {
		t.Fatalf("kept %v after %d fetches", has, peers.calls.Load())
	}
	if code, _ := get("/" + mod.ID()); code != 200 || peers.calls.Load() != 1 {
		t.Fatalf("second look-up: %d, %d fetches", code, peers.calls.Load())
	}
	// GraphQL by tag finds it now too: it was stored with its indexes.
	if code, body := f.gql(t, `{ transactions(tags: [{name: "Type", values: ["Module"]}]) { edges { node { id } } } }`, nil); code != 200 || !strings.Contains(body, mod.ID()) {
		t.Fatalf("by tag: %d %s", code, body)
	}

	missing := strings.Repeat("A", 43)
	for range 3 {
		if code, body := get("/" + missing); code != 404 || !strings.Contains(body, `"error"`) {
			t.Fatalf("a miss: %d %s", code, body)
		}
	}
	if n := peers.calls.Load(); n != 2 {
		t.Fatalf("%d fetches after three misses of one id, want 1 more", n-1)
	}
	clk.add(PeerMissTTL)
	get("/" + missing)
	if n := peers.calls.Load(); n != 3 {
		t.Fatalf("the miss was not asked again after PeerMissTTL (%d fetches)", n)
	}

	// GraphQL ids: at most maxPeerFetchesPerPost unknown ids go to the peers.
	other := moduleItem(t, signer(22))
	peers.items[other.ID()] = other
	var ids []string
	for i := range 10 {
		ids = append(ids, strings.Repeat(string(rune('C'+i)), 42)+"A")
	}
	before := peers.calls.Load()
	code, body := f.gql(t, `query($ids: [ID!]!) { transactions(ids: $ids) { edges { node { id } } } }`, map[string]any{"ids": append([]string{other.ID()}, ids...)})
	if code != 200 || !strings.Contains(body, other.ID()) {
		t.Fatalf("GraphQL ids from a peer: %d %s", code, body)
	}
	if n := peers.calls.Load() - before; n != maxPeerFetchesPerPost {
		t.Fatalf("%d fetches for one GraphQL request, want %d", n, maxPeerFetchesPerPost)
	}

	// A peer that answers with another item is not believed.
	bad, _ := newGateway(t, Options{Peers: &fakePeers{wrong: mod}})
	resp, err := http.Get(bad.srv.URL + "/" + other.ID())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if has, _ := bad.db.HasItem(mod.ID()); resp.StatusCode != 404 || has {
		t.Fatalf("a wrong item: %d, stored %v", resp.StatusCode, has)
	}

	// Concurrent look-ups of one id share one fetch.
	slow := &fakePeers{items: map[string]*dataitem.Item{mod.ID(): mod}, block: make(chan struct{})}
	sf, _ := newGateway(t, Options{Peers: slow})
	var wg sync.WaitGroup
	codes := make([]int, 5)
	for i := range codes {
		wg.Go(func() {
			resp, err := http.Get(sf.srv.URL + "/raw/" + mod.ID())
			if err != nil {
				return
			}
			resp.Body.Close()
			codes[i] = resp.StatusCode
		})
	}
	waitCalls := time.Now().Add(10 * time.Second)
	for slow.calls.Load() == 0 && time.Now().Before(waitCalls) {
		time.Sleep(5 * time.Millisecond)
	}
	close(slow.block)
	wg.Wait()
	for i, c := range codes {
		if c != 200 {
			t.Fatalf("request %d: %d", i, c)
		}
	}
	if n := slow.calls.Load(); n != 1 {
		t.Fatalf("%d fetches", n)
	}
}
