package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
)

// Batches enqueued one after another are written in that order: a later write of the same
// key wins, and every channel yields nil.
func TestEnqueueKeepsOrder(t *testing.T) {
	forEachMode(t, func(t *testing.T, db *DB) {
		var chans []<-chan error
		for i := range 200 {
			b := db.NewBatch()
			b.Set(KsProcesses, []byte("k"), []byte(fmt.Sprint(i)))
			b.Set(KsProcesses, []byte(fmt.Sprint("k", i)), []byte("v"))
			chans = append(chans, db.Enqueue(b))
		}
		for i, ch := range chans {
			if err := <-ch; err != nil {
				t.Fatalf("batch %d: %v", i, err)
			}
		}
		if v, err := db.Get(KsProcesses, []byte("k")); err != nil || string(v) != "199" {
			t.Fatalf("k = %q, %v; want the last write", v, err)
		}
	})
}

// A batch chained with After is written only if its predecessor is: a refused predecessor
// (here an invalid write) takes every batch chained behind it down, in the same group or a
// later one, while an unchained batch queued among them is written.
func TestEnqueueAfterFailure(t *testing.T) {
	forEachMode(t, func(t *testing.T, db *DB) {
		ok := db.NewBatch()
		ok.Set(KsProcesses, []byte("a"), []byte("1"))
		bad := db.NewBatch()
		bad.Set(KsProcesses, []byte("b"), []byte("1"))
		bad.Set(Keyspace(0xFF), []byte("x"), nil)
		bad.After(ok)
		next := db.NewBatch()
		next.Set(KsProcesses, []byte("c"), []byte("1"))
		next.After(bad)
		loose := db.NewBatch()
		loose.Set(KsProcesses, []byte("d"), []byte("1"))
		last := db.NewBatch()
		last.Set(KsProcesses, []byte("e"), []byte("1"))
		last.After(next)
		chans := []<-chan error{db.Enqueue(ok), db.Enqueue(bad), db.Enqueue(next), db.Enqueue(loose), db.Enqueue(last)}
		want := []error{nil, ErrInvalidKeyspace, ErrEarlierFailed, nil, ErrEarlierFailed}
		for i, ch := range chans {
			if err := <-ch; !errors.Is(err, want[i]) || (want[i] == nil) != (err == nil) {
				t.Fatalf("batch %d: %v, want %v", i, err, want[i])
			}
		}
		for key, present := range map[string]bool{"a": true, "b": false, "c": false, "d": true, "e": false} {
			if ok, err := db.Has(KsProcesses, []byte(key)); err != nil || ok != present {
				t.Fatalf("%s present = %v (%v), want %v", key, ok, err, present)
			}
		}
		// Commit honours the chain too.
		after := db.NewBatch()
		after.Set(KsProcesses, []byte("f"), []byte("1"))
		after.After(last)
		if err := db.Commit(context.Background(), after); !errors.Is(err, ErrEarlierFailed) {
			t.Fatalf("Commit after a failed batch: %v", err)
		}
	})
}

// A chain whose predecessor is still queued when the dependent arrives: both are written,
// whether they share a group or not.
func TestEnqueueAfterSuccessChain(t *testing.T) {
	db := openDisk(t, nil)
	var prev *Batch
	var chans []<-chan error
	for i := range 100 {
		b := db.NewBatch()
		b.Set(KsProcesses, []byte(fmt.Sprint("chain", i)), bytes.Repeat([]byte{byte(i)}, 100))
		if prev != nil {
			b.After(prev)
		}
		prev = b
		chans = append(chans, db.Enqueue(b))
	}
	for i, ch := range chans {
		if err := <-ch; err != nil {
			t.Fatalf("batch %d: %v", i, err)
		}
	}
	for i := range 100 {
		if ok, err := db.Has(KsProcesses, []byte(fmt.Sprint("chain", i))); err != nil || !ok {
			t.Fatalf("chain%d missing: %v", i, err)
		}
	}
}

func TestEnqueueClosed(t *testing.T) {
	db := openMem(t)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	b := db.NewBatch()
	b.Set(KsProcesses, []byte("k"), []byte("v"))
	if err := <-db.Enqueue(b); !errors.Is(err, ErrClosed) {
		t.Fatalf("Enqueue after Close: %v", err)
	}
	next := db.NewBatch()
	next.Set(KsProcesses, []byte("k2"), []byte("v"))
	next.After(b)
	if err := <-db.Enqueue(next); err == nil {
		t.Fatal("batch after a refused one accepted")
	}
}

// Commit timestamps continue from what is on disk after a reopen: an overwrite made after
// the reopen is the version reads see (a timestamp restarting at zero would hide it behind
// the older version).
func TestReopenKeepsTimestampsMonotonic(t *testing.T) {
	dir := t.TempDir()
	o := DefaultOptions(dir)
	o.Logger = quietLogger()
	for round := range 3 {
		db, err := Open(o)
		if err != nil {
			t.Fatal(err)
		}
		if round > 0 {
			if v, err := db.Get(KsProcesses, []byte("k")); err != nil || string(v) != fmt.Sprint(round-1) {
				t.Fatalf("round %d: read %q, %v", round, v, err)
			}
		}
		for i := range 5 {
			commit(t, db, func(b *Batch) { b.Set(KsProcesses, []byte(fmt.Sprint("other", i)), []byte("x")) })
		}
		commit(t, db, func(b *Batch) { b.Set(KsProcesses, []byte("k"), []byte(fmt.Sprint(round))) })
		if v, err := db.Get(KsProcesses, []byte("k")); err != nil || string(v) != fmt.Sprint(round) {
			t.Fatalf("round %d: read %q, %v after writing it", round, v, err)
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
