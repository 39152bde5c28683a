package evidence

import (
	"sync"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/aonode/aonode/dataitem"
)

// Lookup returns the assignment a node holds for slot nonce of process pid (from its store),
// ok false when it holds none.
type Lookup func(pid string, nonce uint64) (assignment *dataitem.Item, ok bool)

type slotKey struct {
	pid   string
	nonce uint64
}

// Witness turns assignments arriving from anywhere (gossip, catch-up, replication) into
// evidence: it remembers the first assignment it saw for each recent slot (a bounded number,
// least recently used forgotten first) and asks lookup for older ones, and a different,
// validly signed assignment for a slot it knows is a conflict. Safe for concurrent use.
type Witness struct {
	mu     sync.Mutex
	seen   *lru.Cache[slotKey, *dataitem.Item]
	lookup Lookup
}

// NewWitness remembers up to size slots (at least 1); lookup may be nil.
func NewWitness(size int, lookup Lookup) *Witness {
	seen, _ := lru.New[slotKey, *dataitem.Item](max(size, 1))
	return &Witness{seen: seen, lookup: lookup}
}

// Observe records assignment a, whose signature the caller has verified (a gossip validator
// has: verifying every push twice would double the cost of a push), and returns the evidence
// it makes with the assignment known for the same slot, nil when there is none or it is the
// same item. A conflict is made evidence by New, which verifies both signatures again. An a
// that is not an assignment returns the error and is not remembered. Membership of the
// signers is the caller's to check (VerifySet): the Witness does not know the sets.
func (w *Witness) Observe(a *dataitem.Item) (*Evidence, error) {
	pid, nonce, err := slotOf(a)
	if err != nil {
		return nil, err
	}
	k := slotKey{pid, nonce}
	w.mu.Lock()
	prev, ok := w.seen.Get(k)
	w.mu.Unlock()
	if !ok && w.lookup != nil {
		prev, ok = w.lookup(pid, nonce)
	}
	if ok && prev.ID() == a.ID() {
		return nil, nil
	}
	if !ok {
		w.mu.Lock()
		// Keep the first one seen: a conflicting second one must not hide the first.
		w.seen.ContainsOrAdd(k, a)
		w.mu.Unlock()
		return nil, nil
	}
	return New(prev, a)
}
