package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// request is one Commit call waiting for the committer.
type request struct {
	b    *Batch
	size size
	done chan error // buffered: the committer never blocks on a caller that went away
}

// Commit returns only after the batch is on disk and fsynced (group commit), or with an
// error, in which case nothing of the batch is visible — with two exceptions whose outcome
// the caller must treat as unknown (read back, or retry an idempotent batch): if ctx ends
// while the batch waits for the committer, Commit returns ctx.Err() but the batch may still
// be written; and the Commit that first reports ErrFailed may have been applied. After
// Close, Commit returns ErrClosed.
func (db *DB) Commit(ctx context.Context, b *Batch) error {
	if b == nil {
		return errors.New("store: nil batch")
	}
	if b.err != nil {
		return b.err
	}
	select {
	case <-db.closing:
		return ErrClosed
	default:
	}
	if err := db.failed(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(b.ops) == 0 {
		return nil
	}
	s, err := db.lim.measure(b)
	if err != nil {
		return err
	}
	start := time.Now()
	r := &request{b: b, size: s, done: make(chan error, 1)}
	db.inflight.Add(1)
	defer db.leave()
	select {
	case db.reqs <- r:
	case <-db.closing:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err = <-r.done:
	case <-ctx.Done():
		return ctx.Err()
	case <-db.committerDone:
		// The committer has drained the queue and exited; a request it did not take was
		// never written.
		select {
		case err = <-r.done:
		default:
			return ErrClosed
		}
	}
	db.m.commitSeconds.Observe(time.Since(start).Seconds())
	return err
}

// leave ends a Commit call and wakes a committer that may be waiting for it (see gather).
func (db *DB) leave() {
	db.inflight.Add(-1)
	select {
	case db.left <- struct{}{}:
	default:
	}
}

// commitLoop is the single committer. It takes whatever is queued, waiting up to
// MaxBatchDelay for Commit calls already under way (see gather), writes it as one Badger
// transaction made durable by one sync, and answers every request of the group.
func (db *DB) commitLoop() {
	defer close(db.committerDone)
	var (
		group []*request
		held  *request // the request that did not fit into the previous group
	)
	for {
		first := held
		held = nil
		if first == nil {
			select {
			case first = <-db.reqs:
			case <-db.closing:
				db.drain()
				return
			}
		}
		group = append(group[:0], first)
		group, held = db.gather(group, first.size, true)
		db.writeGroup(group)
		clear(group) // drop references to the batches
	}
}

// drain writes everything still queued after Close began.
func (db *DB) drain() {
	var group []*request
	var held *request
	for {
		first := held
		held = nil
		if first == nil {
			select {
			case first = <-db.reqs:
			default:
				return
			}
		}
		group = append(group[:0], first)
		group, held = db.gather(group, first.size, false)
		db.writeGroup(group)
	}
}

// gather adds queued requests to group while they fit in one transaction and in
// MaxBatchBytes, and returns the first request that did not fit, if any. With wait set and
// MaxBatchDelay > 0 it also waits, up to MaxBatchDelay, for Commit calls that are under way
// but not yet queued; it stops waiting as soon as the group holds every Commit in flight.
//
// Why wait at all: without it, concurrent committers settle into two cohorts that
// alternate, one syncing while the other prepares its next batch, so a group holds about
// half of them. Waiting a little lets the cohorts merge, which roughly doubles the batches
// per sync when syncs are slow. Why stop at the in-flight count: nobody else is coming, and
// a lone committer (or a few) would otherwise pay the whole delay on every commit.
func (db *DB) gather(group []*request, s size, wait bool) ([]*request, *request) {
	var timeout <-chan time.Time
	if d := db.opts.MaxBatchDelay; d > 0 && wait {
		t := time.NewTimer(d)
		defer t.Stop()
		timeout = t.C
	}
	for s.total < db.lim.groupMax {
		var r *request
		select {
		case r = <-db.reqs:
		default:
			if timeout == nil || int64(len(group)) >= db.inflight.Load() {
				return group, nil
			}
			select {
			case r = <-db.reqs:
			case <-db.left:
				continue // a Commit returned: re-check whether anyone is still coming
			case <-timeout:
				return group, nil
			case <-db.closing:
				return group, nil
			}
		}
		next := s.add(r.size)
		if next.total > db.lim.groupMax || !db.lim.fitsTxn(size{lsm: next.lsm + 64, count: next.count + 1}) {
			return group, r
		}
		group = append(group, r)
		s = next
	}
	return group, nil
}

// writeGroup writes the batches of group in one transaction and makes them durable.
func (db *DB) writeGroup(group []*request) {
	start := time.Now()
	if err := db.failed(); err != nil {
		answer(group, err)
		return
	}
	txn := db.bdb.NewTransactionAt(db.readTs.Load(), true)
	for _, r := range group {
		if err := stage(txn, r.b); err != nil {
			// Badger refused a write that measure accepted. Only that batch must fail, so
			// write the batches one by one.
			txn.Discard()
			for _, r := range group {
				db.writeOne(r)
			}
			return
		}
	}
	err := db.finish(txn)
	if err == nil {
		// Before answering, so that a caller who reads the metrics after Commit sees them.
		db.m.observeGroup(group, time.Since(start))
	}
	answer(group, err)
}

// writeOne writes a single batch in its own transaction.
func (db *DB) writeOne(r *request) {
	start := time.Now()
	if err := db.failed(); err != nil {
		r.done <- err
		return
	}
	txn := db.bdb.NewTransactionAt(db.readTs.Load(), true)
	if err := stage(txn, r.b); err != nil {
		txn.Discard()
		if errors.Is(err, badger.ErrTxnTooBig) {
			r.done <- fmt.Errorf("%w: %w", ErrTooLarge, err)
		} else {
			r.done <- fmt.Errorf("%w: %w", ErrInvalidKey, err)
		}
		return
	}
	err := db.finish(txn)
	if err == nil {
		db.m.observeGroup([]*request{r}, time.Since(start))
	}
	r.done <- err
}

// finish commits txn and makes it durable. Any error here is fatal for the DB: Badger may
// have applied part of the write to its memtable, and after a failed sync no one can tell
// what reached the disk.
func (db *DB) finish(txn *badger.Txn) error {
	db.nextTs++
	ts := db.nextTs
	err := txn.CommitAt(ts, nil)
	if err == nil && db.opts.mode == syncAfterCommit && !db.opts.InMemory {
		err = db.bdb.Sync()
	}
	if err == nil && db.failed() == nil {
		// Visible to reads from now on. Compaction may drop versions older than the
		// oldest snapshot still being read, and no others.
		db.readTs.Store(ts)
		db.bdb.SetDiscardTs(db.readers.oldest(ts))
	}
	if err != nil {
		db.fail(err)
		db.m.commitErrors.Inc()
	}
	// Badger only logs a failed value-log sync (the logger bridge records it); check after
	// every commit so that no batch is acknowledged after one.
	return db.failed()
}

func stage(txn *badger.Txn, b *Batch) error {
	for _, o := range b.ops {
		var err error
		if o.delete {
			err = txn.Delete(o.key)
		} else {
			err = txn.Set(o.key, o.value)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func answer(group []*request, err error) {
	for _, r := range group {
		r.done <- err
	}
}
