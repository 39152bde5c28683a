package store

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/aonode/aonode/dataitem"
)

// Index keyspaces: what the node's gateway needs to answer GraphQL look-ups of the items it
// holds by tag, owner and recipient. Every item written with PutItem (or IndexItem) is
// indexed; an item gets an order number when it is indexed (its unix time in nanoseconds),
// and every index lists items by (order, id), so a query walks one index in order and pages
// with an (order, id) cursor.
//
// Tag names, tag values, owners and recipients enter index keys as a 16-byte SHA-256 prefix
// of their bytes: keys stay short and fixed-size whatever the tag (values may be 3 KiB), and
// a collision would need 2^64 work per pair, far beyond anything a query could stumble on.
const (
	// KsIndexItems maps an item id to its 8-byte big-endian order number. When an item is
	// indexed again (the same item stored twice), the newer order wins and the entries
	// written under the older one are skipped by queries as stale.
	KsIndexItems Keyspace = 0xE0
	// KsIndexOrder lists every indexed item: (order, id) -> nothing.
	KsIndexOrder Keyspace = 0xE1
	// KsIndexTags: (hash(name, value), order, id) -> nothing, one entry per distinct tag.
	KsIndexTags Keyspace = 0xE2
	// KsIndexOwners: (hash(address), order, id) -> nothing, for the Arweave-style address
	// and, for Ethereum owners, the EIP-55 address as well.
	KsIndexOwners Keyspace = 0xE3
	// KsIndexRecipients: (hash(target as base64url), order, id) -> nothing.
	KsIndexRecipients Keyspace = 0xE4
)

// indexHashBytes is how much of a SHA-256 goes into an index key.
const indexHashBytes = 16

// DefaultMaxScan bounds the index entries one QueryItems call examines.
const DefaultMaxScan = 100_000

// ErrQueryTooBroad: QueryItems examined ItemQuery.MaxScan index entries without filling the
// page. The caller should narrow the query (a more selective filter first).
var ErrQueryTooBroad = errors.New("store: query too broad")

// IndexItem writes the index entries of it under the order number order (PutItem uses the
// current time). It does not store the item's bytes; PutItem does both.
//
// It runs once for every item a scheduler or gateway stores, so it avoids per-key garbage:
// all of an item's index keys share one allocation, and the hashes are computed on the stack
// (or a batch-owned scratch buffer for long tags).
func (b *Batch) IndexItem(it *dataitem.Item, order uint64) {
	if b.err != nil {
		return
	}
	rawID := it.RawID()
	var idBuf [43]byte
	id := idBuf[:base64.RawURLEncoding.EncodedLen(len(rawID))]
	base64.RawURLEncoding.Encode(id, rawID[:])
	eth := it.EthAddress()
	var (
		hashes [][indexHashBytes]byte // tag hashes, distinct
		small  [16][indexHashBytes]byte
	)
	hashes = small[:0]
	for _, t := range it.Tags {
		h := b.tagHash(t.Name, t.Value)
		if !containsHash(hashes, h) {
			hashes = append(hashes, h)
		}
	}
	n := len(hashes) + 1 // tags and owner
	if eth != "" {
		n++
	}
	if it.Target != nil {
		n++
	}
	suffixLen := 8 + len(id)
	b.ops = slices.Grow(b.ops, n+2)
	// One buffer holds every key: the items entry, its 8-byte value, the order entry and
	// one hashed entry per tag, owner and recipient.
	buf := make([]byte, 0, (1+len(id))+8+(1+suffixLen)+n*(1+indexHashBytes+suffixLen))
	var ord [8]byte
	binary.BigEndian.PutUint64(ord[:], order)
	cut := func(from int) []byte { return buf[from:len(buf):len(buf)] }

	at := len(buf)
	buf = append(append(buf, byte(KsIndexItems)), id...)
	itemsKey := cut(at)
	at = len(buf)
	buf = append(buf, ord[:]...)
	b.setOwned(itemsKey, cut(at))
	at = len(buf)
	buf = append(append(append(buf, byte(KsIndexOrder)), ord[:]...), id...)
	b.setOwned(cut(at), nil)
	put := func(ks Keyspace, h [indexHashBytes]byte) {
		at := len(buf)
		buf = append(append(append(append(buf, byte(ks)), h[:]...), ord[:]...), id...)
		b.setOwned(cut(at), nil)
	}
	for _, h := range hashes {
		put(KsIndexTags, h)
	}
	addr := sha256.Sum256(it.Owner) // the Arweave-style address, as Item.Address encodes it
	var addrBuf [43]byte
	put(KsIndexOwners, valueHashBytes(addrBuf[:base64.RawURLEncoding.EncodedLen(len(addr))], addr[:]))
	if eth != "" {
		put(KsIndexOwners, valueHash(eth))
	}
	if it.Target != nil {
		tb := make([]byte, base64.RawURLEncoding.EncodedLen(len(it.Target)))
		put(KsIndexRecipients, valueHashBytes(tb, it.Target))
	}
}

