package p2p

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/aonode/aonode/dataitem"
)

// testConfig listens on loopback TCP only, with short intervals.
func testConfig() Config {
	c := DefaultConfig()
	c.ListenAddrs = []string{"/ip4/127.0.0.1/tcp/0"}
	c.DHT = false
	c.DiscoveryInterval = 200 * time.Millisecond
	c.Resources = Resources{MemoryBytes: 64 << 20, MaxFileDescriptors: 256, MaxConns: 64, MaxStreams: 512}
	c.ConnLowWater, c.ConnHighWater = 8, 32
	c.Gossip.HeartbeatInterval = 50 * time.Millisecond
	c.Gossip.RecordInterval = 2 * time.Second
	c.Gossip.RecordMinInterval = 100 * time.Millisecond
	c.Gossip.RecordTTL = time.Minute
	c.Gossip.ScoreInspectInterval = 100 * time.Millisecond
	c.Fetch.Timeout = 5 * time.Second
	return c
}

type testNode struct {
	*Host
	id *Identity
}

// startNodes starts n hosts; every host after the first bootstraps to it.
func startNodes(t *testing.T, cfg Config, infos []NodeInfo, deps func(i int, d *Deps)) []testNode {
	t.Helper()
	var nodes []testNode
	for i, info := range infos {
		c := cfg
		if i > 0 {
			for _, a := range nodes[0].Addrs() {
				c.Bootstrap = append(c.Bootstrap, a.String())
			}
		}
		d := Deps{Identity: testIdentity(t), Info: info}
		if deps != nil {
			deps(i, &d)
		}
		h, err := New(c, d)
		if err != nil {
			t.Fatalf("node %d: %v", i, err)
		}
		t.Cleanup(func() {
			if err := h.Close(); err != nil {
				t.Errorf("close node %d: %v", i, err)
			}
		})
		nodes = append(nodes, testNode{Host: h, id: d.Identity})
	}
	return nodes
}

func TestDirectoryPropagates(t *testing.T) {
	infos := []NodeInfo{
		{Roles: []string{RoleSU}, URL: "http://127.0.0.1:7001", Version: "test"},
		{Roles: []string{RoleCU}, URL: "http://127.0.0.1:7002", Version: "test"},
		{Roles: []string{RoleMU, RoleSU}, URL: "http://127.0.0.1:7003", Version: "test"},
	}
	nodes := startNodes(t, testConfig(), infos, nil)
	for i, n := range nodes {
		waitFor(t, 15*time.Second, fmt.Sprintf("node %d's directory", i), func() bool { return len(n.Directory().Peers()) == 3 })
	}
	for i, n := range nodes {
		for j, m := range nodes {
			r, ok := n.Directory().Peer(m.ID())
			if !ok || r.URL != infos[j].URL || r.Address != m.Address() {
				t.Fatalf("node %d's record of node %d: %+v %v", i, j, r, ok)
			}
		}
		if u, ok := n.Directory().SchedulerURL(nodes[2].Address()); !ok || u != infos[2].URL {
			t.Fatalf("node %d: SchedulerURL = %q %v", i, u, ok)
		}
		if _, ok := n.Directory().SchedulerURL(nodes[1].Address()); ok {
			t.Fatalf("node %d: a CU answers as a scheduler", i)
		}
	}
	// Directory records put their addresses into the peerstore.
	if addrs := nodes[1].Libp2p().Peerstore().Addrs(nodes[2].ID()); len(addrs) == 0 {
		t.Fatal("no addresses for a directory peer")
	}
}

func TestResourceLimitsFromConfig(t *testing.T) {
	cfg := testConfig()
	reg := prometheus.NewRegistry()
	nodes := startNodes(t, cfg, []NodeInfo{{Roles: []string{RoleCU}}}, func(_ int, d *Deps) { d.Registerer = reg })
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, f := range families {
		found = found || f.GetName() == "aonode_p2p_connected_peers"
	}
	if !found {
		t.Fatal("p2p metrics not registered")
	}
	rm := nodes[0].Libp2p().Network().ResourceManager()
	lim, ok := rm.(interface{ GetConnLimit() int })
	if !ok {
		t.Fatalf("resource manager %T does not expose its limits", rm)
	}
	if got := lim.GetConnLimit(); got != cfg.Resources.MaxConns {
		t.Fatalf("system connection limit %d, want %d", got, cfg.Resources.MaxConns)
	}
}

func TestQUIC(t *testing.T) {
	cfg := testConfig()
	cfg.ListenAddrs = []string{"/ip4/127.0.0.1/udp/0/quic-v1"}
	nodes := startNodes(t, cfg, []NodeInfo{{Roles: []string{RoleSU}, URL: "http://127.0.0.1:1"}, {Roles: []string{RoleCU}}}, nil)
	waitFor(t, 10*time.Second, "a QUIC connection", func() bool {
		for _, c := range nodes[1].Libp2p().Network().ConnsToPeer(nodes[0].ID()) {
			if strings.Contains(c.RemoteMultiaddr().String(), "/quic-v1") {
				return true
			}
		}
		return false
	})
}

