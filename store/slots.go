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
const slotFormat = 1

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
	buf = append(buf, slotFormat)
	buf = appendString(buf, s.Process)
	buf = binary.AppendUvarint(buf, s.Nonce)
	buf = binary.AppendVarint(buf, s.Timestamp)
	buf = binary.AppendUvarint(buf, s.BlockHeight)
	buf = appendString(buf, s.HashChain)
	buf = appendString(buf, s.AssignmentID)
	return appendString(buf, s.MessageID)
}

// UnmarshalBinary decodes what MarshalBinary produced; anything else is ErrCorrupt.
func (s *Slot) UnmarshalBinary(data []byte) error {
	d := decoder{buf: data}
	if d.byte() != slotFormat {
		return fmt.Errorf("%w: slot: unknown format", ErrCorrupt)
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
		return fmt.Errorf("%w: slot: %w", ErrCorrupt, d.err)
	}
	if len(d.buf) != 0 {
		return fmt.Errorf("%w: slot: %d trailing bytes", ErrCorrupt, len(d.buf))
	}
	if err := out.validate(); err != nil {
		return fmt.Errorf("%w: slot: %w", ErrCorrupt, err)
	}
	*s = out
	return nil
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
func (b *Batch) PutSlot(s Slot) {
	if b.err != nil {
		return
	}
	if err := s.validate(); err != nil {
		b.setErr(err)
		return
	}
	b.ops = slices.Grow(b.ops, 3)
	pl := 1 + len(s.Process)
	// One buffer for all keys and values: the slot key, the encoded slot, the message index
	// key and value, and the assignment index key (whose value is the slot key).
	buf := make([]byte, 0, 3*(1+pl+8)+len(s.MessageID)+1+len(s.AssignmentID)+slotMaxLen(s))
	cut := func(from int) []byte { return buf[from:len(buf):len(buf)] }
	at := len(buf)
	buf = append(buf, byte(KsSlots), byte(len(s.Process)))
	buf = binary.BigEndian.AppendUint64(append(buf, s.Process...), s.Nonce)
	sk := cut(at)
	at = len(buf)
	buf = s.appendBinary(buf)
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

// Item returns the raw bytes of the item with this id, or ErrNotFound.
func (db *DB) Item(id string) ([]byte, error) {
	if !validID(id) {
		return nil, ErrNotFound
	}
	return db.Get(KsItems, []byte(id))
}

// HasItem reports whether an item with this id is stored.
func (db *DB) HasItem(id string) (bool, error) {
	if !validID(id) {
		return false, nil
	}
	return db.Has(KsItems, []byte(id))
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
	var s Slot
	if err := s.UnmarshalBinary(value); err != nil {
		return Slot{}, err
	}
	if string(slotKey(s.Process, s.Nonce)) != string(key) {
		return Slot{}, fmt.Errorf("%w: slot %s/%d stored under another key", ErrCorrupt, s.Process, s.Nonce)
	}
	return s, nil
}