// valueHashBytes is valueHash of the base64url encoding of raw, encoded into enc (which
// must be base64.RawURLEncoding.EncodedLen(len(raw)) long).
func valueHashBytes(enc, raw []byte) [indexHashBytes]byte {
	base64.RawURLEncoding.Encode(enc, raw)
	s := sha256.Sum256(enc)
	var out [indexHashBytes]byte
	copy(out[:], s[:])
	return out
}

func containsHash(hs [][indexHashBytes]byte, h [indexHashBytes]byte) bool {
	for _, x := range hs {
		if x == h {
			return true
		}
	}
	return false
}

// PutParsedItem stores the raw bytes of a parsed item under its id and indexes it, like
// PutItem but without parsing the bytes again. The caller vouches that it came from
// dataitem.Parse or dataitem.Sign (its Raw bytes are the item).
func (b *Batch) PutParsedItem(it *dataitem.Item) {
	if b.err != nil {
		return
	}
	rawID := it.RawID()
	b.Set(KsItems, []byte(dataitem.EncodeID(rawID[:])), it.Raw())
	b.IndexItem(it, uint64(time.Now().UnixNano()))
}

// DeleteItem removes an item stored with PutItem or PutParsedItem and the index entries it
// was indexed under at order (ItemOrder's answer). The keys are the ones IndexItem writes, so
// the two cannot drift apart. It is for items the node replaces (a scheduler's refreshed
// Scheduler-Location), not for items a scheduler assigned.
func (b *Batch) DeleteItem(it *dataitem.Item, order uint64) {
	if b.err != nil {
		return
	}
	var idx Batch
	idx.IndexItem(it, order)
	for _, o := range idx.ops {
		b.ops = append(b.ops, op{key: o.key, delete: true})
	}
	rawID := it.RawID()
	b.Delete(KsItems, []byte(dataitem.EncodeID(rawID[:])))
}

// indexRaw indexes raw when it is a well-formed data item whose id is id. The store does not
// judge items (callers verify them before storing); bytes that are not an item with that id
// are stored unindexed rather than indexed under a name they do not carry.
func (b *Batch) indexRaw(id string, raw []byte) {
	it, err := dataitem.Parse(raw)
	if err != nil || it.ID() != id {
		return
	}
	b.IndexItem(it, uint64(time.Now().UnixNano()))
}

func orderKey(order uint64, id string) []byte {
	k := make([]byte, 8, 8+len(id))
	binary.BigEndian.PutUint64(k, order)
	return append(k, id...)
}

// tagHash is the index hash of a tag: SHA-256 of uvarint(len(name)) || name || value.
func tagHash(name, value string) [indexHashBytes]byte {
	var scratch []byte
	return tagHashInto(&scratch, name, value)
}

func (b *Batch) tagHash(name, value string) [indexHashBytes]byte {
	return tagHashInto(&b.scratch, name, value)
}

// tagHashInto hashes in one call over a buffer, reused through scratch, rather than through
// a streaming hash, which would escape to the heap on every tag.
func tagHashInto(scratch *[]byte, name, value string) [indexHashBytes]byte {
	var stack [256]byte
	buf := stack[:0]
	need := binary.MaxVarintLen64 + len(name) + len(value)
	if need > len(stack) {
		if cap(*scratch) < need {
			*scratch = make([]byte, 0, need)
		}
		buf = (*scratch)[:0]
	}
	buf = binary.AppendUvarint(buf, uint64(len(name)))
	buf = append(append(buf, name...), value...)
	s := sha256.Sum256(buf)
	var out [indexHashBytes]byte
	copy(out[:], s[:])
	return out
}

