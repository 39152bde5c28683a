package node

import (
	"context"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/aonode/aonode/dataitem"
	"github.com/aonode/aonode/node/gateway"
	"github.com/aonode/aonode/p2p"
)

// DefaultSchedulerLocationTTL is the Time-To-Live an SU announces in its Scheduler-Location:
// how long clients cache where it is (the reference's example uses one hour).
const DefaultSchedulerLocationTTL = time.Hour

// locationTimeout bounds storing or publishing one location.
const locationTimeout = 10 * time.Second

// Clock is the time the node's own timers read: Now and After, as node/clock's Wall and Manual
// provide them.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

// suPublicURL is the base URL clients reach the node's SU at: the public URL's /su, else the
// listener's.
func (n *Node) suPublicURL() string {
	base := n.urls.Node
	if n.cfg.PublicURL != "" {
		base = strings.TrimRight(n.cfg.PublicURL, "/")
	}
	return base + "/su"
}

// announceLocation is the SU's Scheduler-Location loop (ao-protocol §5): it signs a fresh item
// at start and every round, hands it to the node's gateway (which keeps it when it is new or
// its held one is half its Time-To-Live old) and publishes it to the network. A round is half
// the Time-To-Live, or on a p2p node the record interval, so a newcomer hears it soon; a
// neighbour joining the locations topic brings the next round forward, but no closer than the
// record minimum interval to the last.
func (n *Node) announceLocation(ctx context.Context, signer dataitem.Signer) {
	clk := n.cfg.Clock
	ttl := n.cfg.SchedulerLocationTTL
	every, gap := ttl/2, ttl/2
	var wanted <-chan struct{}
	if n.net != nil {
		every = min(every, n.cfg.P2P.Gossip.RecordInterval)
		gap = n.cfg.P2P.Gossip.RecordMinInterval
		wanted = n.net.host.LocationWanted()
	}
	url := n.suPublicURL()
	for {
		last := clk.Now()
		n.publishLocation(ctx, signer, url, ttl, last)
		select {
		case <-ctx.Done():
			return
		case <-clk.After(every):
		case <-wanted:
			if d := gap - clk.Now().Sub(last); d > 0 {
				select {
				case <-ctx.Done():
					return
				case <-clk.After(d):
				}
			}
		}
	}
}

func (n *Node) publishLocation(ctx context.Context, signer dataitem.Signer, url string, ttl time.Duration, now time.Time) {
	it, err := p2p.SignLocation(signer, url, ttl, now)
	if err != nil {
		n.log.Error("signing the Scheduler-Location", "err", err)
		return
	}
	ctx, cancel := context.WithTimeout(ctx, locationTimeout)
	defer cancel()
	if gw := n.locations.gw.Load(); gw != nil {
		if _, err := gw.PutSchedulerLocation(ctx, it); err != nil && ctx.Err() == nil {
			n.log.Warn("indexing the node's Scheduler-Location", "err", err)
		}
	}
	if n.net != nil {
		if err := n.net.host.PublishLocation(ctx, it); err != nil && ctx.Err() == nil {
			n.log.Warn("publishing the node's Scheduler-Location", "err", err)
		}
	}
}

// locationSink hands the Scheduler-Locations the p2p host accepts to the node's gateway, once
// the gateway is built (the host starts before it).
type locationSink struct {
	gw  atomic.Pointer[gateway.Gateway]
	log *slog.Logger
}

func (s *locationSink) SchedulerLocation(loc *p2p.Location) {
	gw := s.gw.Load()
	if gw == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), locationTimeout)
	defer cancel()
	if _, err := gw.PutSchedulerLocation(ctx, loc.Item); err != nil {
		s.log.Warn("indexing a Scheduler-Location", "scheduler", loc.Address, "err", err)
	}
}

// netFetcher is the gateway's look-up of items the node does not hold: fetch by id from the
// peers, dialling the directory's nodes when no connected peer has it.
type netFetcher struct{ nw *network }

func (f netFetcher) Fetch(ctx context.Context, id string) (*dataitem.Item, error) {
	return f.nw.fetch(ctx, id)
}
