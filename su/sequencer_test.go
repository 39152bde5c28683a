package su

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/aonode/aonode/dataitem"
	"github.com/aonode/aonode/store"
)

func TestScheduleProcessAndMessages(t *testing.T) {
	e := newTestEnv(t)
	p := e.process()
	res := e.submit(p)
	if res.Slot.Nonce != 0 || res.Slot.MessageID != p.ID() || res.Slot.Process != p.ID() {
		t.Fatalf("process slot %+v", res.Slot)
	}
	if _, ok := res.Assignment.Tag(TagMessage); ok {
		t.Fatal("nonce-0 assignment carries a Message tag")
	}
	for i := 1; i <= 5; i++ {
		m := e.message(p.ID(), []byte("hi"))
		r := e.submit(m)
		if r.Slot.Nonce != uint64(i) || r.Slot.MessageID != m.ID() {
			t.Fatalf("message %d slot %+v", i, r.Slot)
		}
		if v, _ := r.Assignment.Tag(TagMessage); v != m.ID() {
			t.Fatalf("Message tag %q", v)
		}
	}
	if n := len(verifyChain(t, e.db, p.ID())); n != 6 {
		t.Fatalf("%d slots", n)
	}
}

func TestScheduleRefusals(t *testing.T) {
	e := newTestEnv(t)
	p := e.process()
	e.submit(p)
	m := e.message(p.ID(), nil)
	e.submit(m)
	ctx := context.Background()

	other := e.process()
	cases := []struct {
		name string
		err  error
		run  func() error
	}{
		{"duplicate message", ErrDuplicate, func() error { _, err := e.su.Submit(ctx, m.Raw()); return err }},
		{"duplicate process", ErrDuplicate, func() error { _, err := e.su.Submit(ctx, p.Raw()); return err }},
		{"unknown process", ErrUnknownProcess, func() error {
			_, err := e.su.Submit(ctx, e.message(other.ID(), nil).Raw())
			return err
		}},
		{"assign to unknown process", ErrUnknownProcess, func() error {
			_, err := e.su.AssignExisting(ctx, other.ID(), m.ID(), nil)
			return err
		}},
		{"assign unheld item", ErrNotHeld, func() error {
			_, err := e.su.AssignExisting(ctx, p.ID(), other.ID(), nil)
			return err
		}},
		{"assign twice to the same process", ErrDuplicate, func() error {
			_, err := e.su.AssignExisting(ctx, p.ID(), m.ID(), nil)
			return err
		}},
		{"garbage", ErrInvalidItem, func() error { _, err := e.su.Submit(ctx, []byte("nope")); return err }},
		{"bad assign id", ErrInvalidItem, func() error {
			_, err := e.su.AssignExisting(ctx, p.ID(), "short", nil)
			return err
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.run()
			var refused *RefusedError
			if !errors.Is(err, c.err) || !errors.As(err, &refused) {
				t.Fatalf("got %v, want %v", err, c.err)
			}
		})
	}
	slots := verifyChain(t, e.db, p.ID())
	if len(slots) != 2 {
		t.Fatalf("refusals left slots behind: %d", len(slots))
	}
	if _, err := e.db.LastSlot(other.ID()); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown process got a slot: %v", err)
	}
}

