package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func openDisk(t testing.TB, mod func(*Options)) *DB {
	t.Helper()
	o := DefaultOptions(t.TempDir())
	o.Logger = quietLogger()
	if mod != nil {
		mod(&o)
	}
	db, err := Open(o)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func openMem(t testing.TB) *DB {
	t.Helper()
	db, err := Open(Options{InMemory: true, Logger: quietLogger()})
	if err != nil {
		t.Fatalf("Open in memory: %v", err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// forEachMode runs f against an on-disk and an in-memory DB.
func forEachMode(t *testing.T, f func(t *testing.T, db *DB)) {
	t.Run("disk", func(t *testing.T) { f(t, openDisk(t, nil)) })
	t.Run("memory", func(t *testing.T) { f(t, openMem(t)) })
}

func commit(t testing.TB, db *DB, fill func(b *Batch)) {
	t.Helper()
	b := db.NewBatch()
	fill(b)
	if err := db.Commit(context.Background(), b); err != nil {
		t.Fatalf("Commit: %v", err)
	}
}

func TestGetHasSetDelete(t *testing.T) {
	forEachMode(t, func(t *testing.T, db *DB) {
		big := bytes.Repeat([]byte("v"), 200<<10) // goes to the value log on disk
		commit(t, db, func(b *Batch) {
			b.Set(KsProcesses, []byte("a"), []byte("1"))
			b.Set(KsProcesses, []byte("b"), big)
			b.Set(KsMUQueue, []byte("a"), []byte("other keyspace"))
			b.Set(KsProcesses, []byte("empty"), nil)
		})
		got, err := db.Get(KsProcesses, []byte("a"))
		if err != nil || string(got) != "1" {
			t.Fatalf("Get a = %q, %v", got, err)
		}
		got, err = db.Get(KsProcesses, []byte("b"))
		if err != nil || !bytes.Equal(got, big) {
			t.Fatalf("Get b: %d bytes, %v", len(got), err)
		}
		got, err = db.Get(KsMUQueue, []byte("a"))
		if err != nil || string(got) != "other keyspace" {
			t.Fatalf("Get queue a = %q, %v", got, err)
		}
		got, err = db.Get(KsProcesses, []byte("empty"))
		if err != nil || len(got) != 0 {
			t.Fatalf("Get empty = %q, %v", got, err)
		}
		if _, err := db.Get(KsProcesses, []byte("missing")); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Get missing: %v, want ErrNotFound", err)
		}
		if ok, err := db.Has(KsProcesses, []byte("a")); !ok || err != nil {
			t.Fatalf("Has a = %v, %v", ok, err)
		}
		if ok, err := db.Has(KsCUResults, []byte("a")); ok || err != nil {
			t.Fatalf("Has in other keyspace = %v, %v", ok, err)
		}
		commit(t, db, func(b *Batch) {
			b.Delete(KsProcesses, []byte("a"))
			b.Delete(KsProcesses, []byte("never-there"))
			b.Set(KsProcesses, []byte("b"), []byte("overwritten"))
		})
		if ok, err := db.Has(KsProcesses, []byte("a")); ok || err != nil {
			t.Fatalf("Has after delete = %v, %v", ok, err)
		}
		got, err = db.Get(KsProcesses, []byte("b"))
		if err != nil || string(got) != "overwritten" {
			t.Fatalf("Get b after overwrite = %q, %v", got, err)
		}
		// Get returns a copy the caller may keep and change.
		got[0] = 'X'
		again, _ := db.Get(KsProcesses, []byte("b"))
		if string(again) != "overwritten" {
			t.Fatalf("Get result aliases the store: %q", again)
		}
	})
}

func TestBatchCopiesArguments(t *testing.T) {
	db := openMem(t)
	key, val := []byte("k"), []byte("value")
	b := db.NewBatch()
	b.Set(KsProcesses, key, val)
	key[0], val[0] = 'x', 'X'
	if err := db.Commit(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	got, err := db.Get(KsProcesses, []byte("k"))
	if err != nil || string(got) != "value" {
		t.Fatalf("Get = %q, %v", got, err)
	}
}

func TestInvalidBatches(t *testing.T) {
	db := openDisk(t, nil)
	ctx := context.Background()
	cases := []struct {
		name string
		fill func(b *Batch)
		want error
	}{
		{"unknown keyspace", func(b *Batch) { b.Set(Keyspace(0x21), []byte("k"), nil) }, ErrInvalidKeyspace},
		{"zero keyspace", func(b *Batch) { b.Delete(Keyspace(0), []byte("k")) }, ErrInvalidKeyspace},
		{"empty key", func(b *Batch) { b.Set(KsProcesses, nil, []byte("v")) }, ErrInvalidKey},
		{"long key", func(b *Batch) { b.Set(KsProcesses, make([]byte, MaxKeyBytes+1), nil) }, ErrInvalidKey},
		{"long value", func(b *Batch) { b.Set(KsProcesses, []byte("k"), make([]byte, MaxValueBytes+1)) }, ErrTooLarge},
		{"bad item id", func(b *Batch) { b.PutItem("", []byte("x")) }, ErrInvalidKey},
		{"bad slot", func(b *Batch) { b.PutSlot(Slot{Process: "p", AssignmentID: "a"}) }, ErrInvalidKey},
		{"too many inline bytes", func(b *Batch) {
			// 4000 inline values of 900 bytes: far above 15% of the 16 MiB memtable.
			for i := range 4000 {
				b.Set(KsProcesses, fmt.Appendf(nil, "k%d", i), make([]byte, 900))
			}
		}, ErrTooLarge},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := db.NewBatch()
			b.Set(KsProcesses, []byte("valid-before"), []byte("v"))
			c.fill(b)
			b.Set(KsProcesses, []byte("valid-after"), []byte("v"))
			err := db.Commit(ctx, b)
			if !errors.Is(err, c.want) {
				t.Fatalf("Commit = %v, want %v", err, c.want)
			}
			for _, k := range []string{"valid-before", "valid-after"} {
				if ok, _ := db.Has(KsProcesses, []byte(k)); ok {
					t.Fatalf("%s visible after a failed commit", k)
				}
			}
		})
	}
	if err := db.Commit(ctx, nil); err == nil {
		t.Fatal("Commit(nil) succeeded")
	}
	if err := db.Commit(ctx, db.NewBatch()); err != nil {
		t.Fatalf("empty batch: %v", err)
	}
	// Reads of keys that can never exist.
	if _, err := db.Get(Keyspace(0x99), []byte("k")); !errors.Is(err, ErrInvalidKeyspace) {
		t.Fatalf("Get unknown keyspace: %v", err)
	}
	if _, err := db.Get(KsProcesses, nil); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get empty key: %v", err)
	}
	if ok, err := db.Has(KsProcesses, make([]byte, MaxKeyBytes+1)); ok || err != nil {
		t.Fatalf("Has long key = %v, %v", ok, err)
	}
	if err := db.Scan(Keyspace(0xFF), nil, nil, false, func(_, _ []byte) bool { return true }); !errors.Is(err, ErrInvalidKeyspace) {
		t.Fatalf("Scan unknown keyspace: %v", err)
	}
}

// TestOneBadBatchInAGroup checks that a batch Badger rejects fails alone while the batches
// grouped with it are written.
func TestOneBadBatchInAGroup(t *testing.T) {
	db := openDisk(t, nil)
	// Measure is bypassed by handing the committer requests directly, as if they had been
	// grouped together; the middle one holds a key Badger refuses (its reserved prefix).
	good1, bad, good2 := db.NewBatch(), db.NewBatch(), db.NewBatch()
	good1.Set(KsProcesses, []byte("g1"), []byte("1"))
	good2.Set(KsProcesses, []byte("g2"), []byte("2"))
	bad.ops = append(bad.ops, op{key: []byte("!badger!evil"), value: []byte("x")})
	group := []*request{
		{b: good1, done: make(chan error, 1)},
		{b: bad, done: make(chan error, 1)},
		{b: good2, done: make(chan error, 1)},
	}
	db.writeGroup(group)
	if err := <-group[0].done; err != nil {
		t.Fatalf("good1: %v", err)
	}
	if err := <-group[1].done; !errors.Is(err, ErrInvalidKey) {
		t.Fatalf("bad batch: %v, want ErrInvalidKey", err)
	}
	if err := <-group[2].done; err != nil {
		t.Fatalf("good2: %v", err)
	}
	for _, k := range []string{"g1", "g2"} {
		if ok, err := db.Has(KsProcesses, []byte(k)); !ok || err != nil {
			t.Fatalf("%s missing: %v %v", k, ok, err)
		}
	}
	if err := db.failed(); err != nil {
		t.Fatalf("a rejected batch must not fail the DB: %v", err)
	}
}

func TestScan(t *testing.T) {
	forEachMode(t, func(t *testing.T, db *DB) {
		keys := []string{"a", "a\x00", "a\xff", "a\xff\xff", "ab", "abc", "ac", "b", "\xff", "\xff\xff"}
		commit(t, db, func(b *Batch) {
			for _, k := range keys {
				b.Set(KsProcesses, []byte(k), []byte("v"+k))
			}
			// Neighbouring keyspaces must never leak into a scan.
			b.Set(KsSlotByTime, []byte("a"), []byte("wrong"))
			b.Set(KsItems, []byte("\xff\xff\xff"), []byte("wrong"))
		})
		scan := func(prefix, start string, reverse bool, limit int) []string {
			t.Helper()
			var p, s []byte
			if prefix != "" {
				p = []byte(prefix)
			}
			if start != "\x01nil" {
				s = []byte(start)
			}
			var out []string
			err := db.Scan(KsProcesses, p, s, reverse, func(k, v []byte) bool {
				if string(v) != "v"+string(k) {
					t.Errorf("value of %q = %q", k, v)
				}
				out = append(out, string(k))
				return limit == 0 || len(out) < limit
			})
			if err != nil {
				t.Fatalf("Scan: %v", err)
			}
			return out
		}
		const none = "\x01nil"
		cases := []struct {
			name          string
			prefix, start string
			reverse       bool
			limit         int
			want          []string
		}{
			{"all", "", none, false, 0, []string{"a", "a\x00", "ab", "abc", "ac", "a\xff", "a\xff\xff", "b", "\xff", "\xff\xff"}},
			{"prefix a", "a", none, false, 0, []string{"a", "a\x00", "ab", "abc", "ac", "a\xff", "a\xff\xff"}},
			{"prefix a reverse", "a", none, true, 0, []string{"a\xff\xff", "a\xff", "ac", "abc", "ab", "a\x00", "a"}},
			{"prefix a\\xff reverse", "a\xff", none, true, 0, []string{"a\xff\xff", "a\xff"}},
			{"prefix \\xff reverse", "\xff", none, true, 0, []string{"\xff\xff", "\xff"}},
			{"prefix ab", "ab", none, false, 0, []string{"ab", "abc"}},
			{"prefix missing", "zz", none, false, 0, nil},
			{"prefix missing reverse", "zz", none, true, 0, nil},
			{"start inside", "a", "ab", false, 0, []string{"ab", "abc", "ac", "a\xff", "a\xff\xff"}},
			{"start between keys", "a", "aa", false, 0, []string{"ab", "abc", "ac", "a\xff", "a\xff\xff"}},
			{"start inside reverse", "a", "ab", true, 0, []string{"ab", "a\x00", "a"}},
			{"start between reverse", "a", "abd", true, 0, []string{"abc", "ab", "a\x00", "a"}},
			{"start before prefix", "ab", "a", false, 0, []string{"ab", "abc"}},
			{"start before prefix reverse", "ab", "a", true, 0, nil},
			{"start after prefix", "ab", "b", false, 0, nil},
			{"start after prefix reverse", "ab", "b", true, 0, []string{"abc", "ab"}},
			{"limit", "", none, false, 3, []string{"a", "a\x00", "ab"}},
			{"limit reverse", "", none, true, 2, []string{"\xff\xff", "\xff"}},
			{"empty start is the beginning", "", "", false, 1, []string{"a"}},
		}
		for _, c := range cases {
			got := scan(c.prefix, c.start, c.reverse, c.limit)
			if strings.Join(got, "|") != strings.Join(c.want, "|") {
				t.Errorf("%s: got %q, want %q", c.name, got, c.want)
			}
		}
		// Every prefix and start drawn from the keys and their neighbours, against a model.
		sorted := append([]string(nil), keys...)
		sort.Strings(sorted)
		probes := []string{"", "a", "a\x00", "a\x01", "aa", "ab", "abb", "abc", "abd", "ac", "ad", "a\xff", "a\xff\xff", "a\xff\xff\xff", "b", "c", "\xff", "\xff\xff", "\xff\xff\xff"}
		for _, prefix := range probes {
			for _, start := range append(probes, none) {
				for _, rev := range []bool{false, true} {
					var want []string
					for _, k := range sorted {
						if !strings.HasPrefix(k, prefix) {
							continue
						}
						if start != none && ((!rev && k < start) || (rev && k > start)) {
							continue
						}
						want = append(want, k)
					}
					if rev {
						want = reverse(want)
					}
					if rev && start == "" {
						// A non-nil empty start in reverse means "<= empty": nothing.
						want = nil
					}
					got := scan(prefix, start, rev, 0)
					if strings.Join(got, "|") != strings.Join(want, "|") {
						t.Errorf("prefix %q start %q reverse %v: got %q, want %q", prefix, start, rev, got, want)
					}
				}
			}
		}
	})
}

func reverse(s []string) []string {
	out := make([]string, len(s))
	for i, v := range s {
		out[len(s)-1-i] = v
	}
	return out
}

func TestScanCallbackMayRead(t *testing.T) {
	db := openMem(t)
	commit(t, db, func(b *Batch) {
		b.Set(KsProcesses, []byte("a"), []byte("b"))
		b.Set(KsProcesses, []byte("b"), []byte("c"))
	})
	var got []string
	err := db.Scan(KsProcesses, nil, nil, false, func(_, v []byte) bool {
		nested, err := db.Get(KsProcesses, v)
		if err == nil {
			got = append(got, string(nested))
		}
		return true
	})
	if err != nil || strings.Join(got, ",") != "c" {
		t.Fatalf("nested reads = %q, %v", got, err)
	}
}

func TestReopenKeepsData(t *testing.T) {
	dir := t.TempDir()
	o := DefaultOptions(dir)
	o.Logger = quietLogger()
	db, err := Open(o)
	if err != nil {
		t.Fatal(err)
	}
	commit(t, db, func(b *Batch) {
		b.Set(KsProcesses, []byte("k"), bytes.Repeat([]byte("x"), 5000))
		b.PutSlot(testSlot("p", 0, 10))
	})
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	db, err = Open(o)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if v, err := db.Get(KsProcesses, []byte("k")); err != nil || len(v) != 5000 {
		t.Fatalf("after reopen: %d bytes, %v", len(v), err)
	}
	if s, err := db.LastSlot("p"); err != nil || s != testSlot("p", 0, 10) {
		t.Fatalf("LastSlot after reopen = %+v, %v", s, err)
	}
	// A second Open of the same directory must fail (Badger's directory lock).
	if db2, err := Open(o); err == nil {
		db2.Close()
		t.Fatal("second Open of a locked directory succeeded")
	}
}

func TestOptionsValidate(t *testing.T) {
	bad := []Options{
		{},
		{InMemory: true, MaxBatchDelay: -1},
		{InMemory: true, MaxBatchDelay: 2 * time.Second},
		{InMemory: true, MaxBatchBytes: -1},
		{InMemory: true, MemTableBytes: -1},
		{InMemory: true, MemTableBytes: 1 << 20},
		{InMemory: true, BlockCacheBytes: -5},
	}
	for i, o := range bad {
		if err := o.Validate(); err == nil {
			t.Errorf("case %d: Validate accepted %+v", i, o)
		}
		if db, err := Open(o); err == nil {
			db.Close()
			t.Errorf("case %d: Open accepted %+v", i, o)
		}
	}
	if err := DefaultOptions("/x").Validate(); err != nil {
		t.Fatalf("DefaultOptions invalid: %v", err)
	}
}

func TestClosed(t *testing.T) {
	forEachMode(t, func(t *testing.T, db *DB) {
		commit(t, db, func(b *Batch) { b.Set(KsProcesses, []byte("k"), []byte("v")) })
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		b := db.NewBatch()
		b.Set(KsProcesses, []byte("k2"), []byte("v"))
		if err := db.Commit(context.Background(), b); !errors.Is(err, ErrClosed) {
			t.Fatalf("Commit after Close = %v", err)
		}
		if _, err := db.Get(KsProcesses, []byte("k")); !errors.Is(err, ErrClosed) {
			t.Fatalf("Get after Close = %v", err)
		}
		if _, err := db.Has(KsProcesses, []byte("k")); !errors.Is(err, ErrClosed) {
			t.Fatalf("Has after Close = %v", err)
		}
		if err := db.Scan(KsProcesses, nil, nil, false, func(_, _ []byte) bool { return true }); !errors.Is(err, ErrClosed) {
			t.Fatalf("Scan after Close = %v", err)
		}
		if _, err := db.LastSlot("p"); !errors.Is(err, ErrClosed) {
			t.Fatalf("LastSlot after Close = %v", err)
		}
	})
}

func TestCommitContext(t *testing.T) {
	db := openMem(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	b := db.NewBatch()
	b.Set(KsProcesses, []byte("k"), []byte("v"))
	if err := db.Commit(ctx, b); !errors.Is(err, context.Canceled) {
		t.Fatalf("Commit with cancelled ctx = %v", err)
	}
	if ok, _ := db.Has(KsProcesses, []byte("k")); ok {
		t.Fatal("batch of a Commit refused up front was written")
	}
}

// TestCommitContextWhileWaiting cancels the context of a Commit that is already queued: it
// returns ctx.Err(), and the batch is written anyway (the documented "unknown" outcome).
func TestCommitContextWhileWaiting(t *testing.T) {
	db := openDisk(t, func(o *Options) { o.MaxBatchDelay = 500 * time.Millisecond })
	// The first commit makes the committer wait MaxBatchDelay for company; the second joins
	// that group and is cancelled while it waits.
	firstDone := make(chan error, 1)
	go func() {
		b := db.NewBatch()
		b.Set(KsProcesses, []byte("first"), []byte("v"))
		firstDone <- db.Commit(context.Background(), b)
	}()
	ctx, cancel := context.WithCancel(context.Background())
	b := db.NewBatch()
	b.Set(KsProcesses, []byte("second"), []byte("v"))
	b.Set(KsMUQueue, []byte("second"), []byte("v"))
	errc := make(chan error, 1)
	go func() { errc <- db.Commit(ctx, b) }()
	cancel()
	err := <-errc
	if err != nil && !errors.Is(err, context.Canceled) {
		t.Fatalf("Commit = %v", err)
	}
	if err := <-firstDone; err != nil {
		t.Fatal(err)
	}
	// Whatever Commit said, the outcome is consistent once the committer is idle: a
	// cancelled Commit's batch is either fully present or absent, never torn.
	okP, _ := db.Has(KsProcesses, []byte("second"))
	okQ, _ := db.Has(KsMUQueue, []byte("second"))
	if okP != okQ || (err == nil && !okP) {
		t.Fatalf("Commit = %v, batch present: %v/%v", err, okP, okQ)
	}
}

func TestConcurrentCommits(t *testing.T) {
	variants := []struct {
		name string
		open func(t *testing.T) *DB
	}{
		{"disk", func(t *testing.T) *DB { return openDisk(t, nil) }},
		{"memory", func(t *testing.T) *DB { return openMem(t) }},
		// Every group holds one batch: the request that does not fit is held for the next.
		{"tiny groups", func(t *testing.T) *DB { return openDisk(t, func(o *Options) { o.MaxBatchBytes = 1 }) }},
		// The longest delay: the committer must stop waiting once every Commit in flight is
		// in (or has returned), or this takes minutes.
		{"long delay", func(t *testing.T) *DB {
			return openDisk(t, func(o *Options) { o.MaxBatchDelay = time.Second })
		}},
	}
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			db := v.open(t)
			const writers, perWriter = 16, 100
			var wg sync.WaitGroup
			errs := make(chan error, writers)
			for w := range writers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range perWriter {
						b := db.NewBatch()
						for j := range 3 {
							b.Set(KsProcesses, fmt.Appendf(nil, "%02d/%03d/%d", w, i, j), fmt.Appendf(nil, "%d", w*1000+i))
						}
						if err := db.Commit(context.Background(), b); err != nil {
							errs <- err
							return
						}
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			n := 0
			err := db.Scan(KsProcesses, nil, nil, false, func(_, _ []byte) bool { n++; return true })
			if err != nil || n != writers*perWriter*3 {
				t.Fatalf("scanned %d keys (%v), want %d", n, err, writers*perWriter*3)
			}
			var m dto.Metric
			if err := db.m.batchesPerSync.Write(&m); err != nil {
				t.Fatal(err)
			}
			groups, batches := m.GetHistogram().GetSampleCount(), m.GetHistogram().GetSampleSum()
			if batches != writers*perWriter {
				t.Fatalf("metrics count %v batches, want %d", batches, writers*perWriter)
			}
			switch v.name {
			case "tiny groups":
				if groups != writers*perWriter {
					t.Fatalf("%d groups with MaxBatchBytes=1, want one per batch", groups)
				}
			}
		})
	}
}

