package consensus

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/aonode/aonode/su"
	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
)

// staticPeers is a directory of known members, as the node's signed records give it.
type staticPeers struct {
	mu     sync.Mutex
	byAddr map[string]peer.AddrInfo
	byPeer map[peer.ID]string
}

func (s *staticPeers) PeerOf(a string) (peer.AddrInfo, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.byAddr[a]
	return p, ok
}

func (s *staticPeers) AddressOf(p peer.ID) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.byPeer[p]
	return a, ok
}

func loopbackHost(t testing.TB) host.Host {
	t.Helper()
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.Transport(tcp.NewTCPTransport), libp2p.DisableMetrics())
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// libp2pCluster runs n members on real libp2p hosts on loopback. outsider is a host whose
// peer is in the directory under a non-member address.
func libp2pCluster(t testing.TB, n int, opts func(*Options)) (*cluster, []host.Host, *staticPeers) {
	ms := newMembers(t, n)
	peers := &staticPeers{byAddr: map[string]peer.AddrInfo{}, byPeer: map[peer.ID]string{}}
	hosts := make([]host.Host, n)
	for i, m := range ms {
		h := loopbackHost(t)
		hosts[i] = h
		peers.byAddr[m.addr] = peer.AddrInfo{ID: h.ID(), Addrs: h.Addrs()}
		peers.byPeer[h.ID()] = m.addr
	}
	c := newCluster(t, ms, func(i int) Network {
		return NewLibp2p(hosts[i], ms[i].addr, peers, Libp2pOptions{Logger: quiet()})
	}, opts)
	t.Cleanup(func() {
		for i := range c.members {
			c.stop(i)
		}
		for _, h := range hosts {
			_ = h.Close()
		}
	})
	return c, hosts, peers
}

func TestLibp2pClusterFaults(t *testing.T) {
	c, _, _ := libp2pCluster(t, 3, nil)
	rounds, clients := 4, 4
	if soak() {
		rounds, clients = 40, 8
	}
	runFaults(t, c, faults{}, rounds, clients)
}

// TestLibp2pRefusesNonMembers: a peer whose record names no member cannot open the group's
// Raft protocol nor forward writes.
func TestLibp2pRefusesNonMembers(t *testing.T) {
	c, hosts, peers := libp2pCluster(t, 3, nil)
	owner := newKey(t)
	pid := c.spawn(0, owner)
	out := loopbackHost(t)
	defer out.Close()
	outsider := newKey(t)
	outAddr := su.AddressOfOwner(outsider.Owner())
	peers.mu.Lock()
	peers.byAddr[outAddr] = peer.AddrInfo{ID: out.ID(), Addrs: out.Addrs()}
	peers.byPeer[out.ID()] = outAddr
	peers.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := out.Connect(ctx, peer.AddrInfo{ID: hosts[0].ID(), Addrs: hosts[0].Addrs()}); err != nil {
		t.Fatal(err)
	}
	s, err := out.NewStream(ctx, hosts[0].ID(), RaftProtocol(GroupID(c.set)))
	if err == nil {
		_, _ = s.Write([]byte{0})
		buf := make([]byte, 1)
		_ = s.SetReadDeadline(time.Now().Add(2 * time.Second))
		if _, rerr := s.Read(buf); rerr == nil {
			t.Fatal("a non-member's raft stream was served")
		}
		_ = s.Close()
	}
	// A forwarded write from a non-member is refused.
	n := NewLibp2p(out, outAddr, peers, Libp2pOptions{})
	msg := messageItem(t, owner, pid, "from outside")
	resp, err := n.Call(ctx, c.members[0].addr, encodeForward(GroupID(c.set), su.Request{Process: pid, Item: msg}))
	if err == nil && len(resp) > 0 && resp[0] == statusOK {
		t.Fatal("a non-member's forwarded write was accepted")
	}
	if _, err := c.members[0].db.SlotByMessage(pid, msg.ID()); err == nil {
		t.Fatal("the outsider's message got a slot")
	}
}
