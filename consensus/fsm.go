package consensus

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aonode/aonode/dataitem"
	"github.com/aonode/aonode/dataitem/aoapi"
	"github.com/aonode/aonode/store"
	"github.com/aonode/aonode/su"
	"github.com/hashicorp/raft"
)

// Reasons the FSM refuses a record. Every member refuses the same record for the same reason:
// the checks read only the record and the replicated state.
var (
	ErrNotMember   = errors.New("consensus: assignment not signed by a member of the set")
	ErrBadRecord   = errors.New("consensus: record does not describe a valid slot")
	ErrNonce       = errors.New("consensus: nonce does not follow the last slot")
	ErrHashChain   = errors.New("consensus: hash chain does not follow the last slot")
	ErrTimestamp   = errors.New("consensus: timestamp before the last slot's")
	ErrScheduled   = errors.New("consensus: message already scheduled in the process")
	ErrNotInGroup  = errors.New("consensus: process not ordered by this group")
	ErrWrongSet    = errors.New("consensus: process names another scheduler set")
	ErrStoreFailed = errors.New("consensus: store write failed")
)

// outcome is what the FSM did with one record.
type outcome struct {
	Slot       store.Slot
	Assignment []byte // the raw assignment of Slot (the record's, or the stored one)
	// Again is set when the record was already applied (a re-applied entry): nothing written.
	Again bool
	Err   error
}

// entryResult is the FSM's response to one log entry: one outcome per record, in order.
type entryResult struct {
	Outcomes []outcome
	Err      error        // the entry did not decode
	batch    *stagedBatch // the writes of its successful outcomes; wait for durable
}