// waitStar waits until the hub sees every other node subscribed to topic and
// each of them sees the hub (they bootstrap to it).
func waitStar(t *testing.T, topic string, hub *Host, others ...*Host) {
	t.Helper()
	waitFor(t, 10*time.Second, "topic peers of "+topic, func() bool {
		for _, n := range others {
			if !containsPeer(hub.ps.ListPeers(topic), n.ID()) || !containsPeer(n.ps.ListPeers(topic), hub.ID()) {
				return false
			}
		}
		return true
	})
}

func TestProcessGossip(t *testing.T) {
	su := testIdentity(t)
	user := ed25519Signer(t)
	proc := newProcess(t, user, su.Address)
	pid := proc.ID()
	known := schedulerMap{pid: {su.Address}}
	nodes := startNodes(t, testConfig(), []NodeInfo{{Roles: []string{RoleSU}, URL: "http://127.0.0.1:1"}, {Roles: []string{RoleCU}}, {Roles: []string{RoleCU}}},
		func(i int, d *Deps) {
			if i == 0 {
				d.Identity = su
			}
			d.Schedulers = known
		})
	subs := make([]*ProcessSubscription, 0, 3)
	for _, n := range nodes {
		s, err := n.SubscribeProcess(pid)
		if err != nil {
			t.Fatal(err)
		}
		subs = append(subs, s)
	}
	defer subs[2].Close()
	waitStar(t, ProcessTopic(pid), nodes[0].Host, nodes[1].Host, nodes[2].Host)

	now := time.Now()
	msg := newMessage(t, user, pid, "ping")
	ctx := context.Background()
	if err := nodes[0].PublishAssignment(ctx, newAssignment(t, su.Signer, pid, 0, "", now), proc); err != nil {
		t.Fatal(err)
	}
	if err := nodes[0].PublishAssignment(ctx, newAssignment(t, su.Signer, pid, 1, msg.ID(), now), msg); err != nil {
		t.Fatal(err)
	}
	for i, s := range subs {
		got := map[uint64]Assignment{}
		for len(got) < 2 {
			select {
			case a := <-s.Assignments():
				got[a.Nonce] = a
			case <-time.After(10 * time.Second):
				t.Fatalf("node %d got %d of 2 pushes", i, len(got))
			}
		}
		if got[0].MessageID != pid || got[0].Message == nil || got[1].MessageID != msg.ID() || !bytes.Equal(got[1].Message.Data, []byte("ping")) {
			t.Fatalf("node %d got %+v", i, got)
		}
	}
	// A subscription ends cleanly on Close and its channel closes.
	subs[1].Close()
	if _, open := <-subs[1].Assignments(); open {
		t.Fatal("channel still open after Close")
	}
	// The node's own validator refuses to publish a non-scheduler's assignment.
	stranger := ed25519Signer(t)
	if err := nodes[1].PublishAssignment(ctx, newAssignment(t, stranger, pid, 2, msg.ID(), now), msg); err == nil {
		t.Fatal("published an assignment of a non-scheduler")
	}
}

// rawGossip is a misbehaving peer: a plain libp2p host with GossipSub and no
// validator, so it publishes whatever it likes.
type rawGossip struct {
	h  host.Host
	ps *pubsub.PubSub
}

func newRawGossip(t *testing.T, id *Identity) *rawGossip {
	t.Helper()
	h, err := libp2p.New(libp2p.Identity(id.PeerKey), libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"),
		libp2p.Transport(tcp.NewTCPTransport), libp2p.DisableMetrics())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	gp := pubsub.DefaultGossipSubParams()
	gp.HeartbeatInterval = 50 * time.Millisecond
	ps, err := pubsub.NewGossipSub(ctx, h, pubsub.WithGossipSubParams(gp), pubsub.WithMessageIdFn(messageID), pubsub.WithFloodPublish(true),
		pubsub.WithNoAuthor(), pubsub.WithMessageSignaturePolicy(pubsub.StrictNoSign))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		h.Close()
	})
	return &rawGossip{h: h, ps: ps}
}

