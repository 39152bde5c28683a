package consensus

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"

	"github.com/aonode/aonode/dataitem"
	"github.com/aonode/aonode/store"
	"github.com/aonode/aonode/su"
	"github.com/hashicorp/raft"
)

// fsmRig is three FSMs of one group, each on its own store, fed the same log.
type fsmRig struct {
	t        *testing.T
	keys     []dataitem.Signer
	set      []string
	dbs      []*store.DB
	fsms     []*fsm
	index    uint64
	outsider dataitem.Signer
}

func newFSMRig(t *testing.T) *fsmRig {
	r := &fsmRig{t: t, outsider: newKey(t)}
	ms := newMembers(t, 3)
	for _, m := range ms {
		r.keys = append(r.keys, m.signer)
		r.set = append(r.set, m.addr)
	}
	sortStrings(r.set)
	for range 3 {
		db, err := store.Open(store.Options{InMemory: true, Logger: quiet()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = db.Close() })
		r.dbs = append(r.dbs, db)
		f := newFSM(db, GroupID(r.set), r.set, quiet(), nil)
		t.Cleanup(f.close)
		r.fsms = append(r.fsms, f)
	}
	return r
}

func sortStrings(s []string) {
	for i := range s {
		for j := i + 1; j < len(s); j++ {
			if s[j] < s[i] {
				s[i], s[j] = s[j], s[i]
			}
		}
	}
}

// apply gives every FSM the same entry and checks that they agree; it returns the outcomes.
func (r *fsmRig) apply(recs ...record) []outcome {
	r.t.Helper()
	r.index++
	l := &raft.Log{Index: r.index, Term: 1, Type: raft.LogCommand, Data: encodeEntry(recs)}
	var first []outcome
	for i, f := range r.fsms {
		res := f.ApplyBatch([]*raft.Log{l})[0].(*entryResult)
		if res.Err != nil {
			r.t.Fatalf("entry: %v", res.Err)
		}
		if err := f.flush(); err != nil {
			r.t.Fatal(err)
		}
		if i == 0 {
			first = res.Outcomes
			continue
		}
		for j, o := range res.Outcomes {
			if fmt.Sprint(o.Err) != fmt.Sprint(first[j].Err) || o.Slot != first[j].Slot || o.Again != first[j].Again {
				r.t.Fatalf("member %d record %d: %+v, member 0: %+v", i, j, o, first[j])
			}
		}
	}
	r.sameStores()
	return first
}

