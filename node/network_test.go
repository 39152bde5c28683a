package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aonode/aonode/cu"
	"github.com/aonode/aonode/mu"
	"github.com/aonode/aonode/p2p"
)

// testP2P is a p2p config for nodes in one test process: loopback TCP, no DHT or mDNS (the
// nodes meet through their bootstrap lists only), short intervals.
func testP2P(bootstrap ...*Node) *p2p.Config {
	c := p2p.DefaultConfig()
	c.ListenAddrs = []string{"/ip4/127.0.0.1/tcp/0"}
	c.DHT = false
	c.DiscoveryInterval = 200 * time.Millisecond
	c.Resources = p2p.Resources{MemoryBytes: 64 << 20, MaxFileDescriptors: 256, MaxConns: 64, MaxStreams: 512}
	c.ConnLowWater, c.ConnHighWater = 8, 32
	c.Gossip.HeartbeatInterval = 50 * time.Millisecond
	c.Gossip.RecordInterval = 2 * time.Second
	c.Gossip.RecordMinInterval = 100 * time.Millisecond
	c.Gossip.RecordTTL = time.Minute
	c.Gossip.ScoreInspectInterval = 100 * time.Millisecond
	c.Fetch.Timeout = 10 * time.Second
	for _, n := range bootstrap {
		for _, a := range n.Host().Addrs() {
			c.Bootstrap = append(c.Bootstrap, a.String())
		}
	}
	return &c
}

func p2pNode(t *testing.T, seed byte, roles []string, bootstrap ...*Node) *Node {
	t.Helper()
	cfg := diskConfig(t)
	cfg.Roles = roles
	cfg.Signer = seedSigner(seed)
	cfg.P2P = testP2P(bootstrap...)
	return startNode(t, cfg)
}

func TestPeersWithoutP2P(t *testing.T) {
	n := startNode(t, testConfig(t))
	if r := newClient(t, n.URL(), nil).do("GET", "/peers", "", nil); r.code != http.StatusNotFound || n.Host() != nil {
		t.Fatalf("GET /peers without p2p: %d %s", r.code, r.body)
	}
}

func peersOf(t *testing.T, n *Node) PeersReply {
	t.Helper()
	r := newClient(t, n.URL(), nil).do("GET", "/peers", "", nil)
	if r.code != http.StatusOK {
		t.Fatalf("GET /peers: %d %s", r.code, r.body)
	}
	var out PeersReply
	r.json(t, &out)
	return out
}

// knows reports whether n's directory has a record of m with role.
func knows(n, m *Node, role string) bool {
	r, ok := n.Host().Directory().Peer(m.Host().ID())
	return ok && r.HasRole(role)
}

