// Package p2ptest runs many p2p Hosts in one process, over libp2p's mocknet
// (an in-memory network, no sockets) or over real TCP on loopback: for tests
// of several nodes and for the gossip benchmark.
package p2ptest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	mocknet "github.com/libp2p/go-libp2p/p2p/net/mock"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/aonode/aonode/dataitem"
	"github.com/aonode/aonode/p2p"
)

// Options shape the network.
type Options struct {
	// Degree is how many random peers each host dials (at least 1; the
	// graph is also made connected by a ring).
	Degree int
	// Loopback uses real hosts (TCP on 127.0.0.1, noise, yamux, the
	// configured resource limits) instead of mocknet.
	Loopback bool
	// Seed makes the topology reproducible.
	Seed uint64
}

// Network is n connected Hosts.
type Network struct {
	Mock       mocknet.Mocknet // nil for Loopback networks
	Hosts      []*p2p.Host
	Identities []*p2p.Identity
}

// New starts n Hosts with cfg. deps fills the Deps of host i; its Identity
// is set by New (ed25519).
func New(n int, cfg p2p.Config, opts Options, deps func(i int, d *p2p.Deps)) (_ *Network, err error) {
	if n < 2 {
		return nil, errors.New("p2ptest: need at least 2 hosts")
	}
	// Discovery is the network's job here: no DHT, no mDNS, no bootstrap.
	cfg.DHT, cfg.MDNS, cfg.Bootstrap = false, false, nil
	if opts.Loopback {
		cfg.ListenAddrs = []string{"/ip4/127.0.0.1/tcp/0"}
	}
	// Mocknet's link latency holds back small writes while more keep coming,
	// which overstates gossip latency; links here have none.
	net := &Network{}
	if !opts.Loopback {
		net.Mock = mocknet.New()
	}
	defer func() {
		if err != nil {
			net.Close()
		}
	}()
	for i := range n {
		id, err := newIdentity()
		if err != nil {
			return nil, err
		}
		d := p2p.Deps{}
		if deps != nil {
			deps(i, &d)
		}
		d.Identity = id
		node, err := net.start(i, cfg, d)
		if err != nil {
			return nil, fmt.Errorf("p2ptest: node %d: %w", i, err)
		}
		net.Hosts = append(net.Hosts, node)
		net.Identities = append(net.Identities, id)
	}
	if !opts.Loopback {
		if err := net.Mock.LinkAll(); err != nil {
			return nil, fmt.Errorf("p2ptest: linking: %w", err)
		}
	}
	rng := rand.New(rand.NewPCG(opts.Seed, opts.Seed^0x9e3779b97f4a7c15))
	degree := max(opts.Degree, 1)
	for i := range n {
		targets := map[int]bool{(i + 1) % n: true}
		for len(targets) < min(degree, n-1) {
			if j := rng.IntN(n); j != i {
				targets[j] = true
			}
		}
		for j := range targets {
			if err := net.connect(i, j); err != nil {
				return nil, fmt.Errorf("p2ptest: connecting %d-%d: %w", i, j, err)
			}
		}
	}
	return net, nil
}

func (n *Network) start(i int, cfg p2p.Config, d p2p.Deps) (*p2p.Host, error) {
	if n.Mock == nil {
		return p2p.New(cfg, d)
	}
	addr, err := ma.NewMultiaddr(fmt.Sprintf("/ip4/10.0.%d.%d/tcp/4001", i/250, i%250+1))
	if err != nil {
		return nil, err
	}
	h, err := n.Mock.AddPeer(d.Identity.PeerKey, addr)
	if err != nil {
		return nil, err
	}
	return p2p.NewWithHost(h, cfg, d)
}

func (n *Network) connect(i, j int) error {
	if n.Mock != nil {
		_, err := n.Mock.ConnectPeers(n.Hosts[i].ID(), n.Hosts[j].ID())
		return err
	}
	to := n.Hosts[j].Libp2p()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return n.Hosts[i].Connect(ctx, peer.AddrInfo{ID: to.ID(), Addrs: to.Addrs()})
}

func newIdentity() (*p2p.Identity, error) {
	s, err := dataitem.GenerateKey(dataitem.ED25519)
	if err != nil {
		return nil, err
	}
	return p2p.NewIdentity(s, nil)
}

// Close closes every Host, then the mocknet.
func (n *Network) Close() error {
	var errs []error
	for _, h := range n.Hosts {
		errs = append(errs, h.Close())
	}
	if n.Mock != nil {
		errs = append(errs, n.Mock.Close())
	}
	return errors.Join(errs...)
}

// MeshReady reports whether every host follows the topic of pid through a
// mesh of at least min(its topic peers, 4) peers and at least one: pushes
// published from then on spread through the meshes, not only to the
// publisher's neighbours.
func (n *Network) MeshReady(pid string) bool {
	for _, h := range n.Hosts {
		want := max(1, min(len(h.ProcessPeers(pid)), 4))
		if h.ProcessMesh(pid) < want {
			return false
		}
	}
	return true
}