// dump is every record of the schedule keyspaces the FSM writes. The gateway's item index
// (KsIndex*) is left out: it orders items by the local time they were indexed, a node-local
// view that is not part of the schedule.
func dump(t *testing.T, db *store.DB) []byte {
	var buf bytes.Buffer
	for _, ks := range []store.Keyspace{store.KsItems, store.KsSlots, store.KsSlotByMessage, store.KsSlotByAssignment, store.KsConsensusProcesses} {
		if err := db.Scan(ks, nil, nil, false, func(k, v []byte) bool {
			fmt.Fprintf(&buf, "%x %x=%x\n", byte(ks), k, v)
			return true
		}); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

func (r *fsmRig) sameStores() {
	r.t.Helper()
	ref := dump(r.t, r.dbs[0])
	for i := 1; i < len(r.dbs); i++ {
		if !bytes.Equal(ref, dump(r.t, r.dbs[i])) {
			r.t.Fatalf("store of member %d differs from member 0", i)
		}
	}
}

// assignment signs an assignment with the given fields (no checks: tests build bad ones).
func (r *fsmRig) assignment(signer dataitem.Signer, pid string, nonce uint64, chain string, ts int64, msg string) *dataitem.Item {
	anchor := bytes.Repeat([]byte{byte(nonce)}, 32)
	return signItem(r.t, signer, dataitem.Fields{Anchor: anchor, Tags: su.AssignmentTags(pid, nonce, chain, 0, ts, msg, nil)})
}

// next builds the correct next record of pid after head, signed by signer.
func (r *fsmRig) next(signer dataitem.Signer, head *su.Head, pid string, it *dataitem.Item, ts int64) (record, su.Head) {
	in := su.Input{Process: pid, NowMs: ts, Anchor: bytes.Repeat([]byte{7}, 32)}
	if head != nil {
		in.Message = it.ID()
	}
	a, h, err := su.Assign(head, in, signer)
	if err != nil {
		r.t.Fatal(err)
	}
	return record{Assignment: a.Raw(), Item: it.Raw()}, h
}

func TestFSMIdenticalStoresAndRefusals(t *testing.T) {
	r := newFSMRig(t)
	owner := newKey(t)
	proc := processItem(t, owner, r.set)
	pid := proc.ID()
	rec, head := r.next(r.keys[0], nil, pid, proc, 1000)
	if o := r.apply(rec); o[0].Err != nil || o[0].Slot.Nonce != 0 {
		t.Fatalf("nonce 0: %+v", o[0])
	}
	// Slots by different leaders (members) in one entry, then another.
	var recs []record
	var msgs []*dataitem.Item
	for i := range 5 {
		m := messageItem(t, owner, pid, fmt.Sprint("m", i))
		msgs = append(msgs, m)
		var rr record
		rr, head = r.next(r.keys[i%3], &head, pid, m, 1000+int64(i))
		recs = append(recs, rr)
	}
	for i, o := range r.apply(recs...) {
		if o.Err != nil || o.Slot.Nonce != uint64(i+1) {
			t.Fatalf("record %d: %+v", i, o)
		}
	}
	before := dump(t, r.dbs[0])

	fresh := messageItem(t, owner, pid, "fresh")
	good, _ := r.next(r.keys[1], &head, pid, fresh, 2000)
	nextChain, _ := su.NextHashChain(head.AssignmentID, head.HashChain)
	otherSet := processItem(t, owner, r.set[:2])
	otherRec, _ := r.next(r.keys[0], nil, otherSet.ID(), otherSet, 1)
	tampered := bytes.Clone(good.Assignment)
	tampered[len(tampered)-40] ^= 1 // inside the tags: the signature no longer verifies
	outsiderRec, _ := r.next(r.outsider, &head, pid, fresh, 2000)
	cases := []struct {
		name string
		rec  record
		want error
	}{
		{"signer not a member", outsiderRec, ErrNotMember},
		{"bad signature", record{Assignment: tampered, Item: good.Item}, ErrBadRecord},
		{"nonce gap", record{Assignment: r.assignment(r.keys[0], pid, head.Nonce+2, nextChain, 2000, fresh.ID()).Raw(), Item: fresh.Raw()}, ErrNonce},
		{"nonce reused", record{Assignment: r.assignment(r.keys[0], pid, head.Nonce, nextChain, 2000, fresh.ID()).Raw(), Item: fresh.Raw()}, ErrNonce},
		{"hash chain", record{Assignment: r.assignment(r.keys[0], pid, head.Nonce+1, head.HashChain, 2000, fresh.ID()).Raw(), Item: fresh.Raw()}, ErrHashChain},
		{"timestamp backwards", record{Assignment: r.assignment(r.keys[0], pid, head.Nonce+1, nextChain, 999, fresh.ID()).Raw(), Item: fresh.Raw()}, ErrTimestamp},
		{"message already scheduled", record{Assignment: r.assignment(r.keys[0], pid, head.Nonce+1, nextChain, 2000, msgs[2].ID()).Raw(), Item: msgs[2].Raw()}, ErrScheduled},
		{"item is not the scheduled one", record{Assignment: good.Assignment, Item: msgs[0].Raw()}, ErrBadRecord},
		{"process of another set", otherRec, ErrWrongSet},
		{"process unknown", record{Assignment: r.assignment(r.keys[0], otherSet.ID(), 1, nextChain, 2000, fresh.ID()).Raw(), Item: fresh.Raw()}, ErrNonce},
	}
	sinks := make([]*pairSink, len(r.fsms))
	for i, f := range r.fsms {
		sinks[i] = &pairSink{}
		f.conflicts = sinks[i]
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			counts := make([]int, len(sinks))
			for i, s := range sinks {
				counts[i] = s.count()
			}
			o := r.apply(tc.rec)
			for i, s := range sinks {
				// A second valid assignment for a stored slot is reported as evidence.
				if want := counts[i] + btoi(tc.name == "nonce reused"); s.count() != want {
					t.Fatalf("member %d: %d conflicts reported, want %d", i, s.count(), want)
				}
			}
			if !errors.Is(o[0].Err, tc.want) {
				t.Fatalf("outcome %v, want %v", o[0].Err, tc.want)
			}
			if !bytes.Equal(before, dump(t, r.dbs[0])) {
				t.Fatal("a refused record wrote something")
			}
		})
	}
	// A refused record does not stop the good one after it in the same entry.
	o := r.apply(outsiderRec, good)
	if o[0].Err == nil || o[1].Err != nil || o[1].Slot.Nonce != head.Nonce+1 {
		t.Fatalf("mixed entry: %+v", o)
	}
	for _, db := range r.dbs {
		if _, err := su.VerifySchedule(db, pid); err != nil {
			t.Fatal(err)
		}
	}
}