// TestThreeNodesMeetThroughBootstrap runs the MU on A, the SU on B and the CU on C, each
// configured with bootstrap addresses only: a spawn and a message posted to A are scheduled
// by B and computed by C. A CU D that joins later catches up from B, then evaluates new
// messages as they are pushed, and its results equal C's.
func TestThreeNodesMeetThroughBootstrap(t *testing.T) {
	wasm := loopModule(t)
	b := p2pNode(t, 11, []string{RoleSU})
	a := p2pNode(t, 10, []string{RoleMU, RoleGateway}, b)
	c := p2pNode(t, 12, []string{RoleCU}, b)
	for _, n := range []*Node{a, b, c} {
		if n.URLs().SU != "" && n != b || n.URLs().CU != "" && n != c {
			t.Fatalf("node %s was configured with another's URL: %+v", n.URL(), n.URLs())
		}
	}
	// Records spread by gossip: a node hears of one it is not connected to within a record
	// interval.
	waitFor(t, "every node to know the others", 30*time.Second, func() string {
		var missing []string
		for _, k := range []struct {
			n, m       *Node
			name, role string
		}{{a, b, "A knows B", p2p.RoleSU}, {a, c, "A knows C", p2p.RoleCU}, {c, b, "C knows B", p2p.RoleSU}, {c, a, "C knows A", p2p.RoleMU}} {
			if !knows(k.n, k.m, k.role) {
				missing = append(missing, k.name+" as "+k.role)
			}
		}
		return strings.Join(missing, ", ")
	})

	client := newClient(t, a.URL(), seedSigner(20))
	mod := client.publish(wasm, "wasm32-wasip1-aonode")
	pid := client.spawn(mod, b.SU().Address(), "Name", "p2p")
	add := client.send(pid, "", "Action", "Add", "N", "5")

	atC := newClient(t, c.URL(), nil)
	if res := atC.result(pid, pid); !contains(res["Output"], "booted") {
		t.Fatalf("boot on C: %v", res)
	}
	if res := atC.result(pid, add); string(res["Output"]) != `"5"` {
		t.Fatalf("Add on C: %s", res["Output"])
	}
	// A's MU pushes the outbox (Ping, then the Pong back) to B's SU, which trusts it by its
	// node record announcing the mu role.
	client.send(pid, "", "Action", "Relay", "Peer", pid)
	waitFor(t, "the Ping and Pong pushed by A", 30*time.Second, func() string {
		if s := loopStateOf(t, atC, pid); s.Pings != 1 || s.Pongs != 1 {
			return fmt.Sprintf("pings %d, pongs %d", s.Pings, s.Pongs)
		}
		return ""
	})
	// The MU read the results from C too: its queue drains without a dead letter.
	waitFor(t, "A's crank queue to drain", 30*time.Second, func() string { return pending(a) })
	if dead, err := a.MU().DeadLetters(); err != nil || dead != 0 {
		t.Fatalf("%d dead letters on A (%v)", dead, err)
	}

	// GET /peers on B lists A and C with their roles and URLs.
	pr := peersOf(t, b)
	if pr.Self.PeerID != b.Host().ID().String() || !slices.Contains(pr.Self.Roles, p2p.RoleSU) {
		t.Fatalf("B's /peers self: %+v", pr.Self)
	}
	urls := map[string]PeerInfo{}
	for _, p := range pr.Peers {
		urls[p.URL] = p
	}
	if p := urls[a.URL()]; !slices.Contains(p.Roles, p2p.RoleMU) || !p.Connected {
		t.Fatalf("B's /peers has no connected MU at %s: %+v", a.URL(), pr.Peers)
	}
	if p := urls[c.URL()]; !slices.Contains(p.Roles, p2p.RoleCU) || !p.Connected {
		t.Fatalf("B's /peers has no connected CU at %s: %+v", c.URL(), pr.Peers)
	}

	// Peer, gossip and SU metrics on B: the SU's own and its sequencer's share the registry.
	m := newClient(t, b.URL(), nil).do("GET", "/metrics", "", nil)
	for _, want := range []string{"aonode_p2p_connected_peers", `aonode_p2p_gossip_validated_total{result="accept",topic="process"}`,
		`su_schedule_requests_total{outcome="ok"} 5`, "su_http_requests_total"} {
		if !contains(m.body, want) {
			t.Errorf("B's /metrics lacks %s:\n%s", want, m.body)
		}
	}

	// D joins late, bootstrapping from A only: it finds B through the directory.
	d := p2pNode(t, 13, []string{RoleCU}, a)
	waitFor(t, "D to know the SU", 30*time.Second, func() string {
		return unless(knows(d, b, p2p.RoleSU), "B's record on D (D knows %d peers)", len(d.Host().Directory().Peers()))
	})
	atD := newClient(t, d.URL(), nil)
	if got, want := atD.do("GET", "/cu/result/"+add+"?process-id="+pid, "", nil), atC.do("GET", "/cu/result/"+add+"?process-id="+pid, "", nil); got.code != 200 || string(got.body) != string(want.body) {
		t.Fatalf("D's catch-up result differs from C's:\nD %d %s\nC %d %s", got.code, got.body, want.code, want.body)
	}
	// D now follows the process topic; once B counts it among the topic's peers, a new
	// message reaches D's evaluator by gossip, without anyone asking D for it.
	waitFor(t, "B to see D on the process topic", 30*time.Second, func() string {
		peers := b.Host().ProcessPeers(pid)
		return unless(slices.Contains(peers, d.Host().ID()), "D among B's %d topic peers", len(peers))
	})
	add2 := client.send(pid, "", "Action", "Add", "N", "7")
	waitFor(t, "D to evaluate the pushed message unasked", 30*time.Second, func() string {
		_, err := d.Store().EvalResultByMessage(pid, add2)
		return unless(err == nil, "D's result of %s: %v", add2, err)
	})
	gotD := atD.do("GET", "/cu/result/"+add2+"?process-id="+pid, "", nil)
	gotC := atC.do("GET", "/cu/result/"+add2+"?process-id="+pid, "", nil)
	if gotD.code != 200 || string(gotD.body) != string(gotC.body) || !contains(gotD.body, `"12"`) {
		t.Fatalf("results of the second Add differ:\nD %d %s\nC %d %s", gotD.code, gotD.body, gotC.code, gotC.body)
	}
	lastC, errC := c.Store().LastEvalResult(pid)
	lastD, errD := d.Store().LastEvalResult(pid)
	if errC != nil || errD != nil || lastC.Nonce != lastD.Nonce || lastC.AssignmentID != lastD.AssignmentID {
		t.Fatalf("C and D end apart: C %+v (%v), D %+v (%v)", lastC.Nonce, errC, lastD.Nonce, errD)
	}
	var stC, stD loopState
	if err := json.Unmarshal(atC.dryrun(pid, "Action", "State")["Output"], &stC); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(atD.dryrun(pid, "Action", "State")["Output"], &stD); err != nil {
		t.Fatal(err)
	}
	if stC.Sum != 12 || stD.Sum != stC.Sum {
		t.Fatalf("state on C %+v, on D %+v", stC, stD)
	}
}

