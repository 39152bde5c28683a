package store

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
)

func testSlot(pid string, nonce uint64, ts int64) Slot {
	return Slot{
		Process:      pid,
		Nonce:        nonce,
		Timestamp:    ts,
		BlockHeight:  1_500_000 + nonce,
		HashChain:    fmt.Sprintf("hc-%s-%d", pid, nonce),
		AssignmentID: fmt.Sprintf("as-%s-%d", pid, nonce),
		MessageID:    fmt.Sprintf("msg-%s-%d", pid, nonce),
	}
}

func TestSlotRoundTrip(t *testing.T) {
	cases := []Slot{
		testSlot("p", 0, 0),
		testSlot(strings.Repeat("P", 43), math.MaxUint64, math.MaxInt64),
		testSlot(strings.Repeat("x", MaxIDBytes-6), 7, math.MinInt64),
		{Process: "p", AssignmentID: "a", MessageID: "m"}, // empty hash chain (first slot)
		testSlot("p", 1, -1),
	}
	for _, s := range cases {
		enc, err := s.MarshalBinary()
		if err != nil {
			t.Fatalf("Marshal %+v: %v", s, err)
		}
		var got Slot
		if err := got.UnmarshalBinary(enc); err != nil {
			t.Fatalf("Unmarshal %+v: %v", s, err)
		}
		if got != s {
			t.Fatalf("round trip: got %+v, want %+v", got, s)
		}
	}
}

func TestSlotDecodeRejects(t *testing.T) {
	good, err := testSlot("p", 3, 42).MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	bad := map[string][]byte{
		"empty":        nil,
		"wrong format": append([]byte{9}, good[1:]...),
		"trailing":     append(append([]byte(nil), good...), 0),
		"huge string":  {slotFormat, 0xff, 0xff, 0xff, 0xff, 0x0f},
		"bad varint":   {slotFormat, 1, 'p', 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
		"empty ids":    {slotFormat, 0, 0, 0, 0, 0, 0, 0},
	}
	for i := 1; i < len(good); i++ {
		bad[fmt.Sprintf("truncated at %d", i)] = good[:i]
	}
	for name, data := range bad {
		var s Slot
		if err := s.UnmarshalBinary(data); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: Unmarshal = %v, want ErrCorrupt", name, err)
		}
		if s != (Slot{}) {
			t.Errorf("%s: partial decode left %+v", name, s)
		}
	}
	for _, s := range []Slot{
		{AssignmentID: "a", MessageID: "m"},
		{Process: "p", MessageID: "m"},
		{Process: "p", AssignmentID: "a"},
		{Process: strings.Repeat("p", MaxIDBytes+1), AssignmentID: "a", MessageID: "m"},
		{Process: "p", AssignmentID: "a", MessageID: "m", HashChain: strings.Repeat("h", 2000)},
	} {
		if _, err := s.MarshalBinary(); err == nil {
			t.Errorf("Marshal accepted %+v", s)
		}
	}
}

func FuzzSlotUnmarshal(f *testing.F) {
	good, _ := testSlot("p", 3, 42).MarshalBinary()
	f.Add(good)
	f.Add([]byte{slotFormat})
	f.Add(append(testSlot("p", 3, 42).appendFields([]byte{slotWithAssignment}), 1, 2))
	f.Fuzz(func(t *testing.T, data []byte) {
		var s Slot
		if err := s.UnmarshalBinary(data); err != nil {
			return
		}
		enc, err := s.MarshalBinary()
		if err != nil {
			t.Fatalf("decoded slot does not encode: %v", err)
		}
		var again Slot
		if err := again.UnmarshalBinary(enc); err != nil || again != s {
			t.Fatalf("re-decode: %+v, %v", again, err)
		}
	})
}