// TestCloseWithCommitsInFlight closes the DB while many goroutines commit: every Commit
// returns nil (and its batch is there after reopening) or ErrClosed (and it is not).
func TestCloseWithCommitsInFlight(t *testing.T) {
	dir := t.TempDir()
	o := DefaultOptions(dir)
	o.Logger = quietLogger()
	db, err := Open(o)
	if err != nil {
		t.Fatal(err)
	}
	const writers = 16
	type outcome struct {
		key string
		err error
	}
	results := make(chan outcome, writers*10000)
	var wg sync.WaitGroup
	started := make(chan struct{}, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				key := fmt.Sprintf("%02d/%05d", w, i)
				b := db.NewBatch()
				b.Set(KsProcesses, []byte(key), []byte(key))
				b.Set(KsMUQueue, []byte(key), []byte(key))
				err := db.Commit(context.Background(), b)
				results <- outcome{key, err}
				if i == 0 {
					started <- struct{}{}
				}
				if err != nil || i == 9999 {
					return
				}
			}
		}()
	}
	for range writers {
		<-started
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	close(results)
	db, err = Open(o)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var acked, refused int
	for r := range results {
		okP, _ := db.Has(KsProcesses, []byte(r.key))
		okQ, _ := db.Has(KsMUQueue, []byte(r.key))
		switch {
		case r.err == nil:
			acked++
			if !okP || !okQ {
				t.Fatalf("acknowledged %s missing after reopen", r.key)
			}
		case errors.Is(r.err, ErrClosed):
			refused++
			if okP || okQ {
				t.Fatalf("%s refused with ErrClosed but present", r.key)
			}
		default:
			t.Fatalf("%s: %v", r.key, r.err)
		}
	}
	if acked < writers || refused != writers {
		t.Fatalf("acked %d, refused %d; want >= %d acked and every writer refused once", acked, refused, writers)
	}
}

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	one := prometheus.WrapRegistererWith(prometheus.Labels{"db": "one"}, reg)
	db := openDisk(t, func(o *Options) { o.Registerer = one })
	commit(t, db, func(b *Batch) { b.Set(KsProcesses, []byte("k"), []byte("value")) })
	var m dto.Metric
	if err := db.m.bytesWritten.Write(&m); err != nil || m.GetCounter().GetValue() != float64(len("k")+1+len("value")) {
		t.Fatalf("bytes written = %v, %v", m.GetCounter().GetValue(), err)
	}
	families := gather(t, reg)
	for _, name := range []string{"aonode_store_commit_duration_seconds", "aonode_store_batches_per_sync", "aonode_store_written_bytes_total"} {
		if families[name] == nil {
			t.Fatalf("metric %s not registered (have %v)", name, families)
		}
	}
	if got := families["aonode_store_batches_per_sync"].GetMetric()[0].GetHistogram().GetSampleCount(); got != 1 {
		t.Fatalf("batches_per_sync observed %d syncs, want 1", got)
	}
	// A second DB on the same registry collides and says how to avoid it.
	o := DefaultOptions(t.TempDir())
	o.Logger = quietLogger()
	o.Registerer = one
	if db2, err := Open(o); err == nil {
		db2.Close()
		t.Fatal("second DB on one registry registered its metrics")
	}
	// Wrapped with a label, it works; closing unregisters.
	o.Registerer = prometheus.WrapRegistererWith(prometheus.Labels{"db": "two"}, reg)
	db2, err := Open(o)
	if err != nil {
		t.Fatal(err)
	}
	if err := db2.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if left := gather(t, reg); len(left) != 0 {
		t.Fatalf("metrics left registered after Close: %v", left)
	}
}

