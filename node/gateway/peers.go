package gateway

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/aonode/aonode/dataitem"
	"github.com/aonode/aonode/store"
)

// Fetcher finds an item the node does not hold: on a p2p node, fetch by id from peers
// (p2p.Host.Fetch). It returns the item verified (signature checked, id = the one asked) or
// an error.
type Fetcher interface {
	Fetch(ctx context.Context, id string) (*dataitem.Item, error)
}

// Bounds of looking items up at peers. The ids come from untrusted requests: each miss is
// remembered for a while, few look-ups run at once, each has a deadline, and one GraphQL
// request asks peers for a few ids only.
const (
	PeerFetchTimeout      = 10 * time.Second
	PeerMissTTL           = 30 * time.Second
	maxPeerMisses         = 16384
	maxConcurrentFetches  = 4
	maxPeerFetchesPerPost = 4
)

// peerLookup fetches missing items from peers and keeps them in the store.
type peerLookup struct {
	fetch Fetcher
	now   func() time.Time
	slots chan struct{}

	mu       sync.Mutex
	misses   map[string]time.Time
	inflight map[string]*peerCall
}

type peerCall struct {
	done chan struct{}
	it   *dataitem.Item
	err  error
}

func newPeerLookup(f Fetcher, now func() time.Time) *peerLookup {
	return &peerLookup{
		fetch:    f,
		now:      now,
		slots:    make(chan struct{}, maxConcurrentFetches),
		misses:   map[string]time.Time{},
		inflight: map[string]*peerCall{},
	}
}

// fromPeers finds id at the peers, verifies it and stores it with its indexes, so that the
// next look-up, by id or by tag, is local. Every failure wraps store.ErrNotFound: for the
// client the item is not there.
func (g *Gateway) fromPeers(ctx context.Context, id string) (*dataitem.Item, error) {
	p := g.peers
	if p == nil {
		return nil, store.ErrNotFound
	}
	p.mu.Lock()
	if at, ok := p.misses[id]; ok && p.now().Sub(at) < PeerMissTTL {
		p.mu.Unlock()
		return nil, fmt.Errorf("%w: %s: no peer had it moments ago", store.ErrNotFound, id)
	}
	if c, ok := p.inflight[id]; ok {
		p.mu.Unlock()
		select {
		case <-c.done:
			return c.it, c.err
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: %s: %w", store.ErrNotFound, id, ctx.Err())
		}
	}
	c := &peerCall{done: make(chan struct{})}
	p.inflight[id] = c
	p.mu.Unlock()

	// A look-up that ended between the caller's store miss and now has stored the item.
	c.it, c.err = loadItem(g.src, id)
	if errors.Is(c.err, store.ErrNotFound) {
		c.it, c.err = g.fetchAndStore(ctx, id)
	}
	p.mu.Lock()
	delete(p.inflight, id)
	if c.err != nil && ctx.Err() == nil {
		if len(p.misses) >= maxPeerMisses {
			clear(p.misses)
		}
		p.misses[id] = p.now()
	}
	p.mu.Unlock()
	close(c.done)
	return c.it, c.err
}

func (g *Gateway) fetchAndStore(ctx context.Context, id string) (*dataitem.Item, error) {
	p := g.peers
	ctx, cancel := context.WithTimeout(ctx, PeerFetchTimeout)
	defer cancel()
	select {
	case p.slots <- struct{}{}:
		defer func() { <-p.slots }()
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: %s: peer look-ups busy", store.ErrNotFound, id)
	}
	it, err := p.fetch.Fetch(ctx, id)
	if err != nil {
		g.peerFetches.WithLabelValues("not_found").Inc()
		return nil, fmt.Errorf("%w: %s: not at the peers: %v", store.ErrNotFound, id, err)
	}
	if it.ID() != id {
		g.peerFetches.WithLabelValues("bad").Inc()
		return nil, fmt.Errorf("%w: %s: a peer answered with %s", store.ErrNotFound, id, it.ID())
	}
	b := g.src.NewBatch()
	b.PutParsedItem(it)
	if err := g.src.Commit(ctx, b); err != nil {
		if errors.Is(err, store.ErrTooLarge) {
			g.peerFetches.WithLabelValues("too_large").Inc()
			return nil, fmt.Errorf("%w: %s: too large for this node's store", store.ErrNotFound, id)
		}
		return nil, fmt.Errorf("gateway: storing %s fetched from a peer: %w", id, err)
	}
	g.peerFetches.WithLabelValues("ok").Inc()
	g.log.Debug("item fetched from a peer", "id", id, "bytes", len(it.Raw()))
	return it, nil
}
