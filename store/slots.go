package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/dgraph-io/badger/v4"
)

// MaxIDBytes bounds process, message, assignment and item ids (they are 43 base64url
// characters in practice; the bound only keeps keys small and length-prefixable).
const MaxIDBytes = 255

// maxHashChainBytes bounds Slot.HashChain (43 base64url characters in practice).
const maxHashChainBytes = 1024

// Slot is one entry of a process's schedule.
type Slot struct {
	Process      string // process id (base64url, 43 chars)
	Nonce        uint64
	Timestamp    int64 // unix ms of the assignment
	BlockHeight  uint64
	HashChain    string // base64url
	AssignmentID string
	MessageID    string // the assigned item's id; for nonce 0 of an AOP-6 process = process id
}

// slotFormat is the first byte of an encoded Slot; a new layout gets a new byte.
// slotWithAssignment is the same fields followed by the raw assignment item, which then
// needs no key of its own (PutSlotWithAssignment).
const (
	slotFormat         = 1
	slotWithAssignment = 2
)

// MarshalBinary encodes s compactly: a format byte, then the fields in declaration order as
// uvarint-length-prefixed strings and (zigzag) varints.
func (s Slot) MarshalBinary() ([]byte, error) {
	if err := s.validate(); err != nil {
		return nil, err
	}
	return s.appendBinary(make([]byte, 0, slotMaxLen(s))), nil
}

func slotMaxLen(s Slot) int {
	return 1 + 7*binary.MaxVarintLen64 + len(s.Process) + len(s.HashChain) + len(s.AssignmentID) + len(s.MessageID)
}

func (s Slot) appendBinary(buf []byte) []byte {
	return s.appendFields(append(buf, slotFormat))
}

func (s Slot) appendFields(buf []byte) []byte {
	buf = appendString(buf, s.Process)
	buf = binary.AppendUvarint(buf, s.Nonce)
	buf = binary.AppendVarint(buf, s.Timestamp)
	buf = binary.AppendUvarint(buf, s.BlockHeight)
	buf = appendString(buf, s.HashChain)
	buf = appendString(buf, s.AssignmentID)
	return appendString(buf, s.MessageID)
}

// UnmarshalBinary decodes what MarshalBinary produced, or a slot stored with its
// assignment (whose bytes it skips); anything else is ErrCorrupt.
func (s *Slot) UnmarshalBinary(data []byte) error {
	out, _, err := decodeSlot(data)
	if err != nil {
		return err
	}
	*s = out
	return nil
}

// decodeSlot decodes a stored slot and returns the assignment stored with it, if any.
func decodeSlot(data []byte) (Slot, []byte, error) {
	d := decoder{buf: data}
	format := d.byte()
	if format != slotFormat && format != slotWithAssignment {
		return Slot{}, nil, fmt.Errorf("%w: slot: unknown format", ErrCorrupt)
	}
	out := Slot{
		Process:      d.string(MaxIDBytes),
		Nonce:        d.uvarint(),
		Timestamp:    d.varint(),
		BlockHeight:  d.uvarint(),
		HashChain:    d.string(maxHashChainBytes),
		AssignmentID: d.string(MaxIDBytes),
		MessageID:    d.string(MaxIDBytes),
	}
	if d.err != nil {
		return Slot{}, nil, fmt.Errorf("%w: slot: %w", ErrCorrupt, d.err)
	}
	switch {
	case format == slotFormat && len(d.buf) != 0:
		return Slot{}, nil, fmt.Errorf("%w: slot: %d trailing bytes", ErrCorrupt, len(d.buf))
	case format == slotWithAssignment && len(d.buf) == 0:
		return Slot{}, nil, fmt.Errorf("%w: slot: no assignment", ErrCorrupt)
	}
	if err := out.validate(); err != nil {
		return Slot{}, nil, fmt.Errorf("%w: slot: %w", ErrCorrupt, err)
	}
	return out, d.buf, nil
}

func (s Slot) validate() error {
	switch {
	case !validID(s.Process):
		return fmt.Errorf("%w: slot process id of %d bytes", ErrInvalidKey, len(s.Process))
	case !validID(s.AssignmentID):
		return fmt.Errorf("%w: slot assignment id of %d bytes", ErrInvalidKey, len(s.AssignmentID))
	case !validID(s.MessageID):
		return fmt.Errorf("%w: slot message id of %d bytes", ErrInvalidKey, len(s.MessageID))
	case len(s.HashChain) > maxHashChainBytes:
		return fmt.Errorf("%w: slot hash chain of %d bytes", ErrTooLarge, len(s.HashChain))
	}
	return nil
}