func valueHash(v string) [indexHashBytes]byte {
	s := sha256.Sum256([]byte(v))
	var out [indexHashBytes]byte
	copy(out[:], s[:])
	return out
}

// ItemRef is one item in index order.
type ItemRef struct {
	Order uint64
	ID    string
}

// less orders refs by (Order, ID).
func (r ItemRef) less(o ItemRef) bool {
	if r.Order != o.Order {
		return r.Order < o.Order
	}
	return r.ID < o.ID
}

// TagFilter matches items that carry a tag named Name (exact bytes) whose value is any of
// Values.
type TagFilter struct {
	Name   string
	Values []string
}

// ItemQuery selects indexed items. Every filter must match (AND); within a filter any value
// may (OR). An empty Owners or Recipients list does not filter.
type ItemQuery struct {
	Tags       []TagFilter
	Owners     []string // Arweave-style addresses, or EIP-55 addresses of Ethereum owners
	Recipients []string // targets, base64url
	Descending bool     // newest first
	After      *ItemRef // start strictly after this position (a page cursor)
	Limit      int      // most refs returned; must be positive
	MaxScan    int      // index entries examined before ErrQueryTooBroad; 0 = DefaultMaxScan
}

// filter is one AND term of a query: the index entries any one of which satisfies it.
type filter struct {
	ks     Keyspace
	hashes [][indexHashBytes]byte
}

func (q ItemQuery) filters() []filter {
	var fs []filter
	for _, t := range q.Tags {
		f := filter{ks: KsIndexTags}
		for _, v := range t.Values {
			f.hashes = append(f.hashes, tagHash(t.Name, v))
		}
		fs = append(fs, f)
	}
	if len(q.Owners) > 0 {
		f := filter{ks: KsIndexOwners}
		for _, o := range q.Owners {
			f.hashes = append(f.hashes, valueHash(o))
		}
		fs = append(fs, f)
	}
	if len(q.Recipients) > 0 {
		f := filter{ks: KsIndexRecipients}
		for _, r := range q.Recipients {
			f.hashes = append(f.hashes, valueHash(r))
		}
		fs = append(fs, f)
	}
	return fs
}

// QueryItems returns up to q.Limit items matching q, in (order, id) order (descending when
// q.Descending), strictly after q.After. It walks the index of the filter with the fewest
// values (merging its values' entries) and checks the other filters by key look-ups, all in
// one read snapshot.
func (db *DB) QueryItems(q ItemQuery) ([]ItemRef, error) {
	if q.Limit <= 0 {
		return nil, errors.New("store: query limit must be positive")
	}
	maxScan := q.MaxScan
	if maxScan <= 0 {
		maxScan = DefaultMaxScan
	}
	fs := q.filters()
	for _, f := range fs {
		if len(f.hashes) == 0 {
			return nil, nil // a filter with no values matches nothing
		}
	}
	var out []ItemRef
	err := db.view(func(txn *badger.Txn) error {
		driver := pickDriver(txn, fs)
		var prefixes [][]byte
		if driver < 0 {
			prefixes = [][]byte{{byte(KsIndexOrder)}}
		} else {
			for _, h := range fs[driver].hashes {
				prefixes = append(prefixes, append([]byte{byte(fs[driver].ks)}, h[:]...))
			}
		}
		streams := make([]*indexStream, 0, len(prefixes))
		defer func() {
			for _, s := range streams {
				s.it.Close()
			}
		}()
		for _, p := range prefixes {
			streams = append(streams, openStream(txn, p, q.Descending, q.After))
		}
		var last *ItemRef
		for scanned := 0; len(out) < q.Limit; scanned++ {
			best := -1
			for i, s := range streams {
				if !s.ok {
					continue
				}
				if best < 0 || (q.Descending && streams[best].ref.less(s.ref)) || (!q.Descending && s.ref.less(streams[best].ref)) {
					best = i
				}
			}
			if best < 0 {
				return nil
			}
			if scanned >= maxScan {
				return fmt.Errorf("%w: examined %d index entries", ErrQueryTooBroad, scanned)
			}
			ref := streams[best].ref
			streams[best].next()
			if last != nil && *last == ref {
				continue // the same item under two values of the driving filter
			}
			last = &ref
			match, err := matches(txn, ref, fs, driver)
			if err != nil {
				return err
			}
			if match {
				out = append(out, ref)
			}
		}
		return nil
	})
	return out, err
}

