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

// assignmentSigner signs assignments for one SU key. It produces exactly the bytes
// dataitem.Sign would (ed25519 signatures are deterministic, so tests compare them), but
// computes the deep-hash parts every assignment shares once: the list accumulator after
// "dataitem", "1", the signature type and the owner, and the hash of the empty target and
// data blobs. That leaves 10 of the 33 SHA-384 blocks of a full deep hash per assignment.
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

// AssignmentSigner builds and signs assignments for one SU key, with the precomputed deep
// hash of assignmentSigner: the step a replicated sequencer's leader shares with Local.
type AssignmentSigner struct{ s *assignmentSigner }

// NewAssignmentSigner returns an AssignmentSigner for s.
func NewAssignmentSigner(s dataitem.Signer) *AssignmentSigner {
	return &AssignmentSigner{s: newAssignmentSigner(s)}
}

// Assign is the package-level Assign with this signer's faster signing step.
func (a *AssignmentSigner) Assign(prev *Head, in Input) (*dataitem.Item, Head, error) {
	return assign(prev, in, a.s.sign)
}

// sign builds and signs an assignment. Signers from outside dataitem go through
// dataitem.Sign, which checks what they return.
func (a *assignmentSigner) sign(f assignmentFields) (*dataitem.Item, error) {
	if !a.fast {
		return dataitem.Sign(a.s, dataitem.Fields{Anchor: f.Anchor, Tags: f.Tags})
	}
	if len(f.Anchor) != 32 {
		return nil, fmt.Errorf("%w: anchor is %d bytes, want 32", dataitem.ErrInvalidFields, len(f.Anchor))
	}
	tagBytes, err := dataitem.EncodeTags(f.Tags)
	if err != nil {
		return nil, err
	}
	// The signature message: ["dataitem", "1", type, owner, target, anchor, tags, data].
	acc := fold(a.prefix, a.empty)
	acc = fold(acc, dataitem.DeepHashBlob(f.Anchor))
	acc = fold(acc, dataitem.DeepHashBlob(tagBytes))
	acc = fold(acc, a.empty)
	sig, err := a.s.Sign(acc[:])
	if err != nil {
		return nil, fmt.Errorf("dataitem: signing: %w", err)
	}
	return dataitem.Assemble(a.s.SignatureType(), sig, a.owner, nil, f.Anchor, f.Tags, tagBytes, nil)
}
