package p2p

import (
	"slices"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// Directory is the node directory: the newest unexpired record of every peer,
// indexed by peer and by scheduler address. It is safe for concurrent use.
// The Host feeds it from the ao/1/nodes topic and prunes it; look-ups never
// return an expired record even between prunes.
type Directory struct {
	mu      sync.RWMutex
	max     int
	now     func() time.Time
	byPeer  map[peer.ID]*NodeRecord
	bySched map[string]*NodeRecord
}

// NewDirectory returns an empty directory holding at most max peers. now is
// the clock (time.Now when nil).
func NewDirectory(max int, now func() time.Time) *Directory {
	if now == nil {
		now = time.Now
	}
	return &Directory{max: max, now: now, byPeer: map[peer.ID]*NodeRecord{}, bySched: map[string]*NodeRecord{}}
}

// Put stores r if it is newer than the record held for its peer, reporting
// whether it did. A full directory takes no new peers.
func (d *Directory) Put(r *NodeRecord) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.newerLocked(r) {
		return false
	}
	old, had := d.byPeer[r.PeerID]
	if !had && len(d.byPeer) >= d.max {
		return false
	}
	if had && old.Scheduler != "" && d.bySched[old.Scheduler] == old {
		delete(d.bySched, old.Scheduler)
	}
	d.byPeer[r.PeerID] = r
	if r.Scheduler != "" {
		// One wallet may run behind several peer ids over time (a re-keyed
		// libp2p key): the newest record wins the scheduler address.
		if cur, ok := d.bySched[r.Scheduler]; !ok || !r.Issued.Before(cur.Issued) {
			d.bySched[r.Scheduler] = r
		}
	}
	return true
}

// Newer reports whether r is newer than what the directory holds for its peer.
func (d *Directory) Newer(r *NodeRecord) bool {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.newerLocked(r)
}

func (d *Directory) newerLocked(r *NodeRecord) bool {
	old, ok := d.byPeer[r.PeerID]
	return !ok || r.Issued.After(old.Issued)
}

// SchedulerURL is the HTTP URL of the node answering for scheduler address.
func (d *Directory) SchedulerURL(address string) (string, bool) {
	r, ok := d.Scheduler(address)
	if !ok {
		return "", false
	}
	return r.URL, true
}

// Scheduler is the record of the node answering for scheduler address.
func (d *Directory) Scheduler(address string) (NodeRecord, bool) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	r, ok := d.bySched[address]
	if !ok || !r.Expires.After(d.now()) {
		return NodeRecord{}, false
	}
	return *r, true
}

// Peer is the record of peer p.
func (d *Directory) Peer(p peer.ID) (NodeRecord, bool) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	r, ok := d.byPeer[p]
	if !ok || !r.Expires.After(d.now()) {
		return NodeRecord{}, false
	}
	return *r, true
}

// Peers returns the unexpired records, ordered by peer id.
func (d *Directory) Peers() []NodeRecord {
	d.mu.RLock()
	now := d.now()
	out := make([]NodeRecord, 0, len(d.byPeer))
	for _, r := range d.byPeer {
		if r.Expires.After(now) {
			out = append(out, *r)
		}
	}
	d.mu.RUnlock()
	slices.SortFunc(out, func(a, b NodeRecord) int {
		switch {
		case a.PeerID < b.PeerID:
			return -1
		case a.PeerID > b.PeerID:
			return 1
		}
		return 0
	})
	return out
}

// Len is the number of records held, expired or not.
func (d *Directory) Len() int {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return len(d.byPeer)
}

// Prune drops expired records and reports how many it dropped.
func (d *Directory) Prune() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	now := d.now()
	n := 0
	for p, r := range d.byPeer {
		if !r.Expires.After(now) {
			delete(d.byPeer, p)
			n++
		}
	}
	for s, r := range d.bySched {
		if !r.Expires.After(now) {
			delete(d.bySched, s)
		}
	}
	// A scheduler whose newest record expired may still be served by another
	// live peer of the same wallet.
	for _, r := range d.byPeer {
		if r.Scheduler == "" {
			continue
		}
		if cur, ok := d.bySched[r.Scheduler]; !ok || r.Issued.After(cur.Issued) {
			d.bySched[r.Scheduler] = r
		}
	}
	return n
}

// AnnouncesRole reports whether an unexpired record signed by wallet address announces role
// (an SU checks with it that an item's signer is an MU of the network).
func (d *Directory) AnnouncesRole(address, role string) bool {
	d.mu.RLock()
	defer d.mu.RUnlock()
	now := d.now()
	for _, r := range d.byPeer {
		if r.Address == address && r.Expires.After(now) && r.HasRole(role) {
			return true
		}
	}
	return false
}