func TestItems(t *testing.T) {
	forEachMode(t, func(t *testing.T, db *DB) {
		raw := bytes.Repeat([]byte{1, 2, 3}, 1000)
		commit(t, db, func(b *Batch) { b.PutItem("item-1", raw) })
		got, err := db.Item("item-1")
		if err != nil || !bytes.Equal(got, raw) {
			t.Fatalf("Item = %d bytes, %v", len(got), err)
		}
		if ok, err := db.HasItem("item-1"); !ok || err != nil {
			t.Fatalf("HasItem = %v, %v", ok, err)
		}
		if _, err := db.Item("item-2"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Item missing = %v", err)
		}
		for _, id := range []string{"", strings.Repeat("i", MaxIDBytes+1)} {
			if _, err := db.Item(id); !errors.Is(err, ErrNotFound) {
				t.Fatalf("Item(%d bytes) = %v", len(id), err)
			}
			if ok, err := db.HasItem(id); ok || err != nil {
				t.Fatalf("HasItem(%d bytes) = %v, %v", len(id), ok, err)
			}
		}
	})
}

func TestSlotsAndIndexes(t *testing.T) {
	forEachMode(t, func(t *testing.T, db *DB) {
		// Two processes where one id is a prefix of the other, so that a missing length
		// prefix in the key layout would mix their schedules.
		const pa, pb = "proc", "proc2"
		ts := []int64{100, 100, 150, 150, 150, 200, 300}
		commit(t, db, func(b *Batch) {
			for n, tm := range ts {
				b.PutSlot(testSlot(pa, uint64(n), tm))
			}
			for n := range 3 {
				b.PutSlot(testSlot(pb, uint64(n), 1000+int64(n)))
			}
		})
		for n, tm := range ts {
			want := testSlot(pa, uint64(n), tm)
			if s, err := db.Slot(pa, uint64(n)); err != nil || s != want {
				t.Fatalf("Slot(%d) = %+v, %v", n, s, err)
			}
			if s, err := db.SlotByMessage(pa, want.MessageID); err != nil || s != want {
				t.Fatalf("SlotByMessage(%d) = %+v, %v", n, s, err)
			}
			if s, err := db.SlotByAssignment(want.AssignmentID); err != nil || s != want {
				t.Fatalf("SlotByAssignment(%d) = %+v, %v", n, s, err)
			}
		}
		if _, err := db.Slot(pa, uint64(len(ts))); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Slot past the end = %v", err)
		}
		if _, err := db.SlotByMessage(pb, testSlot(pa, 0, 0).MessageID); !errors.Is(err, ErrNotFound) {
			t.Fatalf("SlotByMessage in the wrong process = %v", err)
		}
		if _, err := db.SlotByAssignment("nope"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("SlotByAssignment missing = %v", err)
		}
		if s, err := db.LastSlot(pa); err != nil || s != testSlot(pa, 6, 300) {
			t.Fatalf("LastSlot(pa) = %+v, %v", s, err)
		}
		if s, err := db.LastSlot(pb); err != nil || s != testSlot(pb, 2, 1002) {
			t.Fatalf("LastSlot(pb) = %+v, %v", s, err)
		}
		if _, err := db.LastSlot("pro"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("LastSlot of an unknown process = %v", err)
		}

		collect := func(pid string, from uint64, limit int) []uint64 {
			var out []uint64
			err := db.Slots(pid, from, func(s Slot) bool {
				if s.Process != pid {
					t.Fatalf("Slots(%s) yielded %s", pid, s.Process)
				}
				out = append(out, s.Nonce)
				return limit == 0 || len(out) < limit
			})
			if err != nil {
				t.Fatal(err)
			}
			return out
		}
		if got := fmt.Sprint(collect(pa, 0, 0)); got != "[0 1 2 3 4 5 6]" {
			t.Fatalf("Slots(pa, 0) = %s", got)
		}
		if got := fmt.Sprint(collect(pa, 4, 0)); got != "[4 5 6]" {
			t.Fatalf("Slots(pa, 4) = %s", got)
		}
		if got := fmt.Sprint(collect(pa, 2, 2)); got != "[2 3]" {
			t.Fatalf("Slots(pa, 2, limit 2) = %s", got)
		}
		if got := collect(pa, 7, 0); got != nil {
			t.Fatalf("Slots past the end = %v", got)
		}
		if got := fmt.Sprint(collect(pb, 0, 0)); got != "[0 1 2]" {
			t.Fatalf("Slots(pb) = %s", got)
		}
		if got := collect("", 0, 0); got != nil {
			t.Fatalf("Slots of an invalid id = %v", got)
		}

		firstAfter := []struct {
			ms   int64
			want int64 // -1 = ErrNotFound
		}{
			{math.MinInt64, 0},
			{-1, 0},
			{99, 0},
			{100, 2}, // equal timestamps: strictly after, smallest nonce
			{101, 2},
			{149, 2},
			{150, 5},
			{199, 5},
			{200, 6},
			{299, 6},
			{300, -1}, // none after
			{math.MaxInt64, -1},
		}
		for _, c := range firstAfter {
			n, err := db.FirstNonceAfter(pa, c.ms)
			if c.want < 0 {
				if !errors.Is(err, ErrNotFound) {
					t.Fatalf("FirstNonceAfter(%d) = %d, %v; want ErrNotFound", c.ms, n, err)
				}
				continue
			}
			if err != nil || n != uint64(c.want) {
				t.Fatalf("FirstNonceAfter(%d) = %d, %v; want %d", c.ms, n, err, c.want)
			}
		}
		if n, err := db.FirstNonceAfter(pb, 1000); err != nil || n != 1 {
			t.Fatalf("FirstNonceAfter(pb, 1000) = %d, %v", n, err)
		}
		if _, err := db.FirstNonceAfter("nobody", 0); !errors.Is(err, ErrNotFound) {
			t.Fatalf("FirstNonceAfter unknown process = %v", err)
		}
	})
}

