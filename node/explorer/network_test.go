package explorer

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync/atomic"
	"testing"
	"time"
)

// fakeNetwork is a directory of nodes whose connections are given.
type fakeNetwork struct {
	self  string
	nodes []Peer
	links map[string][]string
	fail  map[string]bool
	slow  map[string]bool
	asked *atomic.Int64
}

func (n fakeNetwork) Self() string  { return n.self }
func (n fakeNetwork) Nodes() []Peer { return append([]Peer(nil), n.nodes...) }

func (n fakeNetwork) Connections(ctx context.Context, p Peer) ([]string, error) {
	if n.asked != nil {
		n.asked.Add(1)
	}
	if n.slow[p.PeerID] {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	if n.fail[p.PeerID] {
		return nil, errors.New("connection refused")
	}
	return n.links[p.PeerID], nil
}

// ringNetwork is n nodes, each connected to its two neighbours and to node 0.
func ringNetwork(n int) fakeNetwork {
	nw := fakeNetwork{self: peerName(0), links: map[string][]string{}, fail: map[string]bool{}, slow: map[string]bool{}, asked: &atomic.Int64{}}
	roles := [][]string{{"su", "cu", "mu"}, {"su"}, {"cu"}, {"mu"}}
	for i := range n {
		id := peerName(i)
		nw.nodes = append(nw.nodes, Peer{PeerID: id, URL: fmt.Sprintf("http://127.0.0.1:%d", 9000+i), Roles: roles[i%len(roles)], Scheduler: fmt.Sprintf("sched-%d", i), Connected: i <= 2 || i == n-1})
		for _, j := range []int{(i + 1) % n, (i + n - 1) % n, 0} {
			if j != i {
				nw.links[id] = append(nw.links[id], peerName(j))
			}
		}
	}
	return nw
}

func peerName(i int) string { return fmt.Sprintf("12D3KooWpeer%03d", i) }

func TestNetworkViewOf50Nodes(t *testing.T) {
	nw := ringNetwork(50)
	nw.fail[peerName(7)] = true
	f := newFixture(t, nw)
	f.process("Name", "p")
	var r networkReply
	f.mustGet("/api/network", &r)
	if !r.Available || r.Self != peerName(0) || len(r.Nodes) != 50 {
		t.Fatalf("view: available %v self %s, %d nodes", r.Available, r.Self, len(r.Nodes))
	}
	if !r.Nodes[0].Self || r.Nodes[0].PeerID != peerName(0) {
		t.Fatalf("this node is not first: %+v", r.Nodes[0])
	}
	// A ring of 50 plus spokes to node 0: 50 ring links and 47 spokes (nodes 1 and 49 are
	// ring neighbours of node 0 already), less the spoke of node 7, which only node 7 reports
	// and which does not answer.
	if len(r.Links) != 96 {
		t.Fatalf("%d links, want 96", len(r.Links))
	}
	for _, n := range r.Nodes {
		if n.PeerID == peerName(7) {
			if n.Asked || n.Error == "" {
				t.Fatalf("failing node %+v", n)
			}
		} else if !n.Asked {
			t.Fatalf("node %s not asked: %s", n.PeerID, n.Error)
		}
	}
	if len(r.Processes) != 1 || r.Processes[0].Name != "p" {
		t.Fatalf("processes %+v", r.Processes)
	}
	// Within netTTL the view is reused: no node is asked again.
	asked := nw.asked.Load()
	f.mustGet("/api/network", &r)
	if nw.asked.Load() != asked {
		t.Fatalf("asked again within the TTL: %d then %d", asked, nw.asked.Load())
	}
	f.now += (netTTL + time.Second).Milliseconds()
	f.mustGet("/api/network", &r)
	if nw.asked.Load() != 2*asked {
		t.Fatalf("not refreshed after the TTL: %d then %d", asked, nw.asked.Load())
	}
}

// A node that does not answer costs the view netAskTimeout, not the page.
func TestNetworkViewBoundsASlowNode(t *testing.T) {
	nw := ringNetwork(5)
	nw.slow[peerName(3)] = true
	f := newFixture(t, nw)
	start := time.Now()
	var r networkReply
	f.mustGet("/api/network", &r)
	if d := time.Since(start); d > netAskTimeout+5*time.Second {
		t.Fatalf("the view took %v", d)
	}
	for _, n := range r.Nodes {
		if n.PeerID == peerName(3) && (n.Asked || n.Error == "") {
			t.Fatalf("slow node %+v", n)
		}
	}
}

func TestNetworkViewWithoutP2P(t *testing.T) {
	f := newFixture(t, nil)
	var r networkReply
	f.mustGet("/api/network", &r)
	if r.Available || len(r.Nodes) != 0 {
		t.Fatalf("view without p2p: %+v", r)
	}
}

// The view adds the processes the directory's SUs schedule, from their explorers.
func TestNetworkViewAsksSUsForTheirProcesses(t *testing.T) {
	b := newFixture(t, nil)
	theirs := b.process("Name", "theirs")
	mux := http.NewServeMux()
	mux.Handle("/explorer/", http.StripPrefix("/explorer", b.ex))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	nw := fakeNetwork{self: "12D3KooWa", links: map[string][]string{"12D3KooWa": {"12D3KooWb"}}, nodes: []Peer{
		{PeerID: "12D3KooWa", Roles: []string{"su"}},
		{PeerID: "12D3KooWb", URL: srv.URL, Roles: []string{"su"}, Scheduler: b.addr},
		{PeerID: "12D3KooWc", URL: srv.URL, Roles: []string{"su"}, Scheduler: "someone-else"},
	}}
	a := newFixture(t, nw)
	a.ex.opts.HTTPClient = srv.Client()
	ours := a.process("Name", "ours")
	var r networkReply
	a.mustGet("/api/network", &r)
	var got []string
	for _, p := range r.Processes {
		got = append(got, p.Name)
		if p.Name == "theirs" && (p.ID != theirs || !slices.Equal(p.Schedulers, []string{b.addr})) {
			t.Errorf("their process %+v", p)
		}
	}
	// c's answer names b's scheduler, not c's: it is not taken.
	if !slices.Equal(got, []string{"ours", "theirs"}) || r.Processes[0].ID != ours {
		t.Fatalf("processes %v", got)
	}
}
