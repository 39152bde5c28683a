package p2p

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"

	"github.com/aonode/aonode/dataitem"
	"github.com/aonode/aonode/dataitem/aoapi"
)

// TopicSchedulerLocations carries the Scheduler-Location items of the network's SUs: each
// SU signs its own with its wallet (aoapi.SchedulerLocationFields) and re-signs it every
// publication, so that a newcomer hears it and a stale one stops circulating. A separate
// topic from ao/1/nodes: the item is the reference's, served as-is by gateways to clients
// that look SUs up by GraphQL, and it must not depend on the node record's layout.
const TopicSchedulerLocations = "ao/1/scheduler-locations"

// MaxLocationBytes bounds a gossiped Scheduler-Location item.
const MaxLocationBytes = 8 << 10

// maxPendingLocations bounds the locations held back until their scheduler's node record
// arrives.
const maxPendingLocations = 256

// ErrInvalidLocation reports a Scheduler-Location that fails a check.
var ErrInvalidLocation = errors.New("p2p: invalid scheduler location")

// errStaleLocation reports a location whose Time-To-Live has run out: ignored, not punished
// (a slow path can deliver one late).
var errStaleLocation = errors.New("p2p: scheduler location past its Time-To-Live")

// Location is a verified Scheduler-Location.
type Location struct {
	aoapi.SchedulerLocation
	Item *dataitem.Item
}

// LocationSink receives the Scheduler-Locations the host accepts, newest per scheduler
// first seen; it is called from the host's goroutines and must not block long.
type LocationSink interface {
	SchedulerLocation(loc *Location)
}

// SignLocation signs id's Scheduler-Location announcing suURL for ttl, issued at now.
func SignLocation(signer dataitem.Signer, suURL string, ttl time.Duration, now time.Time) (*dataitem.Item, error) {
	f, err := aoapi.SchedulerLocationFields(suURL, ttl, now)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidLocation, err)
	}
	it, err := dataitem.Sign(signer, f)
	if err != nil {
		return nil, fmt.Errorf("p2p: signing scheduler location: %w", err)
	}
	if len(it.Raw()) > MaxLocationBytes {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrInvalidLocation, len(it.Raw()), MaxLocationBytes)
	}
	return it, nil
}

// ParseLocation verifies a gossiped Scheduler-Location at time now: size, signature, the
// reference's shape (aoapi.ParseSchedulerLocation), and aonode's Timestamp, which must be
// there, not later than now+maxSkew, and not older than the Time-To-Live.
func ParseLocation(raw []byte, now time.Time, maxSkew time.Duration) (*Location, error) {
	if len(raw) > MaxLocationBytes {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrInvalidLocation, len(raw), MaxLocationBytes)
	}
	it, err := dataitem.ParseVerified(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidLocation, err)
	}
	loc, err := aoapi.ParseSchedulerLocation(it)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidLocation, err)
	}
	switch {
	case loc.Issued.IsZero():
		return nil, fmt.Errorf("%w: no Timestamp", ErrInvalidLocation)
	case loc.Issued.After(now.Add(maxSkew)):
		return nil, fmt.Errorf("%w: issued %s in the future", ErrInvalidLocation, loc.Issued.Sub(now))
	case !loc.Issued.Add(loc.TTL).After(now):
		return nil, fmt.Errorf("%w: issued %s ago", errStaleLocation, now.Sub(loc.Issued))
	}
	return &Location{SchedulerLocation: loc, Item: it}, nil
}

// locations is the host's side of TopicSchedulerLocations.
type locations struct {
	topic  *pubsub.Topic
	sink   LocationSink
	wanted chan struct{} // a neighbour joined: the node should publish its own soon

	mu      sync.Mutex
	newest  map[string]time.Time // scheduler address → Issued of the newest accepted
	pending map[string]*Location // scheduler address → newest held until its record arrives
}

// startLocations joins the topic and starts its readers. A location is accepted only from a
// scheduler the directory knows (a node record with the su role signed by the same wallet),
// so the topic carries no more wallets than the directory holds.
func (n *Host) startLocations(sink LocationSink) error {
	t, err := n.ps.Join(TopicSchedulerLocations)
	if err != nil {
		return fmt.Errorf("p2p: joining %s: %w", TopicSchedulerLocations, err)
	}
	if err := t.SetScoreParams(topicScoreParams()); err != nil {
		return fmt.Errorf("p2p: scoring %s: %w", TopicSchedulerLocations, err)
	}
	sub, err := t.Subscribe(pubsub.WithBufferSize(64))
	if err != nil {
		return fmt.Errorf("p2p: subscribing %s: %w", TopicSchedulerLocations, err)
	}
	events, err := t.EventHandler()
	if err != nil {
		sub.Cancel()
		return fmt.Errorf("p2p: events of %s: %w", TopicSchedulerLocations, err)
	}
	n.loc = &locations{
		topic:   t,
		sink:    sink,
		wanted:  make(chan struct{}, 1),
		newest:  map[string]time.Time{},
		pending: map[string]*Location{},
	}
	n.wg.Add(3)
	go n.readLocations(sub)
	go n.watchLocationJoins(events)
	go n.releasePending()
	return nil
}