// estimateCap bounds how many index entries pickDriver counts per filter.
const estimateCap = 64

// pickDriver returns the filter with the fewest index entries (counted up to estimateCap),
// or -1 when there is no filter. Which filter is selective depends on the data (an owner's
// few Scheduler-Location items, or one process's checkpoints among a CU's many), so it is
// measured rather than guessed.
func pickDriver(txn *badger.Txn, fs []filter) int {
	best, bestN := -1, 0
	for i, f := range fs {
		n := 0
		for _, h := range f.hashes {
			if n >= estimateCap {
				break
			}
			prefix := append([]byte{byte(f.ks)}, h[:]...)
			it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: false, Prefix: prefix})
			for it.Seek(prefix); it.Valid() && n < estimateCap; it.Next() {
				n++
			}
			it.Close()
		}
		if best < 0 || n < bestN {
			best, bestN = i, n
		}
	}
	return best
}

// matches reports whether ref is the item's current index entry and every filter but the
// driving one holds for it.
func matches(txn *badger.Txn, ref ItemRef, fs []filter, driver int) (bool, error) {
	v, err := getIn(txn, fullKey(KsIndexItems, []byte(ref.ID)))
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if len(v) != 8 || binary.BigEndian.Uint64(v) != ref.Order {
		return false, nil // stale: the item was indexed again later
	}
	suffix := orderKey(ref.Order, ref.ID)
	for i, f := range fs {
		if i == driver {
			continue
		}
		any := false
		for _, h := range f.hashes {
			key := append(append([]byte{byte(f.ks)}, h[:]...), suffix...)
			_, err := txn.Get(key)
			if err == nil {
				any = true
				break
			}
			if !errors.Is(err, badger.ErrKeyNotFound) {
				return false, err
			}
		}
		if !any {
			return false, nil
		}
	}
	return true, nil
}

// indexStream walks the (order, id) entries under one index prefix.
type indexStream struct {
	it      *badger.Iterator
	prefix  []byte
	reverse bool
	ok      bool
	ref     ItemRef
}

func openStream(txn *badger.Txn, prefix []byte, reverse bool, after *ItemRef) *indexStream {
	io := badger.IteratorOptions{PrefetchValues: false, Reverse: reverse}
	if !reverse {
		io.Prefix = prefix
	}
	s := &indexStream{it: txn.NewIterator(io), prefix: prefix, reverse: reverse}
	var seek, skip []byte
	switch {
	case after != nil:
		seek = append(append([]byte(nil), prefix...), orderKey(after.Order, after.ID)...)
		skip = seek
	case reverse:
		seek = prefixEnd(prefix)
	default:
		seek = prefix
	}
	s.it.Seek(seek)
	for s.it.Valid() {
		k := s.it.Item().Key()
		if (skip != nil && bytes.Equal(k, skip)) || (reverse && !bytes.HasPrefix(k, prefix) && bytes.Compare(k, prefix) > 0) {
			s.it.Next()
			continue
		}
		break
	}
	s.load()
	return s
}

func (s *indexStream) next() {
	s.it.Next()
	s.load()
}

// load reads the current entry; entries whose suffix is not (order, id) cannot have been
// written by IndexItem and are skipped.
func (s *indexStream) load() {
	for ; s.it.Valid(); s.it.Next() {
		k := s.it.Item().Key()
		if !bytes.HasPrefix(k, s.prefix) {
			break
		}
		rest := k[len(s.prefix):]
		if len(rest) <= 8 {
			continue
		}
		s.ref = ItemRef{Order: binary.BigEndian.Uint64(rest), ID: string(rest[8:])}
		s.ok = true
		return
	}
	s.ok = false
}

// ItemOrder returns the order number under which id was last indexed, or ErrNotFound.
func (db *DB) ItemOrder(id string) (uint64, error) {
	v, err := db.Get(KsIndexItems, []byte(id))
	if err != nil {
		return 0, err
	}
	if len(v) != 8 {
		return 0, fmt.Errorf("%w: item order of %d bytes", ErrCorrupt, len(v))
	}
	return binary.BigEndian.Uint64(v), nil
}
