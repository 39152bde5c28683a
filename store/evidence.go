package store

import (
	"encoding/binary"
	"fmt"
)

// Equivocation evidence (KsEvidence). The value is the evidence in its wire shape, opaque to
// store; the key orders it by process and slot, and the pair key (a digest of the two
// assignment ids, chosen by the caller) keeps two different pairs of one slot apart and the
// same pair found twice one record:
//
//	KsEvidence len(pid) | pid | big-endian nonce | pair key (32 bytes) -> evidence
func evidenceKey(pid string, nonce uint64, pair [32]byte) ([]byte, error) {
	if err := checkPID(pid); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidKey, err)
	}
	k := make([]byte, 0, 1+len(pid)+8+32)
	k = append(k, byte(len(pid)))
	k = append(k, pid...)
	k = binary.BigEndian.AppendUint64(k, nonce)
	return append(k, pair[:]...), nil
}

// PutEvidence stores evidence about slot nonce of pid; a second put of the same pair replaces
// the first.
func (b *Batch) PutEvidence(pid string, nonce uint64, pair [32]byte, value []byte) {
	k, err := evidenceKey(pid, nonce, pair)
	if err != nil {
		b.setErr(err)
		return
	}
	b.Set(KsEvidence, k, value)
}

// HasEvidence reports whether the pair is stored.
func (db *DB) HasEvidence(pid string, nonce uint64, pair [32]byte) (bool, error) {
	k, err := evidenceKey(pid, nonce, pair)
	if err != nil {
		return false, nil
	}
	return db.Has(KsEvidence, k)
}

// Evidence calls fn with every stored evidence, by process then slot; fn returns false to
// stop. value is only valid during the call.
func (db *DB) Evidence(fn func(value []byte) bool) error {
	return db.Scan(KsEvidence, nil, nil, false, func(_, v []byte) bool { return fn(v) })
}