func gather(t *testing.T, reg *prometheus.Registry) map[string]*dto.MetricFamily {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[string]*dto.MetricFamily, len(mfs))
	for _, mf := range mfs {
		out[mf.GetName()] = mf
	}
	return out
}

func TestValueLogGC(t *testing.T) {
	db := openDisk(t, func(o *Options) { o.GCInterval = -1 })
	// Overwrite large values so that the value log holds mostly garbage, then run GC.
	val := bytes.Repeat([]byte("g"), 64<<10)
	for round := range 3 {
		for i := range 40 {
			commit(t, db, func(b *Batch) {
				b.Set(KsCUCheckpoints, fmt.Appendf(nil, "%d", i), append(val, byte(round)))
			})
		}
	}
	// GC must run without error (whether Badger finds a file worth rewriting depends on
	// its discard statistics), and the data must be intact afterwards.
	db.runGC(context.Background())
	for i := range 40 {
		v, err := db.Get(KsCUCheckpoints, fmt.Appendf(nil, "%d", i))
		if err != nil || len(v) != len(val)+1 || v[len(v)-1] != 2 {
			t.Fatalf("value %d after GC: %d bytes, %v", i, len(v), err)
		}
	}
}

func TestGCLoopStops(t *testing.T) {
	// A tiny interval makes the loop run GC repeatedly; Close must stop it (goleak checks).
	db := openDisk(t, func(o *Options) { o.GCInterval = time.Millisecond })
	commit(t, db, func(b *Batch) { b.Set(KsCUCheckpoints, []byte("k"), make([]byte, 4096)) })
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestBadgerLoggerBridge(t *testing.T) {
	var buf bytes.Buffer
	var got error
	l := &badgerLogger{
		log:         slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})),
		onSyncError: func(err error) { got = err },
	}
	l.Infof("compaction %d", 1)
	l.Debugf("flush %d", 2)
	if buf.Len() != 0 {
		t.Fatalf("info/debug lines passed through: %q", buf.String())
	}
	l.Warningf("slow %s\n", "disk")
	l.Errorf("something %d", 3)
	if got != nil {
		t.Fatalf("an unrelated error was taken for a sync failure: %v", got)
	}
	if out := buf.String(); !strings.Contains(out, "level=WARN msg=\"slow disk\"") || !strings.Contains(out, "level=ERROR msg=\"something 3\"") {
		t.Fatalf("bridge output: %q", out)
	}
	l.Errorf(vlogSyncFailure+": %v\n", errors.New("EIO"))
	if got == nil || !strings.Contains(got.Error(), "EIO") {
		t.Fatalf("sync failure not reported: %v", got)
	}
}

// TestFailedDBRefusesCommits checks that after a fatal write error nothing more is acknowledged.
func TestFailedDBRefusesCommits(t *testing.T) {
	db := openDisk(t, nil)
	db.fail(errors.New("injected sync failure"))
	b := db.NewBatch()
	b.Set(KsProcesses, []byte("k"), []byte("v"))
	if err := db.Commit(context.Background(), b); !errors.Is(err, ErrFailed) {
		t.Fatalf("Commit on a failed DB = %v", err)
	}
	if ok, _ := db.Has(KsProcesses, []byte("k")); ok {
		t.Fatal("batch written on a failed DB")
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
