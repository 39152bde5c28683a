package store

import (
	"context"
	"encoding/binary"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
	dto "github.com/prometheus/client_model/go"
)

// BenchmarkCommit measures commits per second with 1, 8 and 64 concurrent committers.
//
//	durable     the store as shipped: DefaultOptions (SyncWrites on, one transaction per
//	            group, MaxBatchDelay 100µs)
//	nodelay     durable with MaxBatchDelay 0
//	syncafter   SyncWrites off and db.Sync() after each group (the rejected alternative)
//	badger      no committer: every Commit is its own Badger transaction with SyncWrites on,
//	            relying on Badger's own grouping of concurrent transactions
//	nosync      not durable (no sync at all): the cost of everything but the disk flush
//	inmemory    Badger in memory
//
// The "small" batch is one 16-byte key with a 100-byte value; "assignment" is what the
// scheduler commits per message: a 1 KiB data item and a slot with its three indexes.
func BenchmarkCommit(b *testing.B) {
	modes := []struct {
		name string
		mod  func(*Options)
	}{
		{"durable", nil},
		{"nodelay", func(o *Options) { o.MaxBatchDelay = 0 }},
		{"syncafter", func(o *Options) { o.mode = syncAfterCommit }},
		{"badger", nil},
		{"nosync", func(o *Options) { o.mode = syncNever }},
		{"inmemory", func(o *Options) { o.InMemory = true }},
	}
	for _, mode := range modes {
		for _, n := range []int{1, 8, 64} {
			b.Run(fmt.Sprintf("%s/small/committers=%d", mode.name, n), func(b *testing.B) {
				benchCommit(b, n, mode.mod, mode.name == "badger", smallBatch)
			})
		}
	}
	for _, n := range []int{8, 64} {
		b.Run(fmt.Sprintf("durable/assignment/committers=%d", n), func(b *testing.B) {
			benchCommit(b, n, nil, false, assignmentBatch)
		})
	}
	for _, d := range []time.Duration{50 * time.Microsecond, 250 * time.Microsecond, time.Millisecond} {
		b.Run(fmt.Sprintf("delay=%v/small/committers=64", d), func(b *testing.B) {
			benchCommit(b, 64, func(o *Options) { o.MaxBatchDelay = d }, false, smallBatch)
		})
	}
}

func smallBatch(db *DB, i uint64) *Batch {
	b := db.NewBatch()
	key := binary.BigEndian.AppendUint64([]byte("benchkey"), i)
	b.Set(KsMUQueue, key, make([]byte, 100))
	return b
}

var benchItem = make([]byte, 1024)

func assignmentBatch(db *DB, i uint64) *Batch {
	b := db.NewBatch()
	id := fmt.Sprintf("message-%039d", i)
	b.PutItem(id, benchItem)
	b.PutSlot(Slot{
		Process:      "bench-process-0123456789012345678901234567",
		Nonce:        i,
		Timestamp:    1_700_000_000_000 + int64(i),
		BlockHeight:  1_500_000,
		HashChain:    "hash-chain-0123456789012345678901234567890",
		AssignmentID: fmt.Sprintf("assignment-%036d", i),
		MessageID:    id,
	})
	return b
}

func benchCommit(b *testing.B, committers int, mod func(*Options), native bool, build func(*DB, uint64) *Batch) {
	o := DefaultOptions(b.TempDir())
	o.Logger = quietLogger()
	if mod != nil {
		mod(&o)
	}
	db, err := Open(o)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	commitFn := func(batch *Batch) error { return db.Commit(context.Background(), batch) }
	if native {
		commitFn = func(batch *Batch) error {
			return db.bdb.Update(func(txn *badger.Txn) error { return stage(txn, batch) })
		}
	}
	var (
		next   atomic.Uint64
		wg     sync.WaitGroup
		failed atomic.Pointer[error]
	)
	b.ReportAllocs()
	b.ResetTimer()
	for range committers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > uint64(b.N) {
					return
				}
				if err := commitFn(build(db, i)); err != nil {
					failed.CompareAndSwap(nil, &err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	if p := failed.Load(); p != nil {
		b.Fatal(*p)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "commits/s")
	var m dto.Metric
	if err := db.m.batchesPerSync.Write(&m); err == nil && m.GetHistogram().GetSampleCount() > 0 {
		h := m.GetHistogram()
		b.ReportMetric(h.GetSampleSum()/float64(h.GetSampleCount()), "batches/sync")
	}
}