func TestFSMReapplyIsHarmless(t *testing.T) {
	r := newFSMRig(t)
	owner := newKey(t)
	proc := processItem(t, owner, r.set)
	pid := proc.ID()
	var logs []*raft.Log
	rec, head := r.next(r.keys[0], nil, pid, proc, 10)
	logs = append(logs, &raft.Log{Index: 1, Type: raft.LogCommand, Data: encodeEntry([]record{rec})})
	for i := range 4 {
		var rr record
		rr, head = r.next(r.keys[2], &head, pid, messageItem(t, owner, pid, fmt.Sprint(i)), 10)
		logs = append(logs, &raft.Log{Index: uint64(i + 2), Type: raft.LogCommand, Data: encodeEntry([]record{rr})})
	}
	for _, f := range r.fsms {
		f.ApplyBatch(logs)
		if err := f.flush(); err != nil {
			t.Fatal(err)
		}
	}
	before := dump(t, r.dbs[0])
	// As after a restart: a fresh FSM (empty caches) replays the whole log.
	for i, db := range r.dbs {
		f := newFSM(db, GroupID(r.set), r.set, quiet(), nil)
		defer f.close()
		results := f.ApplyBatch(logs)
		if err := f.flush(); err != nil {
			t.Fatal(err)
		}
		for j, res := range results {
			for _, o := range res.(*entryResult).Outcomes {
				if o.Err != nil || !o.Again {
					t.Fatalf("member %d entry %d re-applied: %+v", i, j, o)
				}
			}
		}
	}
	r.sameStores()
	if !bytes.Equal(before, dump(t, r.dbs[0])) {
		t.Fatal("re-applying changed the store")
	}
}

// TestFSMSnapshotRestore streams a member's group state into an empty member.
func TestFSMSnapshotRestore(t *testing.T) {
	r := newFSMRig(t)
	owner := newKey(t)
	proc := processItem(t, owner, r.set)
	pid := proc.ID()
	rec, head := r.next(r.keys[0], nil, pid, proc, 10)
	r.apply(rec)
	for i := range 10 {
		rec, head = r.next(r.keys[1], &head, pid, messageItem(t, owner, pid, fmt.Sprint(i)), 10)
		r.apply(rec)
	}
	var buf bytes.Buffer
	if err := writeSnapshot(r.dbs[0], r.fsms[0].prefix, &buf); err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(store.Options{InMemory: true, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	f := newFSM(db, GroupID(r.set), r.set, quiet(), nil)
	defer f.close()
	if err := f.Restore(io.NopCloser(bytes.NewReader(buf.Bytes()))); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(dump(t, r.dbs[0]), dump(t, db)) {
		t.Fatal("restored store differs")
	}
	// Restoring over the same state again is a no-op.
	if err := f.Restore(io.NopCloser(bytes.NewReader(buf.Bytes()))); err != nil {
		t.Fatal(err)
	}
	// A truncated stream fails.
	db2, _ := store.Open(store.Options{InMemory: true, Logger: quiet()})
	defer db2.Close()
	f2 := newFSM(db2, GroupID(r.set), r.set, quiet(), nil)
	defer f2.close()
	if err := f2.Restore(io.NopCloser(bytes.NewReader(buf.Bytes()[:buf.Len()-5]))); err == nil {
		t.Fatal("truncated snapshot restored")
	}
}

func FuzzDecodeEntry(f *testing.F) {
	f.Add(encodeEntry([]record{{Assignment: []byte("a"), Item: []byte("b")}}))
	f.Add([]byte{1, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		recs, err := decodeEntry(data)
		if err != nil {
			return
		}
		if !bytes.Equal(encodeEntry(recs), data) {
			t.Fatal("decoded entry re-encodes differently")
		}
	})
}

func FuzzHandleCall(f *testing.F) {
	f.Add(encodeAnnounce([]byte("x")))
	f.Add(encodeForward("g", su.Request{Process: "p", Message: "m", Exclude: []string{"a"}}))
	m := &Manager{groups: map[string]*group{}, opening: map[string]chan struct{}{}}
	f.Fuzz(func(t *testing.T, data []byte) {
		if _, err := m.handleCall(t.Context(), "someone", data); err != nil {
			t.Fatal(err)
		}
	})
}

type pairSink struct {
	mu    sync.Mutex
	pairs [][2]*dataitem.Item
}

func (p *pairSink) AssignmentPair(a, b *dataitem.Item) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.pairs = append(p.pairs, [2]*dataitem.Item{a, b})
}

func (p *pairSink) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.pairs)
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