// durable waits until the entry's writes are on disk; an error fails every outcome.
func (r *entryResult) durable(ctx context.Context) error {
	if r.batch == nil {
		return nil
	}
	select {
	case <-r.batch.done:
		return r.batch.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// fsm applies a group's entries to the store. Raft calls Apply, ApplyBatch, Snapshot and Restore
// from one goroutine, which owns heads and procs.
type fsm struct {
	db        *store.DB
	group     string
	prefix    []byte
	members   []string
	log       *slog.Logger
	metrics   *Metrics
	conflicts ConflictSink

	// trusted holds assignments this node signed itself as leader, by id: an entry record with
	// the exact same bytes needs no signature check (a correctly signed item verifies, so the
	// outcome is the one every other member computes).
	trusted sync.Map // id -> []byte

	heads map[string]su.Head // process -> last staged slot (cache)
	procs map[string]bool    // processes known to be in the group (cache)

	// Applied entries are staged, then made durable by the committer goroutine, which merges
	// whatever is staged into one store commit: Raft hands the FSM its next batch while the
	// previous one syncs, and one fsync covers several batches. Until a staged batch is
	// durable, its messages and slots are visible to the checks through these overlays.
	commits     chan *stagedBatch
	stop        chan struct{}
	done        chan struct{}
	stagedMu    sync.Mutex
	stagedMsgs  map[[2]string]int           // (process, message) -> staged slots scheduling it
	stagedSlots map[string]string           // process/nonce -> assignment id
	last        atomic.Pointer[stagedBatch] // latest staged batch
	failed      atomic.Pointer[error]

	applied  atomic.Uint64
	appliedM sync.Mutex
	appliedC chan struct{} // closed and replaced whenever applied grows
}

// stagedBatch is the writes of one ApplyBatch on their way to disk.
type stagedBatch struct {
	b     *store.Batch
	index uint64 // last log index of the batch
	msgs  [][2]string
	slots []string
	done  chan struct{} // closed once durable (or failed)
	err   error         // set before done is closed
}

func newFSM(db *store.DB, group string, members []string, log *slog.Logger, m *Metrics) *fsm {
	f := &fsm{
		db: db, group: group, prefix: store.GroupPrefix(group), members: members, log: log, metrics: m,
		heads: map[string]su.Head{}, procs: map[string]bool{}, appliedC: make(chan struct{}),
		commits: make(chan *stagedBatch, 1024), stop: make(chan struct{}), done: make(chan struct{}),
		stagedMsgs: map[[2]string]int{}, stagedSlots: map[string]string{},
	}
	go f.committer()
	return f
}

// close stops the committer after it has written everything staged.
func (f *fsm) close() {
	close(f.stop)
	<-f.done
}

// committer makes staged batches durable, in order, merging all that are queued into one
// commit.
func (f *fsm) committer() {
	defer close(f.done)
	for {
		var first *stagedBatch
		select {
		case first = <-f.commits:
		case <-f.stop:
			for {
				select {
				case sb := <-f.commits:
					f.commit([]*stagedBatch{sb})
				default:
					return
				}
			}
		}
		group := []*stagedBatch{first}
	more:
		for len(group) < 256 {
			select {
			case sb := <-f.commits:
				group = append(group, sb)
			default:
				break more
			}
		}
		f.commit(group)
	}
}

func (f *fsm) commit(group []*stagedBatch) {
	start := time.Now()
	var err error
	if p := f.failed.Load(); p != nil {
		err = *p
	} else {
		b := group[0].b
		for _, sb := range group[1:] {
			b.Merge(sb.b)
		}
		if err = f.db.Commit(context.Background(), b); err != nil {
			// The store refuses every later commit after a failed sync (store.ErrFailed):
			// this member stops applying and must be restarted; the others go on.
			f.log.Error("consensus: applying entries failed", "group", f.group, "err", err)
			err = fmt.Errorf("%w: %w", ErrStoreFailed, err)
			f.failed.CompareAndSwap(nil, &err)
		}
	}
	f.stagedMu.Lock()
	for _, sb := range group {
		for _, k := range sb.msgs {
			if f.stagedMsgs[k]--; f.stagedMsgs[k] <= 0 {
				delete(f.stagedMsgs, k)
			}
		}
		for _, k := range sb.slots {
			delete(f.stagedSlots, k)
		}
	}
	f.stagedMu.Unlock()
	if err == nil {
		f.setApplied(group[len(group)-1].index)
	}
	for _, sb := range group {
		sb.err = err
		close(sb.done)
	}
	if f.metrics != nil {
		f.metrics.applySeconds.Observe(time.Since(start).Seconds())
	}
}

// flushOrLog is flush for the FSM goroutine's own use, where a failure only needs logging
// (the store refuses every later write anyway).
func (f *fsm) flushOrLog() {
	if err := f.flush(); err != nil {
		f.log.Error("consensus: staged entries not durable", "group", f.group, "err", err)
	}
}

// flush waits until everything staged so far is durable.
func (f *fsm) flush() error {
	last := f.last.Load()
	if last == nil {
		return nil
	}
	<-last.done
	return last.err
}

// Apply implements raft.FSM.
func (f *fsm) Apply(l *raft.Log) interface{} { return f.ApplyBatch([]*raft.Log{l})[0] }

// ApplyBatch implements raft.BatchingFSM: the records of every entry of the batch are checked
// and staged into one store batch, which the committer makes durable (the leader answers its
// clients only then).
func (f *fsm) ApplyBatch(logs []*raft.Log) []interface{} {
	out := make([]interface{}, len(logs))
	if p := f.failed.Load(); p != nil {
		for i := range out {
			out[i] = &entryResult{Err: *p}
		}
		if n := len(logs); n > 0 {
			f.log.Error("consensus: entries not applied, the store failed", "group", f.group, "last", logs[n-1].Index)
		}
		return out
	}
	sb := &stagedBatch{b: f.db.NewBatch(), done: make(chan struct{})}
	pending := map[string]su.Head{}
	msgs := map[[2]string]bool{}
	for i, l := range logs {
		sb.index = l.Index
		if l.Type != raft.LogCommand {
			continue
		}
		recs, err := decodeEntry(l.Data)
		if err != nil {
			out[i] = &entryResult{Err: err}
			continue
		}
		res := &entryResult{Outcomes: make([]outcome, len(recs)), batch: sb}
		for j, r := range recs {
			res.Outcomes[j] = f.applyRecord(sb.b, r, pending, msgs)
			if o := res.Outcomes[j]; o.Err == nil && !o.Again {
				sb.slots = append(sb.slots, slotKey(o.Slot.Process, o.Slot.Nonce))
			}
		}
		out[i] = res
	}
	for k := range msgs {
		sb.msgs = append(sb.msgs, k)
	}
	f.stagedMu.Lock()
	for _, k := range sb.msgs {
		f.stagedMsgs[k]++
	}
	f.stagedMu.Unlock()
	for pid, h := range pending {
		f.heads[pid] = h
	}
	f.last.Store(sb)
	f.commits <- sb
	return out
}

func slotKey(pid string, nonce uint64) string { return pid + "/" + strconv.FormatUint(nonce, 10) }

// setApplied records the last applied index and wakes its waiters.
func (f *fsm) setApplied(i uint64) {
	f.appliedM.Lock()
	if i > f.applied.Load() {
		f.applied.Store(i)
		close(f.appliedC)
		f.appliedC = make(chan struct{})
	}
	f.appliedM.Unlock()
}

// waitApplied waits until the entry at index i is applied on this member.
func (f *fsm) waitApplied(ctx context.Context, i uint64) error {
	for {
		f.appliedM.Lock()
		if f.applied.Load() >= i {
			f.appliedM.Unlock()
			return nil
		}
		c := f.appliedC
		f.appliedM.Unlock()
		select {
		case <-c:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// head returns the last slot of pid as this batch sees it.
func (f *fsm) head(pid string, pending map[string]su.Head) (*su.Head, error) {
	if h, ok := pending[pid]; ok {
		return &h, nil
	}
	if h, ok := f.heads[pid]; ok {
		return &h, nil
	}
	if len(f.heads) >= maxHeads {
		// Only entries already staged (and in the overlays) are missing from the store.
		f.flushOrLog()
		clear(f.heads)
		clear(f.procs)
	}
	s, err := f.db.LastSlot(pid)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	h := su.Head{Process: s.Process, Nonce: s.Nonce, Timestamp: s.Timestamp, HashChain: s.HashChain, AssignmentID: s.AssignmentID}
	f.heads[pid] = h
	return &h, nil
}

func (f *fsm) inGroup(pid string) (bool, error) {
	if f.procs[pid] {
		return true, nil
	}
	ok, err := f.db.Has(store.KsConsensusProcesses, append(slices.Clip(f.prefix), pid...))
	if ok {
		f.procs[pid] = true
	}
	return ok, err
}

// applyRecord checks one record against the state (the store plus what this batch already
// staged) and stages it into b when it is the next slot of its process.
func (f *fsm) applyRecord(b *store.Batch, r record, pending map[string]su.Head, msgs map[[2]string]bool) outcome {
	fail := func(reason error, format string, args ...any) outcome {
		return outcome{Err: fmt.Errorf("%w: %s", reason, fmt.Sprintf(format, args...))}
	}
	a, err := dataitem.Parse(r.Assignment)
	if err != nil {
		return fail(ErrBadRecord, "assignment: %v", err)
	}
	if !f.isTrusted(a) {
		if err := a.Verify(); err != nil {
			return fail(ErrBadRecord, "assignment %s: %v", a.ID(), err)
		}
	}
	if signer := su.AddressOfOwner(a.Owner); !slices.Contains(f.members, signer) {
		return fail(ErrNotMember, "assignment %s signed by %s", a.ID(), signer)
	}
	s, err := su.SlotFromAssignment(a)
	if err != nil {
		return fail(ErrBadRecord, "%v", err)
	}
	// The item is not verified again: the leader's intake did, and a member's signature on
	// the assignment vouches for the bytes, whose id (a hash of the signature) must match.
	it, err := dataitem.Parse(r.Item)
	if err != nil {
		return fail(ErrBadRecord, "item: %v", err)
	}
	if it.ID() != s.MessageID {
		return fail(ErrBadRecord, "assignment %s schedules %s, the record carries %s", a.ID(), s.MessageID, it.ID())
	}
	pid := s.Process
	head, err := f.head(pid, pending)
	if err != nil {
		return fail(ErrStoreFailed, "head of %s: %v", pid, err)
	}
	if head != nil && s.Nonce <= head.Nonce {
		// A re-applied entry (after a restart, or a snapshot newer than the log) is a no-op
		// when the store holds exactly this slot; anything else at that nonce is a conflict.
		f.stagedMu.Lock()
		staged, ok := f.stagedSlots[slotKey(pid, s.Nonce)]
		f.stagedMu.Unlock()
		if ok && staged == s.AssignmentID {
			return outcome{Slot: s, Assignment: r.Assignment, Again: true}
		}
		old, err := f.db.Slot(pid, s.Nonce)
		if err == nil && old.AssignmentID == s.AssignmentID {
			return outcome{Slot: old, Assignment: r.Assignment, Again: true}
		}
		if err == nil {
			f.conflict(a, old.AssignmentID)
		}
		return fail(ErrNonce, "%s nonce %d, last is %d", pid, s.Nonce, head.Nonce)
	}
	if s.Nonce == 0 {
		if head != nil {
			return fail(ErrNonce, "%s already has nonce 0", pid)
		}
		if set := aoapi.Schedulers(it.Tags); !slices.Equal(set, f.members) {
			return fail(ErrWrongSet, "process %s names %v", pid, set)
		}
		want, err := su.SeedHashChain(pid)
		if err != nil || s.HashChain != want {
			return fail(ErrHashChain, "%s nonce 0", pid)
		}
	} else {
		if head == nil {
			return fail(ErrNonce, "%s has no slot before nonce %d", pid, s.Nonce)
		}
		if ok, err := f.inGroup(pid); err != nil {
			return fail(ErrStoreFailed, "%v", err)
		} else if !ok && pending[pid].Process == "" {
			return fail(ErrNotInGroup, "%s", pid)
		}
		if s.Nonce != head.Nonce+1 {
			return fail(ErrNonce, "%s nonce %d after %d", pid, s.Nonce, head.Nonce)
		}
		want, err := su.NextHashChain(head.AssignmentID, head.HashChain)
		if err != nil || s.HashChain != want {
			return fail(ErrHashChain, "%s nonce %d", pid, s.Nonce)
		}
		if s.Timestamp < head.Timestamp {
			return fail(ErrTimestamp, "%s nonce %d: %d < %d", pid, s.Nonce, s.Timestamp, head.Timestamp)
		}
		key := [2]string{pid, s.MessageID}
		f.stagedMu.Lock()
		staged := f.stagedMsgs[key] > 0
		f.stagedMu.Unlock()
		if msgs[key] || staged {
			return fail(ErrScheduled, "%s in %s", s.MessageID, pid)
		}
		if dup, err := f.db.HasSlotForMessage(pid, s.MessageID); err != nil {
			return fail(ErrStoreFailed, "%v", err)
		} else if dup {
			return fail(ErrScheduled, "%s in %s", s.MessageID, pid)
		}
	}
	if _, err := su.Apply(b, a, it); err != nil {
		return fail(ErrBadRecord, "%v", err)
	}
	if s.Nonce == 0 {
		b.Set(store.KsConsensusProcesses, append(slices.Clip(f.prefix), pid...), []byte{1})
		f.procs[pid] = true
	}
	msgs[[2]string{pid, s.MessageID}] = true
	f.stagedMu.Lock()
	f.stagedSlots[slotKey(pid, s.Nonce)] = s.AssignmentID
	f.stagedMu.Unlock()
	pending[pid] = su.Head{Process: pid, Nonce: s.Nonce, Timestamp: s.Timestamp, HashChain: s.HashChain, AssignmentID: s.AssignmentID}
	return outcome{Slot: s, Assignment: r.Assignment}
}

// conflict reports a verified, member-signed assignment for a slot the store holds with
// another assignment: two signed assignments for one slot are evidence.
func (f *fsm) conflict(a *dataitem.Item, storedID string) {
	f.log.Warn("consensus: entry carries a second assignment for a stored slot", "assignment", a.ID(), "stored", storedID)
	if f.conflicts == nil {
		return
	}
	raw, err := f.db.Item(storedID)
	if err != nil {
		return
	}
	stored, err := dataitem.Parse(raw)
	if err != nil {
		return
	}
	f.conflicts.AssignmentPair(stored, a)
}

func (f *fsm) isTrusted(a *dataitem.Item) bool {
	v, ok := f.trusted.LoadAndDelete(a.ID())
	return ok && bytes.Equal(v.([]byte), a.Raw())
}

// trust records an assignment this node signed, until its entry is applied.
func (f *fsm) trust(a *dataitem.Item) { f.trusted.Store(a.ID(), a.Raw()) }

// forget drops trusted assignments whose entries will never be applied here.
func (f *fsm) forget(ids []string) {
	for _, id := range ids {
		f.trusted.Delete(id)
	}
}

// Snapshot implements raft.FSM. The store is the state, so a snapshot records nothing but
// Raft's metadata; the snapshot store streams the group's slots when a member needs them.
func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	// The snapshot's index must be on disk: entries before it are never applied again.
	if err := f.flush(); err != nil {
		return nil, err
	}
	return emptySnapshot{}, nil
}

type emptySnapshot struct{}

func (emptySnapshot) Persist(sink raft.SnapshotSink) error { return sink.Close() }
func (emptySnapshot) Release()                             {}

// restoreBatch bounds the records of one store batch while restoring.
const restoreBatch = 256

// Restore implements raft.FSM: rc is a stream of records (writeSnapshot), applied with the
// same checks as entries; the slots this member already holds are no-ops.
func (f *fsm) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	if err := f.flush(); err != nil {
		return err
	}
	clear(f.heads)
	clear(f.procs)
	rd := newRecordReader(rc)
	for {
		b := f.db.NewBatch()
		pending := map[string]su.Head{}
		msgs := map[[2]string]bool{}
		n := 0
		var err error
		for n < restoreBatch {
			var r record
			if r, err = rd.next(); err != nil {
				break
			}
			n++
			if o := f.applyRecord(b, r, pending, msgs); o.Err != nil {
				return fmt.Errorf("consensus: restore: %w", o.Err)
			}
		}
		if b.Len() > 0 {
			if cerr := f.db.Commit(context.Background(), b); cerr != nil {
				return fmt.Errorf("consensus: restore: %w", cerr)
			}
			// Nothing else is staged while Raft restores (flushed above, same goroutine).
			f.stagedMu.Lock()
			clear(f.stagedSlots)
			f.stagedMu.Unlock()
			for pid, h := range pending {
				f.heads[pid] = h
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("consensus: restore: %w", err)
		}
	}
}