func TestInvalidGossipRejectedAndPenalised(t *testing.T) {
	su := testIdentity(t)
	user := ed25519Signer(t)
	proc := newProcess(t, user, su.Address)
	pid := proc.ID()
	known := schedulerMap{pid: {su.Address}}
	nodes := startNodes(t, testConfig(), []NodeInfo{{Roles: []string{RoleSU}, URL: "http://127.0.0.1:1"}, {Roles: []string{RoleCU}}},
		func(i int, d *Deps) {
			if i == 0 {
				d.Identity = su
			}
			d.Schedulers = known
		})
	honest, victim := nodes[0], nodes[1]
	sub, err := victim.SubscribeProcess(pid)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	if _, err := honest.SubscribeProcess(pid); err != nil {
		t.Fatal(err)
	}

	evilID := testIdentity(t)
	evil := newRawGossip(t, evilID)
	if err := evil.h.Connect(context.Background(), peer.AddrInfo{ID: victim.ID(), Addrs: victim.Libp2p().Addrs()}); err != nil {
		t.Fatal(err)
	}
	procTopic, err := evil.ps.Join(ProcessTopic(pid))
	if err != nil {
		t.Fatal(err)
	}
	nodesTopic, err := evil.ps.Join(TopicNodes)
	if err != nil {
		t.Fatal(err)
	}
	// Subscribing puts the evil peer in the victim's mesh, so its messages
	// are first deliveries there.
	evilSub, err := procTopic.Subscribe()
	if err != nil {
		t.Fatal(err)
	}
	defer evilSub.Cancel()
	waitFor(t, 10*time.Second, "the victim to see the evil peer on both topics", func() bool {
		return containsPeer(victim.ps.ListPeers(ProcessTopic(pid)), evilID.PeerID) && containsPeer(evil.ps.ListPeers(ProcessTopic(pid)), victim.ID()) &&
			containsPeer(evil.ps.ListPeers(TopicNodes), victim.ID())
	})

	now := time.Now()
	msg := newMessage(t, user, pid, "evil")
	fromStranger := EncodeAssignment(newAssignment(t, evilID.Signer, pid, 1, msg.ID(), now), msg)
	badSig := EncodeAssignment(newAssignment(t, su.Signer, pid, 1, msg.ID(), now), msg)
	badSig[len(badSig)-1] ^= 1
	// A record naming the honest node's peer id, published by the evil one.
	forged, err := SignRecord(evilID, NodeInfo{Roles: []string{RoleSU}, URL: "http://evil:1"}, nil, now, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	forgedForHonest := sign(t, evilID.Signer, replaceTag(forged.Tags, TagPeerID, honest.ID().String()), nil)

	ctx := context.Background()
	for _, data := range [][]byte{fromStranger, badSig} {
		if err := procTopic.Publish(ctx, data); err != nil {
			t.Fatal(err)
		}
	}
	if err := nodesTopic.Publish(ctx, forgedForHonest.Raw()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the victim to reject the three messages", func() bool {
		return counterValue(victim.metrics.validated.WithLabelValues("process", "reject")) == 2 &&
			counterValue(victim.metrics.validated.WithLabelValues("nodes", "reject")) == 1
	})
	waitFor(t, 10*time.Second, "the evil peer's score to drop", func() bool {
		s, ok := victim.PeerScore(evilID.PeerID)
		return ok && s < gossipThreshold
	})
	// The two process pushes count through processPenalty (process topics
	// are not scored by GossipSub), the record through the nodes topic.
	if p := victim.penalty.score(evilID.PeerID); p > 3*invalidMessageWeight {
		t.Fatalf("process penalty %v, want about %v", p, 4*invalidMessageWeight)
	}
	if s, ok := victim.PeerScore(honest.ID()); !ok || s < 0 {
		t.Fatalf("honest peer's score %v (%v)", s, ok)
	}

	// A valid push still arrives, and it is the only thing delivered.
	good := newAssignment(t, su.Signer, pid, 1, msg.ID(), now)
	if err := honest.PublishAssignment(ctx, good, msg); err != nil {
		t.Fatal(err)
	}
	select {
	case a := <-sub.Assignments():
		if a.Assignment.ID() != good.ID() {
			t.Fatalf("delivered %s, want the honest assignment %s", a.Assignment.ID(), good.ID())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("honest push not delivered")
	}
	select {
	case a := <-sub.Assignments():
		t.Fatalf("extra delivery %+v", a)
	default:
	}
	if r, ok := victim.Directory().Peer(honest.ID()); ok && r.URL == "http://evil:1" {
		t.Fatal("forged record entered the directory")
	}
	if _, ok := victim.Directory().Peer(evilID.PeerID); ok {
		t.Fatal("the evil peer's forged record entered the directory")
	}
}

func containsPeer(ps []peer.ID, p peer.ID) bool {
	for _, q := range ps {
		if q == p {
			return true
		}
	}
	return false
}

// memItems is an in-memory ItemSource.
type memItems struct {
	mu    sync.Mutex
	items map[string][]byte
}

func (m *memItems) Item(id string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.items[id]
	if !ok {
		return nil, ErrNotFound
	}
	return b, nil
}

func TestFetch(t *testing.T) {
	user := ed25519Signer(t)
	module := sign(t, user, []dataitem.Tag{{Name: "Type", Value: "Module"}}, bytes.Repeat([]byte{0, 'a', 's', 'm'}, 50_000))
	src := &memItems{items: map[string][]byte{module.ID(): module.Raw()}}
	nodes := startNodes(t, testConfig(), []NodeInfo{{Roles: []string{RoleSU}, URL: "http://127.0.0.1:1"}, {Roles: []string{RoleCU}}},
		func(i int, d *Deps) {
			if i == 0 {
				d.Items = src
			}
		})
	waitFor(t, 10*time.Second, "a connection", func() bool { return len(nodes[1].Libp2p().Network().Peers()) > 0 })
	ctx := context.Background()
	got, err := nodes[1].Fetch(ctx, module.ID())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Raw(), module.Raw()) {
		t.Fatal("fetched bytes differ")
	}
	missing := newMessage(t, user, module.ID(), "absent")
	if _, err := nodes[1].Fetch(ctx, missing.ID()); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing item: %v", err)
	}
	if _, err := nodes[1].Fetch(ctx, "short"); err == nil {
		t.Fatal("bad id accepted")
	}

	// A peer that answers with another item is caught.
	liar, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.Transport(tcp.NewTCPTransport), libp2p.DisableMetrics())
	if err != nil {
		t.Fatal(err)
	}
	defer liar.Close()
	liar.SetStreamHandler(FetchProtocol, func(s network.Stream) {
		defer s.Close()
		if _, err := io.ReadFull(s, make([]byte, idLen)); err != nil {
			return
		}
		raw := missing.Raw()
		hdr := []byte{statusOK, 0, 0, 0, 0, 0, 0, 0, 0}
		hdr[8] = byte(len(raw))
		hdr[7] = byte(len(raw) >> 8)
		_, _ = s.Write(append(hdr, raw...))
	})
	if err := nodes[1].Connect(ctx, peer.AddrInfo{ID: liar.ID(), Addrs: liar.Addrs()}); err != nil {
		t.Fatal(err)
	}
	if _, err := nodes[1].FetchFrom(ctx, liar.ID(), module.ID()); !errors.Is(err, ErrBadItem) {
		t.Fatalf("lying peer: %v", err)
	}
	// A peer announcing more than the size cap is cut off before reading.
	huge, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.Transport(tcp.NewTCPTransport), libp2p.DisableMetrics())
	if err != nil {
		t.Fatal(err)
	}
	defer huge.Close()
	huge.SetStreamHandler(FetchProtocol, func(s network.Stream) {
		defer s.Close()
		_, _ = io.ReadFull(s, make([]byte, idLen))
		_, _ = s.Write([]byte{statusOK, 0xff, 0, 0, 0, 0, 0, 0, 0})
	})
	if err := nodes[1].Connect(ctx, peer.AddrInfo{ID: huge.ID(), Addrs: huge.Addrs()}); err != nil {
		t.Fatal(err)
	}
	if _, err := nodes[1].FetchFrom(ctx, huge.ID(), module.ID()); !errors.Is(err, ErrBadItem) {
		t.Fatalf("oversized answer: %v", err)
	}
}