func validID(id string) bool { return len(id) > 0 && len(id) <= MaxIDBytes }

func appendString(buf []byte, s string) []byte {
	buf = binary.AppendUvarint(buf, uint64(len(s)))
	return append(buf, s...)
}

// decoder reads a Slot encoding, remembering the first error.
type decoder struct {
	buf []byte
	err error
}

var errShort = errors.New("truncated")

func (d *decoder) byte() byte {
	if d.err != nil || len(d.buf) == 0 {
		d.setErr(errShort)
		return 0
	}
	b := d.buf[0]
	d.buf = d.buf[1:]
	return b
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.buf)
	if n <= 0 {
		d.setErr(errors.New("bad uvarint"))
		return 0
	}
	d.buf = d.buf[n:]
	return v
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.buf)
	if n <= 0 {
		d.setErr(errors.New("bad varint"))
		return 0
	}
	d.buf = d.buf[n:]
	return v
}

func (d *decoder) string(limit int) string {
	n := d.uvarint()
	if d.err != nil {
		return ""
	}
	if n > uint64(limit) || n > uint64(len(d.buf)) {
		d.setErr(fmt.Errorf("string of %d bytes", n))
		return ""
	}
	s := string(d.buf[:n])
	d.buf = d.buf[n:]
	return s
}

func (d *decoder) setErr(err error) {
	if d.err == nil {
		d.err = err
	}
}

// Key layouts (after the keyspace byte). A process id is length-prefixed so that one id can
// never be a prefix of another's keys.
//
//	KsSlots:            len(pid) pid nonce(8)
//	KsSlotByMessage:    len(pid) pid messageID        -> nonce(8)
//	KsSlotByAssignment: assignmentID                  -> KsSlots key
//	KsSlotByTime:       len(pid) pid time(8) nonce(8) -> empty (no longer written)
//
// Integers are big-endian so that keys sort numerically.

func processPrefix(pid string) []byte {
	k := make([]byte, 0, 1+len(pid)+16)
	k = append(k, byte(len(pid)))
	return append(k, pid...)
}

func slotKey(pid string, nonce uint64) []byte {
	return binary.BigEndian.AppendUint64(processPrefix(pid), nonce)
}

func messageKey(pid, messageID string) []byte {
	return append(processPrefix(pid), messageID...)
}

// PutItem stores the raw ANS-104 bytes of a data item under its id, and indexes it by tag,
// owner and recipient (index.go) when raw is a data item with that id.
func (b *Batch) PutItem(id string, raw []byte) {
	if !validID(id) {
		b.setErr(fmt.Errorf("%w: item id of %d bytes", ErrInvalidKey, len(id)))
		return
	}
	b.Set(KsItems, []byte(id), raw)
	b.indexRaw(id, raw)
}

// PutSlot writes the slot and its message-id and assignment-id indexes. Slots are
// immutable: writing a different slot at an existing (process, nonce) leaves the old slot's
// indexes behind, so the scheduler must never do it. Writing the same slot again is harmless.
//
// The time index (KsSlotByTime) is no longer written: timestamps never decrease along a
// schedule, so FirstNonceAfter binary-searches the slots instead, and every slot costs one
// key fewer. Entries that older versions wrote are left in place and ignored.
func (b *Batch) PutSlot(s Slot) { b.putSlot(s, nil) }

// PutSlotWithAssignment is PutSlot for a slot whose assignment item (raw ANS-104 bytes, id
// s.AssignmentID) is stored inside the slot's value rather than under a key of its own: one
// key fewer per slot. Item and HasItem find it by its id all the same.
func (b *Batch) PutSlotWithAssignment(s Slot, assignment []byte) {
	if len(assignment) == 0 || len(assignment) > MaxValueBytes-slotMaxLen(s) {
		b.setErr(fmt.Errorf("%w: assignment of %d bytes", ErrTooLarge, len(assignment)))
		return
	}
	b.putSlot(s, assignment)
}