func TestNegativeTimestampsSortFirst(t *testing.T) {
	db := openMem(t)
	commit(t, db, func(b *Batch) {
		b.PutSlot(testSlot("p", 0, -50))
		b.PutSlot(testSlot("p", 1, 0))
		b.PutSlot(testSlot("p", 2, 50))
	})
	for _, c := range []struct{ ms, want int64 }{{-100, 0}, {-50, 1}, {-1, 1}, {0, 2}} {
		if n, err := db.FirstNonceAfter("p", c.ms); err != nil || int64(n) != c.want {
			t.Fatalf("FirstNonceAfter(%d) = %d, %v; want %d", c.ms, n, err, c.want)
		}
	}
}

func TestSlotNonceOrderIsNumeric(t *testing.T) {
	db := openMem(t)
	nonces := []uint64{0, 1, 2, 9, 10, 255, 256, 1 << 32, math.MaxUint64}
	commit(t, db, func(b *Batch) {
		for i := len(nonces) - 1; i >= 0; i-- {
			b.PutSlot(testSlot("p", nonces[i], int64(i)))
		}
	})
	var got []uint64
	if err := db.Slots("p", 0, func(s Slot) bool { got = append(got, s.Nonce); return true }); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != fmt.Sprint(nonces) {
		t.Fatalf("Slots order = %v", got)
	}
	if s, err := db.LastSlot("p"); err != nil || s.Nonce != math.MaxUint64 {
		t.Fatalf("LastSlot = %+v, %v", s, err)
	}
}