func TestDHTPrivatePrefix(t *testing.T) {
	cfg := testConfig()
	cfg.DHT = true
	cfg.DHTMode = "server"
	infos := []NodeInfo{{Roles: []string{RoleSU}, URL: "http://127.0.0.1:1"}, {Roles: []string{RoleCU}}, {Roles: []string{RoleMU}}}
	nodes := startNodes(t, cfg, infos, nil)
	for i, n := range nodes {
		var kad []string
		for _, p := range n.Libp2p().Mux().Protocols() {
			s := string(p)
			if strings.Contains(s, "/kad/") {
				kad = append(kad, s)
			}
			if strings.HasPrefix(s, "/ipfs/kad") {
				t.Fatalf("node %d speaks the public DHT protocol %s", i, s)
			}
		}
		if len(kad) == 0 || !strings.HasPrefix(kad[0], "/aonode/kad/") {
			t.Fatalf("node %d DHT protocols %v", i, kad)
		}
		waitFor(t, 15*time.Second, fmt.Sprintf("node %d's routing table", i), func() bool { return n.dht.RoutingTable().Size() >= 1 })
	}
	// Nodes 1 and 2 only know node 0; the DHT (its routing tables and the
	// rendezvous namespace) gets them connected to each other.
	waitFor(t, 20*time.Second, "nodes 1 and 2 to find each other", func() bool {
		return nodes[1].Libp2p().Network().Connectedness(nodes[2].ID()) == network.Connected
	})
}

func counterValue(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		return -1
	}
	return m.GetCounter().GetValue()
}