func (b *Batch) putSlot(s Slot, assignment []byte) {
	if b.err != nil {
		return
	}
	if err := s.validate(); err != nil {
		b.setErr(err)
		return
	}
	b.ops = slices.Grow(b.ops, 3)
	pl := 1 + len(s.Process)
	// One buffer for all keys and values: the slot key, the encoded slot (and assignment),
	// the message index key and value, and the assignment index key (whose value is the
	// slot key).
	buf := make([]byte, 0, 3*(1+pl+8)+len(s.MessageID)+1+len(s.AssignmentID)+slotMaxLen(s)+len(assignment))
	cut := func(from int) []byte { return buf[from:len(buf):len(buf)] }
	at := len(buf)
	buf = append(buf, byte(KsSlots), byte(len(s.Process)))
	buf = binary.BigEndian.AppendUint64(append(buf, s.Process...), s.Nonce)
	sk := cut(at)
	at = len(buf)
	if assignment == nil {
		buf = s.appendBinary(buf)
	} else {
		buf = append(s.appendFields(append(buf, slotWithAssignment)), assignment...)
	}
	b.setOwned(sk, cut(at))
	at = len(buf)
	buf = append(append(append(buf, byte(KsSlotByMessage), byte(len(s.Process))), s.Process...), s.MessageID...)
	mk := cut(at)
	at = len(buf)
	buf = binary.BigEndian.AppendUint64(buf, s.Nonce)
	b.setOwned(mk, cut(at))
	at = len(buf)
	buf = append(append(buf, byte(KsSlotByAssignment)), s.AssignmentID...)
	b.setOwned(cut(at), sk[1:])
}

// Item returns the raw bytes of the item with this id, or ErrNotFound. An assignment
// stored inside its slot (PutSlotWithAssignment) is found through the assignment index.
func (db *DB) Item(id string) ([]byte, error) {
	if !validID(id) {
		return nil, ErrNotFound
	}
	var out []byte
	err := db.view(func(txn *badger.Txn) error {
		v, err := getIn(txn, fullKey(KsItems, []byte(id)))
		if !errors.Is(err, ErrNotFound) {
			out = v
			return err
		}
		out, err = slotAssignmentIn(txn, id)
		return err
	})
	return out, err
}

// HasItem reports whether an item with this id is stored.
func (db *DB) HasItem(id string) (bool, error) {
	if !validID(id) {
		return false, nil
	}
	var found bool
	err := db.view(func(txn *badger.Txn) error {
		var err error
		if found, err = hasIn(txn, fullKey(KsItems, []byte(id))); found || err != nil {
			return err
		}
		_, err = slotAssignmentIn(txn, id)
		found = err == nil
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		return err
	})
	return found, err
}

// slotAssignmentIn returns the assignment stored inside the slot that the assignment index
// names for id, or ErrNotFound.
func slotAssignmentIn(txn *badger.Txn, id string) ([]byte, error) {
	sk, err := getIn(txn, fullKey(KsSlotByAssignment, []byte(id)))
	if err != nil {
		return nil, err
	}
	v, err := getIn(txn, fullKey(KsSlots, sk))
	if errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("%w: assignment index points at a missing slot", ErrCorrupt)
	}
	if err != nil {
		return nil, err
	}
	s, raw, err := decodeSlot(v)
	switch {
	case err != nil:
		return nil, err
	case s.AssignmentID != id:
		return nil, fmt.Errorf("%w: assignment index of %s points at the slot of %s", ErrCorrupt, id, s.AssignmentID)
	case len(raw) == 0:
		return nil, ErrNotFound // stored under its own key by an older version, or never
	}
	return raw, nil
}

// Slot returns slot nonce of process pid, or ErrNotFound.
func (db *DB) Slot(pid string, nonce uint64) (Slot, error) {
	if !validID(pid) {
		return Slot{}, ErrNotFound
	}
	var s Slot
	err := db.view(func(txn *badger.Txn) error {
		var err error
		s, err = slotIn(txn, slotKey(pid, nonce))
		return err
	})
	return s, err
}

// SlotByMessage returns the slot that assigned messageID in process pid, or ErrNotFound.
func (db *DB) SlotByMessage(pid, messageID string) (Slot, error) {
	if !validID(pid) || !validID(messageID) {
		return Slot{}, ErrNotFound
	}
	var s Slot
	err := db.view(func(txn *badger.Txn) error {
		v, err := getIn(txn, fullKey(KsSlotByMessage, messageKey(pid, messageID)))
		if err != nil {
			return err
		}
		if len(v) != 8 {
			return fmt.Errorf("%w: message index entry of %d bytes", ErrCorrupt, len(v))
		}
		s, err = slotIn(txn, slotKey(pid, binary.BigEndian.Uint64(v)))
		if errors.Is(err, ErrNotFound) {
			return fmt.Errorf("%w: message index points at a missing slot", ErrCorrupt)
		}
		return err
	})
	return s, err
}

// HasSlotForMessage reports whether process pid has a slot for messageID: the scheduler's
// duplicate check, one index look-up where SlotByMessage needs two.
func (db *DB) HasSlotForMessage(pid, messageID string) (bool, error) {
	if !validID(pid) || !validID(messageID) {
		return false, nil
	}
	return db.Has(KsSlotByMessage, messageKey(pid, messageID))
}