func TestAssignExistingAcrossProcesses(t *testing.T) {
	e := newTestEnv(t)
	p1, p2 := e.process(), e.process()
	e.submit(p1)
	e.submit(p2)
	m := e.message(p1.ID(), []byte("x"))
	e.submit(m)
	res, err := e.su.AssignExisting(context.Background(), p2.ID(), m.ID(), []string{"Data", "Anchor"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Slot.Process != p2.ID() || res.Slot.Nonce != 1 || res.Slot.MessageID != m.ID() {
		t.Fatalf("slot %+v", res.Slot)
	}
	var ex []string
	for _, tag := range res.Assignment.Tags {
		if tag.Name == TagExclude {
			ex = append(ex, tag.Value)
		}
	}
	if fmt.Sprint(ex) != "[Data Anchor]" {
		t.Fatalf("Exclude tags %v", ex)
	}
	verifyChain(t, e.db, p2.ID())
	// A Process can be assigned into another process too.
	if _, err := e.su.AssignExisting(context.Background(), p2.ID(), p1.ID(), nil); err != nil {
		t.Fatal(err)
	}
	verifyChain(t, e.db, p2.ID())
}

// Many goroutines on few processes: every request gets exactly one slot, nonces are
// contiguous per process and each chain verifies.
func TestScheduleConcurrent(t *testing.T) {
	e := newTestEnv(t)
	const procs, workers, each = 3, 12, 25
	var pids []string
	for range procs {
		p := e.process()
		e.submit(p)
		pids = append(pids, p.ID())
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	got := map[string]store.Slot{}
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				pid := pids[(w+i)%procs]
				m := e.message(pid, []byte(fmt.Sprint(w, i)))
				res, err := e.su.Submit(context.Background(), m.Raw())
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				got[m.ID()] = res.Slot
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	total := 0
	for _, pid := range pids {
		slots := verifyChain(t, e.db, pid)
		total += len(slots) - 1
		for _, s := range slots[1:] {
			if got[s.MessageID] != s {
				t.Fatalf("stored slot %+v, acknowledged %+v", s, got[s.MessageID])
			}
		}
	}
	if total != workers*each {
		t.Fatalf("%d slots for %d messages", total, workers*each)
	}
}

// Duplicates racing into the same batch: exactly one wins.
func TestScheduleConcurrentDuplicates(t *testing.T) {
	e := newTestEnv(t)
	p := e.process()
	e.submit(p)
	m := e.message(p.ID(), nil)
	var wg sync.WaitGroup
	results := make(chan error, 16)
	for range 16 {
		wg.Go(func() {
			_, err := e.su.Submit(context.Background(), m.Raw())
			results <- err
		})
	}
	wg.Wait()
	close(results)
	wins := 0
	for err := range results {
		switch {
		case err == nil:
			wins++
		case !errors.Is(err, ErrDuplicate):
			t.Fatal(err)
		}
	}
	if wins != 1 {
		t.Fatalf("%d winners", wins)
	}
	if n := len(verifyChain(t, e.db, p.ID())); n != 2 {
		t.Fatalf("%d slots", n)
	}
}

func TestTimestampsNeverGoBackwards(t *testing.T) {
	e := newTestEnv(t)
	p := e.process()
	e.submit(p)
	e.clock.add(-5000)
	r := e.submit(e.message(p.ID(), nil))
	if r.Slot.Timestamp != 1_700_000_000_000 {
		t.Fatalf("timestamp %d went backwards", r.Slot.Timestamp)
	}
	e.clock.add(10000)
	r = e.submit(e.message(p.ID(), nil))
	if r.Slot.Timestamp != 1_700_000_005_000 {
		t.Fatalf("timestamp %d", r.Slot.Timestamp)
	}
}

// A new sequencer over a reopened store continues the chain from the stored head, also when
// the clock is now behind it.
func TestHeadRecoveredFromStore(t *testing.T) {
	dir := t.TempDir()
	open := func() *store.DB {
		db, err := store.Open(store.DefaultOptions(dir))
		if err != nil {
			t.Fatal(err)
		}
		return db
	}
	signer := testSigner(1)
	clock := newTestClock(5000)
	db := open()
	s1, err := New(Options{DB: db, Signer: signer, Clock: clock.now})
	if err != nil {
		t.Fatal(err)
	}
	e := &testEnv{t: t, su: s1, client: testSigner(3), clock: clock}
	p := e.process()
	e.submit(p)
	e.submit(e.message(p.ID(), nil))
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = open()
	defer db.Close()
	clock.set(1000)
	s2, err := New(Options{DB: db, Signer: signer, Clock: clock.now})
	if err != nil {
		t.Fatal(err)
	}
	e.su = s2
	r := e.submit(e.message(p.ID(), nil))
	if r.Slot.Nonce != 2 || r.Slot.Timestamp != 5000 {
		t.Fatalf("after reopen: %+v", r.Slot)
	}
	verifyChain(t, db, p.ID())
}

// A failed commit is refused and leaves nothing behind; the head is reloaded afterwards.
// A commit the store refuses (here: an item over the in-memory store's value limit, refused
// when the batch is committed, after its assignment was built and signed) leaves nothing: no
// item, no slot, no head in memory built on it, and the next message takes the nonce the
// refused one would have had, on an unbroken chain.
func TestCommitFailureLeavesNoTrace(t *testing.T) {
	e := newTestEnv(t)
	p := e.process()
	e.submit(p)
	big := e.sign(dataitem.Fields{
		Target: mustDecodeID(t, p.ID()),
		Tags:   []dataitem.Tag{{Name: "Data-Protocol", Value: "ao"}, {Name: "Variant", Value: "ao.TN.1"}, {Name: "Type", Value: "Message"}},
		Data:   make([]byte, store.MaxInMemoryValueBytes+1),
	})
	_, err := e.su.Submit(context.Background(), big.Raw())
	if !errors.Is(err, store.ErrTooLarge) || !strings.Contains(err.Error(), "commit slots") {
		t.Fatalf("commit of an item over the store's limit: %v", err)
	}
	st := e.su.seq.(*Local).procs[p.ID()]
	if st != nil && (st.loaded || st.head != nil) {
		t.Fatalf("the failed commit left a head in memory: loaded %v head %+v", st.loaded, st.head)
	}
	if _, err := e.db.Item(big.ID()); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the refused item is stored: %v", err)
	}
	if _, err := e.db.SlotByMessage(p.ID(), big.ID()); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the refused item has a slot: %v", err)
	}
	if last, err := e.db.LastSlot(p.ID()); err != nil || last.Nonce != 0 {
		t.Fatalf("last slot after the failure: %+v %v", last, err)
	}
	if r := e.submit(e.message(p.ID(), nil)); r.Slot.Nonce != 1 {
		t.Fatalf("next message got nonce %d, want 1", r.Slot.Nonce)
	}
	verifyChain(t, e.db, p.ID())

	// A closed store refuses too, and still nothing is acknowledged.
	if err := e.db.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := e.su.Submit(context.Background(), e.message(p.ID(), nil).Raw()); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("commit on a closed store: %v", err)
	}
}

