package p2p

import (
	"context"
	"fmt"
	"sync"
	"time"

	dht "github.com/libp2p/go-libp2p-kad-dht"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-libp2p/p2p/discovery/mdns"
	drouting "github.com/libp2p/go-libp2p/p2p/discovery/routing"
)

const (
	bootstrapTag    = "aonode-bootstrap"
	dialTimeout     = 10 * time.Second
	maxParallelDial = 8
	rendezvousFind  = 32
)

func (c Config) dhtMode() (dht.ModeOpt, error) {
	switch c.DHTMode {
	case "server":
		return dht.ModeServer, nil
	case "client":
		return dht.ModeClient, nil
	case "auto":
		return dht.ModeAuto, nil
	}
	return 0, fmt.Errorf("DHT mode %q: want server, client or auto", c.DHTMode)
}

// mdnsNotifee hands LAN peers to the discovery loop without blocking mDNS.
type mdnsNotifee struct{ n *Host }

func (m mdnsNotifee) HandlePeerFound(info peer.AddrInfo) {
	if info.ID == m.n.host.ID() {
		return
	}
	select {
	case m.n.found <- info:
	default:
	}
}

func (n *Host) startDiscovery() error {
	for _, b := range n.bootstrap {
		n.host.ConnManager().Protect(b.ID, bootstrapTag)
	}
	if n.cfg.DHT {
		mode, _ := n.cfg.dhtMode()
		opts := []dht.Option{
			dht.ProtocolPrefix(protocol.ID(n.cfg.DHTProtocolPrefix)),
			dht.Mode(mode),
		}
		if len(n.bootstrap) > 0 {
			opts = append(opts, dht.BootstrapPeers(n.bootstrap...))
		}
		d, err := dht.New(n.host, opts...)
		if err != nil {
			return fmt.Errorf("p2p: dht: %w", err)
		}
		n.dht = d
		n.rdisc = drouting.NewRoutingDiscovery(d)
	}
	if n.cfg.MDNS {
		n.mdns = mdns.NewMdnsService(n.host, n.cfg.MDNSService, mdnsNotifee{n})
		if err := n.mdns.Start(); err != nil {
			return fmt.Errorf("p2p: mdns: %w", err)
		}
	}
	n.wg.Add(1)
	go n.discoveryLoop()
	return nil
}

// discoveryLoop keeps the bootstrap peers connected, advertises the node
// under the rendezvous namespace of the DHT and dials the peers found there
// and on the LAN.
func (n *Host) discoveryLoop() {
	defer n.wg.Done()
	tick := time.NewTicker(n.cfg.DiscoveryInterval)
	defer tick.Stop()
	first := true
	for {
		n.connectAll(n.bootstrap)
		if n.dht != nil {
			if first {
				if err := n.dht.Bootstrap(n.ctx); err != nil && n.ctx.Err() == nil {
					n.log.Debug("dht bootstrap", "err", err)
				}
			}
			n.rendezvous()
		}
		first = false
	wait:
		for {
			select {
			case <-n.ctx.Done():
				return
			case info := <-n.found:
				n.connectAll([]peer.AddrInfo{info})
			case <-tick.C:
				break wait
			}
		}
	}
}

func (n *Host) rendezvous() {
	ctx, cancel := context.WithTimeout(n.ctx, n.cfg.DiscoveryInterval)
	defer cancel()
	if _, err := n.rdisc.Advertise(ctx, n.cfg.Rendezvous); err != nil && n.ctx.Err() == nil {
		// A lone node or one whose routing table is still empty cannot
		// advertise yet; the next round retries.
		n.log.Debug("dht advertise", "err", err)
	}
	if len(n.host.Network().Peers()) >= n.cfg.ConnLowWater {
		return
	}
	ch, err := n.rdisc.FindPeers(ctx, n.cfg.Rendezvous)
	if err != nil {
		n.log.Debug("dht find peers", "err", err)
		return
	}
	var found []peer.AddrInfo
	for info := range ch {
		if info.ID != n.host.ID() && len(info.Addrs) > 0 && len(found) < rendezvousFind {
			found = append(found, info)
		}
	}
	n.connectAll(found)
}

// connectAll dials the peers not connected yet, a few at a time, and waits.
func (n *Host) connectAll(infos []peer.AddrInfo) {
	sem := make(chan struct{}, maxParallelDial)
	var wg sync.WaitGroup
	for _, info := range infos {
		if info.ID == n.host.ID() || n.host.Network().Connectedness(info.ID) == network.Connected {
			continue
		}
		select {
		case sem <- struct{}{}:
		case <-n.ctx.Done():
			wg.Wait()
			return
		}
		wg.Add(1)
		go func(info peer.AddrInfo) {
			defer wg.Done()
			defer func() { <-sem }()
			ctx, cancel := context.WithTimeout(n.ctx, dialTimeout)
			defer cancel()
			if err := n.host.Connect(ctx, info); err != nil && n.ctx.Err() == nil {
				n.log.Debug("dial", "to", info.ID, "err", err)
			}
		}(info)
	}
	wg.Wait()
}