// SlotByAssignment returns the slot whose assignment has this id, or ErrNotFound.
func (db *DB) SlotByAssignment(assignmentID string) (Slot, error) {
	if !validID(assignmentID) {
		return Slot{}, ErrNotFound
	}
	var s Slot
	err := db.view(func(txn *badger.Txn) error {
		sk, err := getIn(txn, fullKey(KsSlotByAssignment, []byte(assignmentID)))
		if err != nil {
			return err
		}
		if len(sk) < 1+1+8 || int(sk[0]) != len(sk)-1-8 {
			return fmt.Errorf("%w: assignment index entry of %d bytes", ErrCorrupt, len(sk))
		}
		s, err = slotIn(txn, sk)
		if errors.Is(err, ErrNotFound) {
			return fmt.Errorf("%w: assignment index points at a missing slot", ErrCorrupt)
		}
		return err
	})
	return s, err
}

// LastSlot returns the slot with the highest nonce of pid, or ErrNotFound if it has none.
func (db *DB) LastSlot(pid string) (Slot, error) {
	if !validID(pid) {
		return Slot{}, ErrNotFound
	}
	var (
		s      Slot
		found  bool
		decErr error
	)
	err := db.Scan(KsSlots, processPrefix(pid), nil, true, func(key, value []byte) bool {
		found = true
		s, decErr = decodeSlotAt(key, value)
		return false
	})
	switch {
	case err != nil:
		return Slot{}, err
	case decErr != nil:
		return Slot{}, decErr
	case !found:
		return Slot{}, ErrNotFound
	}
	return s, nil
}

// Slots calls fn for the slots of pid in ascending nonce order starting at fromNonce, until
// fn returns false or the slots run out.
func (db *DB) Slots(pid string, fromNonce uint64, fn func(Slot) bool) error {
	if !validID(pid) {
		return nil
	}
	var decErr error
	err := db.Scan(KsSlots, processPrefix(pid), slotKey(pid, fromNonce), false, func(key, value []byte) bool {
		var s Slot
		s, decErr = decodeSlotAt(key, value)
		if decErr != nil {
			return false
		}
		return fn(s)
	})
	if err != nil {
		return err
	}
	return decErr
}

// FirstNonceAfter returns the smallest nonce whose Timestamp > ms (for paging by time), or
// ErrNotFound if none. It binary-searches the slots (O(log n) point reads in one snapshot),
// so it is exact when timestamps do not decrease along the schedule, which the sequencer
// guarantees; were they to decrease, it would return some nonce whose timestamp is > ms and
// whose predecessor's is not.
func (db *DB) FirstNonceAfter(pid string, ms int64) (uint64, error) {
	if !validID(pid) || ms == math.MaxInt64 {
		return 0, ErrNotFound
	}
	last, err := db.LastSlot(pid)
	if err != nil {
		return 0, err
	}
	if last.Timestamp <= ms {
		return 0, ErrNotFound
	}
	// Invariant: the slot at hi has Timestamp > ms; every slot below lo has Timestamp <= ms.
	lo, hi := uint64(0), last.Nonce
	err = db.view(func(txn *badger.Txn) error {
		for lo < hi {
			mid := lo + (hi-lo)/2
			s, err := slotIn(txn, slotKey(pid, mid))
			if errors.Is(err, ErrNotFound) {
				return fmt.Errorf("%w: process %s has no slot %d below its last, %d", ErrCorrupt, pid, mid, last.Nonce)
			}
			if err != nil {
				return err
			}
			if s.Timestamp > ms {
				hi = mid
			} else {
				lo = mid + 1
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return hi, nil
}

// slotIn reads and decodes the slot stored under key (without keyspace byte).
func slotIn(txn *badger.Txn, key []byte) (Slot, error) {
	v, err := getIn(txn, fullKey(KsSlots, key))
	if err != nil {
		return Slot{}, err
	}
	return decodeSlotAt(key, v)
}

// decodeSlotAt decodes a slot and checks it against the key it was stored under.
func decodeSlotAt(key, value []byte) (Slot, error) {
	s, _, err := decodeSlot(value)
	if err != nil {
		return Slot{}, err
	}
	if string(slotKey(s.Process, s.Nonce)) != string(key) {
		return Slot{}, fmt.Errorf("%w: slot %s/%d stored under another key", ErrCorrupt, s.Process, s.Nonce)
	}
	return s, nil
}
