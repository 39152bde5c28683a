package store

import (
	"fmt"

	"github.com/dgraph-io/badger/v4"
)

// A Batch collects writes that become durable together (atomically: all or nothing).
// Set and Delete copy their arguments, so the caller may reuse its buffers at once. A Batch
// must not be changed after it is passed to Commit, and is not safe for concurrent use.
type Batch struct {
	ops []op
	err error // the first invalid write; Commit returns it and writes nothing

	scratch []byte // reused by the indexer for hashing long tags
}

type op struct {
	key    []byte // keyspace byte + user key
	value  []byte
	delete bool
}

// NewBatch returns an empty batch.
func (db *DB) NewBatch() *Batch { return &Batch{} }

// Len returns the number of writes in the batch.
func (b *Batch) Len() int { return len(b.ops) }

// Err returns the first invalid write recorded in the batch, which Commit will return.
func (b *Batch) Err() error { return b.err }

// Set stores value under key in ks.
func (b *Batch) Set(ks Keyspace, key, value []byte) {
	if !b.check(ks, key) {
		return
	}
	if len(value) > MaxValueBytes {
		b.setErr(fmt.Errorf("%w: value of %d bytes in keyspace %#x (max %d)", ErrTooLarge, len(value), byte(ks), MaxValueBytes))
		return
	}
	b.ops = append(b.ops, op{key: fullKey(ks, key), value: append([]byte(nil), value...)})
}

// setOwned appends a write whose full key (keyspace byte first) the store built itself and
// hands over: no checks, no copies. value must not be changed afterwards either.
func (b *Batch) setOwned(fullKey, value []byte) {
	b.ops = append(b.ops, op{key: fullKey, value: value})
}

// Delete removes key from ks (a no-op if it is absent).
func (b *Batch) Delete(ks Keyspace, key []byte) {
	if !b.check(ks, key) {
		return
	}
	b.ops = append(b.ops, op{key: fullKey(ks, key), delete: true})
}

func (b *Batch) check(ks Keyspace, key []byte) bool {
	switch {
	case b.err != nil:
		return false
	case !ks.Valid():
		b.setErr(fmt.Errorf("%w: %#x", ErrInvalidKeyspace, byte(ks)))
		return false
	case len(key) == 0:
		b.setErr(fmt.Errorf("%w: empty key in keyspace %#x", ErrInvalidKey, byte(ks)))
		return false
	case len(key) > MaxKeyBytes:
		b.setErr(fmt.Errorf("%w: key of %d bytes in keyspace %#x (max %d)", ErrInvalidKey, len(key), byte(ks), MaxKeyBytes))
		return false
	}
	return true
}

func (b *Batch) setErr(err error) {
	if b.err == nil {
		b.err = err
	}
}

// limits are what one Badger transaction accepts, and how the committer sizes groups.
type limits struct {
	txnBytes  int64 // Badger's cap on a transaction's estimated LSM bytes (exclusive)
	txnCount  int64 // Badger's cap on a transaction's entries (exclusive)
	maxValue  int   // longest value accepted
	threshold int64 // values at least this long go to the value log
	groupMax  int64 // Options.MaxBatchBytes
}

func newLimits(o Options, bdb *badger.DB) limits {
	l := limits{
		txnBytes:  bdb.MaxBatchSize(),
		txnCount:  bdb.MaxBatchCount(),
		maxValue:  MaxValueBytes,
		threshold: valueThreshold,
		groupMax:  int64(o.MaxBatchBytes),
	}
	if o.InMemory {
		l.maxValue = MaxInMemoryValueBytes
		l.threshold = MaxInMemoryValueBytes + 1
	}
	return l
}

// size is what a batch (or a group of batches) costs.
type size struct {
	lsm   int64 // Badger's transaction size estimate
	count int64 // entries
	total int64 // all key and value bytes, for MaxBatchBytes
}

func (s size) add(o size) size {
	return size{lsm: s.lsm + o.lsm, count: s.count + o.count, total: s.total + o.total}
}

// fitsTxn reports whether s fits in one Badger transaction.
func (l limits) fitsTxn(s size) bool {
	return s.lsm < l.txnBytes && s.count < l.txnCount
}

// measure validates b against the DB's limits and returns its cost.
func (l limits) measure(b *Batch) (size, error) {
	var s size
	for _, o := range b.ops {
		if len(o.value) > l.maxValue {
			return s, fmt.Errorf("%w: value of %d bytes (max %d)", ErrTooLarge, len(o.value), l.maxValue)
		}
		// Mirrors Badger's own estimate (Txn.checkSize): key, inline value or 12-byte value
		// pointer, 2 meta bytes, and 10 for the version appended to the key.
		v := int64(len(o.value))
		if v >= l.threshold {
			v = 12
		}
		s.lsm += int64(len(o.key)) + v + 2 + 10
		s.count++
		s.total += int64(len(o.key) + len(o.value))
	}
	// One entry of headroom for the transaction's commit marker.
	if !l.fitsTxn(size{lsm: s.lsm + 64, count: s.count + 1}) {
		return s, fmt.Errorf("%w: batch of %d writes, %d bytes of keys and inline values (max %d)", ErrTooLarge, s.count, s.lsm, l.txnBytes)
	}
	return s, nil
}

// Merge appends the writes of o to b (o must not be used afterwards): a caller that staged
// several batches commits them as one, all or nothing, with one sync.
func (b *Batch) Merge(o *Batch) {
	if o.err != nil {
		b.setErr(o.err)
	}
	b.ops = append(b.ops, o.ops...)
}