func (n *Host) validateLocation(msg *pubsub.Message) pubsub.ValidationResult {
	if n.loc == nil {
		return pubsub.ValidationIgnore
	}
	now := time.Now()
	loc, err := ParseLocation(msg.GetData(), now, n.cfg.Gossip.MaxClockSkew)
	switch {
	case errors.Is(err, errStaleLocation):
		return pubsub.ValidationIgnore
	case err != nil:
		n.log.Debug("rejected scheduler location", "from", msg.ReceivedFrom, "err", err)
		return pubsub.ValidationReject
	}
	// The node's own location goes out before its own record may have come back into its
	// directory; it signed it itself.
	if loc.Address != n.id.Address {
		if _, ok := n.dir.Scheduler(loc.Address); !ok {
			n.loc.hold(loc, n.cfg.Gossip.MaxDirectoryPeers)
			return pubsub.ValidationIgnore
		}
	}
	if !n.loc.accept(loc, n.cfg.Gossip.MaxDirectoryPeers, n.dir) {
		return pubsub.ValidationIgnore
	}
	msg.ValidatorData = loc
	return pubsub.ValidationAccept
}

// accept records loc as its scheduler's newest, reporting false when one as new is held.
func (l *locations) accept(loc *Location, max int, dir *Directory) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if have, ok := l.newest[loc.Address]; ok && !loc.Issued.After(have) {
		return false
	}
	if len(l.newest) >= max {
		// Forget the schedulers that left the directory.
		for a := range l.newest {
			if _, ok := dir.Scheduler(a); !ok {
				delete(l.newest, a)
			}
		}
		if len(l.newest) >= max {
			return false
		}
	}
	l.newest[loc.Address] = loc.Issued
	if p, ok := l.pending[loc.Address]; ok && !p.Issued.After(loc.Issued) {
		delete(l.pending, loc.Address)
	}
	return true
}

// hold keeps loc until its scheduler's record arrives (the two travel on different topics
// and may arrive in either order), the newest per scheduler, a bounded number in all.
func (l *locations) hold(loc *Location, max int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if p, ok := l.pending[loc.Address]; ok && !loc.Issued.After(p.Issued) {
		return
	}
	if _, ok := l.pending[loc.Address]; !ok && len(l.pending) >= min(max, maxPendingLocations) {
		return
	}
	l.pending[loc.Address] = loc
}

func (n *Host) readLocations(sub *pubsub.Subscription) {
	defer n.wg.Done()
	defer sub.Cancel()
	for {
		msg, err := sub.Next(n.ctx)
		if err != nil {
			return
		}
		if loc, ok := msg.ValidatorData.(*Location); ok && n.loc.sink != nil {
			n.loc.sink.SchedulerLocation(loc)
		}
	}
}

// releasePending delivers the held locations whose scheduler the directory now knows, and
// drops those past their Time-To-Live.
func (n *Host) releasePending() {
	defer n.wg.Done()
	t := time.NewTicker(n.cfg.Gossip.RecordMinInterval)
	defer t.Stop()
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-t.C:
		}
		now := time.Now()
		var ready []*Location
		n.loc.mu.Lock()
		for a, loc := range n.loc.pending {
			if !loc.Issued.Add(loc.TTL).After(now) {
				delete(n.loc.pending, a)
				continue
			}
			if _, ok := n.dir.Scheduler(a); ok {
				delete(n.loc.pending, a)
				ready = append(ready, loc)
			}
		}
		n.loc.mu.Unlock()
		for _, loc := range ready {
			if n.loc.accept(loc, n.cfg.Gossip.MaxDirectoryPeers, n.dir) && n.loc.sink != nil {
				n.loc.sink.SchedulerLocation(loc)
			}
		}
	}
}

// watchLocationJoins asks the node for its location when a neighbour joins the topic, so a
// newcomer's gateway answers for this SU without waiting for the next round.
func (n *Host) watchLocationJoins(events *pubsub.TopicEventHandler) {
	defer n.wg.Done()
	defer events.Cancel()
	for {
		ev, err := events.NextPeerEvent(n.ctx)
		if err != nil {
			return
		}
		if ev.Type != pubsub.PeerJoin {
			continue
		}
		select {
		case n.loc.wanted <- struct{}{}:
		default:
		}
	}
}

// LocationWanted signals when a neighbour joined the locations topic: a node with the su role
// publishes a fresh Scheduler-Location then (no more often than it chooses).
func (n *Host) LocationWanted() <-chan struct{} { return n.loc.wanted }

// PublishLocation publishes a Scheduler-Location the node signed (SignLocation). It passes the
// same validation as a received one.
func (n *Host) PublishLocation(ctx context.Context, it *dataitem.Item) error {
	if len(it.Raw()) > MaxLocationBytes {
		return fmt.Errorf("%w: %d bytes, limit %d", ErrInvalidLocation, len(it.Raw()), MaxLocationBytes)
	}
	if err := n.loc.topic.Publish(ctx, it.Raw()); err != nil {
		return fmt.Errorf("p2p: publishing on %s: %w", TopicSchedulerLocations, err)
	}
	return nil
}