// With one idle head allowed, heads are dropped and reloaded without breaking any chain.
func TestIdleHeadEviction(t *testing.T) {
	e := newTestEnv(t)
	seq, err := NewLocal(LocalOptions{DB: e.db, Signer: testSigner(1), Clock: e.clock.now, MaxIdleHeads: 1})
	if err != nil {
		t.Fatal(err)
	}
	e.su.seq = seq
	var pids []string
	for range 4 {
		p := e.process()
		e.submit(p)
		pids = append(pids, p.ID())
	}
	for round := range 3 {
		for _, pid := range pids {
			if r := e.submit(e.message(pid, nil)); r.Slot.Nonce != uint64(round+1) {
				t.Fatalf("nonce %d in round %d", r.Slot.Nonce, round)
			}
		}
	}
	seq.mu.Lock()
	n := len(seq.procs)
	seq.mu.Unlock()
	if n > 1 {
		t.Fatalf("%d heads cached", n)
	}
	for _, pid := range pids {
		verifyChain(t, e.db, pid)
	}
}

func TestScheduleHonoursCancelledContext(t *testing.T) {
	e := newTestEnv(t)
	p := e.process()
	e.submit(p)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := e.su.Submit(ctx, e.message(p.ID(), nil).Raw()); !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v", err)
	}
	if n := len(verifyChain(t, e.db, p.ID())); n != 1 {
		t.Fatalf("%d slots", n)
	}
}

func TestApplyChecksItemMatchesAssignment(t *testing.T) {
	e := newTestEnv(t)
	p := e.process()
	res := e.submit(p)
	b := e.db.NewBatch()
	if _, err := Apply(b, res.Assignment, e.message(p.ID(), nil)); !errors.Is(err, ErrBadAssignment) {
		t.Fatalf("mismatched item applied: %v", err)
	}
	// Applying the leader's exact bytes again (a replica's FSM replay) is harmless.
	b = e.db.NewBatch()
	if _, err := Apply(b, res.Assignment, p); err != nil {
		t.Fatal(err)
	}
	if err := e.db.Commit(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	verifyChain(t, e.db, p.ID())
}

// Closing the store under load on one busy process: every call returns, every acknowledged
// slot is on disk afterwards, and the chain has no gap (batches signed on top of a failed
// commit are discarded, not written).
func TestStoreClosedUnderLoad(t *testing.T) {
	dir := t.TempDir()
	db, err := store.Open(store.DefaultOptions(dir))
	if err != nil {
		t.Fatal(err)
	}
	clock := newTestClock(1000)
	s, err := New(Options{DB: db, Signer: testSigner(1), Clock: clock.now})
	if err != nil {
		t.Fatal(err)
	}
	e := &testEnv{t: t, su: s, client: testSigner(3), clock: clock}
	p := e.process()
	e.submit(p)
	var msgs [][]byte
	for i := range 16 * 30 {
		msgs = append(msgs, e.message(p.ID(), []byte(fmt.Sprint(i))).Raw())
	}
	var mu sync.Mutex
	acked := map[string]uint64{}
	var wg sync.WaitGroup
	var closeOnce sync.Once
	for w := range 16 {
		wg.Go(func() {
			for i := w; i < len(msgs); i += 16 {
				res, err := s.Submit(context.Background(), msgs[i])
				if err != nil {
					if !errors.Is(err, store.ErrClosed) {
						t.Errorf("unexpected error: %v", err)
					}
					return
				}
				mu.Lock()
				acked[res.Slot.MessageID] = res.Slot.Nonce
				n := len(acked)
				mu.Unlock()
				if n == 100 {
					closeOnce.Do(func() { _ = db.Close() })
				}
			}
		})
	}
	wg.Wait()
	closeOnce.Do(func() { _ = db.Close() })
	db, err = store.Open(store.DefaultOptions(dir))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	slots := verifyChain(t, db, p.ID())
	for id, nonce := range acked {
		if int(nonce) >= len(slots) || slots[nonce].MessageID != id {
			t.Fatalf("acknowledged %s at %d is not there", id, nonce)
		}
	}
	if len(acked) < 100 {
		t.Fatalf("only %d acknowledged", len(acked))
	}
}

func mustDecodeID(t testing.TB, id string) []byte {
	t.Helper()
	b, err := dataitem.DecodeID(id)
	if err != nil {
		t.Fatal(err)
	}
	return b[:]
}
