package su

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/aonode/aonode/dataitem"
	"github.com/aonode/aonode/store"
)

// ErrBadAssignment reports an assignment item whose tags do not describe a slot.
var ErrBadAssignment = errors.New("su: malformed assignment")

// SlotFromAssignment reads the slot an assignment item describes from its tags. The nonce-0
// assignment of a process has no Message tag; its slot's MessageID is the process id.
func SlotFromAssignment(a *dataitem.Item) (store.Slot, error) {
	get := func(name string) (string, error) {
		v, ok := a.Tag(name)
		if !ok {
			return "", fmt.Errorf("%w %s: no %s tag", ErrBadAssignment, a.ID(), name)
		}
		return v, nil
	}
	var s store.Slot
	var err error
	if v, ok := a.Tag(TagType); ok && v != typeAssignment {
		return s, fmt.Errorf("%w %s: Type is %q", ErrBadAssignment, a.ID(), v)
	}
	if s.Process, err = get(TagProcess); err != nil {
		return s, err
	}
	if _, err := dataitem.DecodeID(s.Process); err != nil {
		return s, fmt.Errorf("%w %s: Process: %v", ErrBadAssignment, a.ID(), err)
	}
	num := func(name string) (string, error) {
		v, err := get(name)
		if err == nil && (v == "" || len(v) > 20) {
			err = fmt.Errorf("%w %s: %s %q", ErrBadAssignment, a.ID(), name, v)
		}
		return v, err
	}
	v, err := num(TagNonce)
	if err != nil {
		return s, err
	}
	if s.Nonce, err = strconv.ParseUint(v, 10, 64); err != nil {
		return s, fmt.Errorf("%w %s: Nonce: %v", ErrBadAssignment, a.ID(), err)
	}
	if v, err = num(TagTimestamp); err != nil {
		return s, err
	}
	if s.Timestamp, err = strconv.ParseInt(v, 10, 64); err != nil {
		return s, fmt.Errorf("%w %s: Timestamp: %v", ErrBadAssignment, a.ID(), err)
	}
	if v, err = num(TagBlockHeight); err != nil {
		return s, err
	}
	if s.BlockHeight, err = strconv.ParseUint(v, 10, 64); err != nil {
		return s, fmt.Errorf("%w %s: Block-Height: %v", ErrBadAssignment, a.ID(), err)
	}
	if s.HashChain, err = get(TagHashChain); err != nil {
		return s, err
	}
	if _, err := dataitem.DecodeID(s.HashChain); err != nil {
		return s, fmt.Errorf("%w %s: Hash-Chain: %v", ErrBadAssignment, a.ID(), err)
	}
	if m, ok := a.Tag(TagMessage); ok {
		if _, err := dataitem.DecodeID(m); err != nil {
			return s, fmt.Errorf("%w %s: Message: %v", ErrBadAssignment, a.ID(), err)
		}
		s.MessageID = m
	} else {
		if s.Nonce != 0 {
			return s, fmt.Errorf("%w %s: no Message tag at nonce %d", ErrBadAssignment, a.ID(), s.Nonce)
		}
		s.MessageID = s.Process
	}
	s.AssignmentID = a.ID()
	return s, nil
}

// Apply adds a signed assignment, and the item it schedules when that item travels with it,
// to b: the item, the assignment item and the slot with its indexes. It is the one way a slot
// enters the store, shared by the local sequencer and replicated ones (which apply the bytes
// the leader signed). item is nil for an assignment of an item the store already holds.
func Apply(b *store.Batch, assignment, item *dataitem.Item) (store.Slot, error) {
	s, err := SlotFromAssignment(assignment)
	if err != nil {
		return s, err
	}
	return s, put(b, s, assignment, item)
}

// put is Apply for a slot already known to be the one the assignment describes (the local
// sequencer built both, so it need not read the tags back).
func put(b *store.Batch, s store.Slot, assignment, item *dataitem.Item) error {
	if item != nil {
		if len(item.Raw()) > store.MaxValueBytes {
			// Refused here, for this request alone: a batch with an oversized value fails whole.
			return fmt.Errorf("%w: item of %d bytes", store.ErrTooLarge, len(item.Raw()))
		}
		if id := item.ID(); id != s.MessageID {
			return fmt.Errorf("%w %s: schedules %s, not item %s", ErrBadAssignment, s.AssignmentID, s.MessageID, id)
		}
		if s.Nonce == 0 {
			b.PutParsedItem(item)
		} else {
			b.Set(store.KsItems, []byte(s.MessageID), item.Raw())
		}
	}
	// Only the Process itself goes into the gateway's tag and owner index. The gateway answers
	// the module and process look-ups clients make (DESIGN: a minimal gateway); messages and
	// assignments are read through the SU API, and by id through GraphQL and /raw, which need
	// no index. Indexing every message's tags costs about a quarter of the CPU of a slot.
	// The assignment lives inside its slot: one Badger key fewer per slot.
	b.PutSlotWithAssignment(s, assignment.Raw())
	return nil
}