func TestCorruptIndexesAreReported(t *testing.T) {
	db := openMem(t)
	commit(t, db, func(b *Batch) {
		b.Set(KsSlotByMessage, messageKey("p", "m"), []byte{1, 2, 3})
		b.Set(KsSlotByMessage, messageKey("p", "dangling"), make([]byte, 8))
		b.Set(KsSlotByAssignment, []byte("a"), []byte{5, 'p'})
		b.Set(KsSlots, slotKey("p", 1), []byte("garbage"))
		s := testSlot("q", 2, 0)
		enc, _ := s.MarshalBinary()
		b.Set(KsSlots, slotKey("p", 2), enc) // a valid slot under another process's key
	})
	if _, err := db.SlotByMessage("p", "m"); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("short message index: %v", err)
	}
	if _, err := db.SlotByMessage("p", "dangling"); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("dangling message index: %v", err)
	}
	if _, err := db.SlotByAssignment("a"); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("bad assignment index: %v", err)
	}
	if _, err := db.Slot("p", 1); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("garbage slot: %v", err)
	}
	if _, err := db.Slot("p", 2); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("misplaced slot: %v", err)
	}
	if _, err := db.LastSlot("p"); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("LastSlot over a misplaced slot: %v", err)
	}
	if err := db.Slots("p", 0, func(Slot) bool { return true }); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Slots over garbage: %v", err)
	}
}

// A slot stored with its assignment: the slot reads back as any other, and the assignment
// is an item like any other (Item, HasItem) without a key of its own.
func TestSlotWithAssignment(t *testing.T) {
	forEachMode(t, func(t *testing.T, db *DB) {
		s := testSlot("p", 0, 10)
		raw := []byte("raw assignment bytes")
		commit(t, db, func(b *Batch) { b.PutSlotWithAssignment(s, raw) })
		if got, err := db.Slot("p", 0); err != nil || got != s {
			t.Fatalf("Slot = %+v, %v", got, err)
		}
		if got, err := db.SlotByAssignment(s.AssignmentID); err != nil || got != s {
			t.Fatalf("SlotByAssignment = %+v, %v", got, err)
		}
		if got, err := db.Item(s.AssignmentID); err != nil || !bytes.Equal(got, raw) {
			t.Fatalf("Item = %q, %v", got, err)
		}
		if ok, err := db.HasItem(s.AssignmentID); err != nil || !ok {
			t.Fatalf("HasItem = %v, %v", ok, err)
		}
		if ok, err := db.Has(KsItems, []byte(s.AssignmentID)); err != nil || ok {
			t.Fatalf("the assignment has a key of its own: %v, %v", ok, err)
		}
		// A slot stored without one (older versions): its assignment is not found there.
		old := testSlot("p", 1, 11)
		commit(t, db, func(b *Batch) { b.PutSlot(old) })
		if _, err := db.Item(old.AssignmentID); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Item of a slot without assignment: %v", err)
		}
		if ok, err := db.HasItem(old.AssignmentID); err != nil || ok {
			t.Fatalf("HasItem of a slot without assignment: %v, %v", ok, err)
		}
		var bad Batch
		bad.PutSlotWithAssignment(s, nil)
		if !errors.Is(bad.Err(), ErrTooLarge) {
			t.Fatalf("empty assignment accepted: %v", bad.Err())
		}
	})
}

func TestSlotWithAssignmentDecode(t *testing.T) {
	s := testSlot("p", 3, 42)
	fields := s.appendFields([]byte{slotWithAssignment})
	got, raw, err := decodeSlot(append(fields, 'a', 'b'))
	if err != nil || got != s || string(raw) != "ab" {
		t.Fatalf("decode = %+v, %q, %v", got, raw, err)
	}
	if _, _, err := decodeSlot(fields); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("format 2 without assignment: %v", err)
	}
	// The assignment index must point at the slot of that very assignment.
	db := openMem(t)
	commit(t, db, func(b *Batch) {
		b.PutSlotWithAssignment(s, []byte("x"))
		b.Set(KsSlotByAssignment, []byte("other"), slotKey("p", 3))
		b.Set(KsSlotByAssignment, []byte("gone"), slotKey("p", 9))
	})
	for _, id := range []string{"other", "gone"} {
		if _, err := db.Item(id); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("Item(%s) = %v, want ErrCorrupt", id, err)
		}
	}
}