// TestLoneNodeRouting covers the routing answers of a p2p node that knows nobody: its own
// SU by its address, "unavailable" (retry later) for other schedulers and for CUs, and
// "not found" for a process no peer holds, remembered for a while.
func TestLoneNodeRouting(t *testing.T) {
	n := p2pNode(t, 30, []string{RoleSU, RoleMU, RoleGateway})
	ctx := context.Background()
	r := netRouter{n.net}
	if u, err := r.SchedulerURL(ctx, n.SU().Address()); err != nil || u != n.URL()+"/su" {
		t.Fatalf("own SU: %q %v", u, err)
	}
	if _, err := r.SchedulerURL(ctx, "someone-else"); !errors.Is(err, mu.ErrUnavailable) {
		t.Fatalf("unknown scheduler: %v", err)
	}
	if got := r.SchedulerURLs(); !slices.Equal(got, []string{n.URL() + "/su"}) {
		t.Fatalf("SchedulerURLs: %v", got)
	}
	if _, err := (netCompute{n.net}).Result(ctx, "p", "m"); !errors.Is(err, mu.ErrUnavailable) {
		t.Fatalf("no CU: %v", err)
	}
	src := netSource{n.net}
	if _, err := src.Process(ctx, "not-an-id"); !errors.Is(err, cu.ErrNotFound) {
		t.Fatalf("junk process id: %v", err)
	}
	pid := strings.Repeat("A", 43)
	start := time.Now()
	if _, err := src.Process(ctx, pid); !errors.Is(err, cu.ErrNotFound) {
		t.Fatalf("unknown process: %v", err)
	}
	if _, err := src.Latest(ctx, pid); !errors.Is(err, cu.ErrNotFound) || !strings.Contains(err.Error(), "moments ago") {
		t.Fatalf("unknown process again (after %v): %v", time.Since(start), err)
	}
}
