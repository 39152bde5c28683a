package su

import (
	"crypto/sha512"
	"fmt"
	"strconv"

	"github.com/aonode/aonode/dataitem"
)

// assignmentFields is the part of an assignment that changes from one to the next; an
// assignment has no target and no data, and always a 32-byte anchor.
type assignmentFields struct {
	Anchor []byte
	Tags   []dataitem.Tag
}

// assignmentSigner signs assignments for one SU key, many at a time. It produces exactly
// the bytes dataitem.Sign would (ed25519 signatures are deterministic, so tests compare
// them), but more cheaply:
//   - the deep-hash parts every assignment shares are computed once: the list accumulator
//     after "dataitem", "1", the signature type and the owner, and the hash of the empty
//     target and data blobs. That leaves 10 of the 33 SHA-384 blocks of a full deep hash;
type assignmentSigner struct {
	s      dataitem.Signer
	fast   bool // s is one of dataitem's signers, which need no check of their output
	owner  []byte
	prefix [48]byte // accumulator of the 8-element list after its first 4 children
	empty  [48]byte // DeepHashBlob of an empty blob
}

func newAssignmentSigner(s dataitem.Signer) *assignmentSigner {
	a := &assignmentSigner{s: s, owner: s.Owner(), empty: dataitem.DeepHashBlob(nil)}
	switch s.(type) {
	case *dataitem.Ed25519Signer, *dataitem.SolanaSigner, *dataitem.ArweaveSigner, *dataitem.EthereumSigner:
		a.fast = true
	}
	acc := sha512.Sum384([]byte("list8"))
	for _, b := range [][]byte{[]byte("dataitem"), []byte("1"), strconv.AppendUint(nil, uint64(s.SignatureType()), 10), a.owner} {
		acc = fold(acc, dataitem.DeepHashBlob(b))
	}
	a.prefix = acc
	return a
}

func fold(acc, child [48]byte) [48]byte {
	var pair [96]byte
	copy(pair[:48], acc[:])
	copy(pair[48:], child[:])
	return sha512.Sum384(pair[:])
}

// signJob is one assignment to sign: fields in, item or error out.
type signJob struct {
	fields assignmentFields
	item   *dataitem.Item
	err    error

	tagBytes []byte
	msg      []byte // what the key signs
	sig      []byte
}

// signAll signs every job on the calling goroutine.
func (a *assignmentSigner) signAll(jobs []*signJob) {
	for _, j := range jobs {
		if !a.fast {
			j.item, j.err = dataitem.Sign(a.s, dataitem.Fields{Anchor: j.fields.Anchor, Tags: j.fields.Tags})
			continue
		}
		if j.err = a.digest(j); j.err != nil {
			continue
		}
		if j.sig, j.err = a.s.Sign(j.msg); j.err != nil {
			j.err = fmt.Errorf("dataitem: signing: %w", j.err)
			continue
		}
		j.item, j.err = a.assemble(j)
	}
}

// digest computes what the key signs: the deep hash of
// ["dataitem", "1", type, owner, target, anchor, tags, data].
func (a *assignmentSigner) digest(j *signJob) error {
	if len(j.fields.Anchor) != 32 {
		return fmt.Errorf("%w: anchor is %d bytes, want 32", dataitem.ErrInvalidFields, len(j.fields.Anchor))
	}
	tagBytes, err := dataitem.EncodeTags(j.fields.Tags)
	if err != nil {
		return err
	}
	j.tagBytes = tagBytes
	acc := fold(a.prefix, a.empty)
	acc = fold(acc, dataitem.DeepHashBlob(j.fields.Anchor))
	acc = fold(acc, dataitem.DeepHashBlob(tagBytes))
	acc = fold(acc, a.empty)
	j.msg = acc[:]
	return nil
}

// assemble lays out the signed item (no target, no data).
func (a *assignmentSigner) assemble(j *signJob) (*dataitem.Item, error) {
	return dataitem.Assemble(a.s.SignatureType(), j.sig, a.owner, nil, j.fields.Anchor, j.fields.Tags, j.tagBytes, nil)
}
