package su

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/aonode/aonode/dataitem"
)

// Assignment tag names and fixed values, in the order the reference SU writes them.
const (
	TagProcess      = "Process"
	TagEpoch        = "Epoch"
	TagNonce        = "Nonce"
	TagHashChain    = "Hash-Chain"
	TagBlockHeight  = "Block-Height"
	TagTimestamp    = "Timestamp"
	TagDataProtocol = "Data-Protocol"
	TagType         = "Type"
	TagVariant      = "Variant"
	TagMessage      = "Message"
	TagExclude      = "Exclude"

	epochValue        = "0"
	dataProtocolValue = "ao"
	typeAssignment    = "Assignment"
	variantValue      = "ao.TN.1"
)

// Head is the state of a process's schedule after its latest slot: everything the next
// assignment depends on.
type Head struct {
	Process      string
	Nonce        uint64
	Timestamp    int64
	HashChain    string
	AssignmentID string
}

// Input is what the next assignment of a process is made of, apart from the head.
type Input struct {
	Process string
	// Message is the id of the scheduled item; empty only for the nonce-0 assignment of the
	// process itself (AOP-6), which carries no Message tag.
	Message     string
	Exclude     []string
	NowMs       int64
	BlockHeight uint64
	// Anchor is the assignment's 32-byte anchor (the reference uses random bytes).
	Anchor []byte
}

// ErrChain reports an input that does not fit the head: a message before the process has its
// nonce-0 slot, or a second nonce 0.
var ErrChain = errors.New("su: input does not fit the schedule head")

// SeedHashChain is the chain value of a process's nonce-0 assignment:
// b64url(sha256(process id bytes)).
func SeedHashChain(processID string) (string, error) {
	pid, err := dataitem.DecodeID(processID)
	if err != nil {
		return "", fmt.Errorf("su: process id %q: %w", processID, err)
	}
	sum := sha256.Sum256(pid[:])
	return dataitem.EncodeID(sum[:]), nil
}

// NextHashChain is the chain value that follows a slot:
// b64url(sha256(prev assignment id bytes || prev chain bytes)).
func NextHashChain(prevAssignmentID, prevHashChain string) (string, error) {
	aid, err := dataitem.DecodeID(prevAssignmentID)
	if err != nil {
		return "", fmt.Errorf("su: previous assignment id %q: %w", prevAssignmentID, err)
	}
	hc, err := dataitem.DecodeID(prevHashChain)
	if err != nil {
		return "", fmt.Errorf("su: previous hash chain %q: %w", prevHashChain, err)
	}
	h := sha256.New()
	h.Write(aid[:])
	h.Write(hc[:])
	return dataitem.EncodeID(h.Sum(nil)), nil
}

// FormatBlockHeight renders a height the way the reference does: 12 digits, zero-padded.
func FormatBlockHeight(h uint64) string {
	var buf [20]byte
	d := strconv.AppendUint(buf[:0], h, 10)
	if len(d) >= 12 {
		return string(d)
	}
	return strings.Repeat("0", 12-len(d)) + string(d)
}

// AssignmentTags returns the tags of an assignment in the reference order.
func AssignmentTags(process string, nonce uint64, hashChain string, height uint64, ts int64, message string, exclude []string) []dataitem.Tag {
	tags := make([]dataitem.Tag, 0, 10+len(exclude))
	tags = append(tags,
		dataitem.Tag{Name: TagProcess, Value: process},
		dataitem.Tag{Name: TagEpoch, Value: epochValue},
		dataitem.Tag{Name: TagNonce, Value: strconv.FormatUint(nonce, 10)},
		dataitem.Tag{Name: TagHashChain, Value: hashChain},
		dataitem.Tag{Name: TagBlockHeight, Value: FormatBlockHeight(height)},
		dataitem.Tag{Name: TagTimestamp, Value: strconv.FormatInt(ts, 10)},
		dataitem.Tag{Name: TagDataProtocol, Value: dataProtocolValue},
		dataitem.Tag{Name: TagType, Value: typeAssignment},
		dataitem.Tag{Name: TagVariant, Value: variantValue},
	)
	if message != "" {
		tags = append(tags, dataitem.Tag{Name: TagMessage, Value: message})
	}
	for _, e := range exclude {
		tags = append(tags, dataitem.Tag{Name: TagExclude, Value: e})
	}
	return tags
}

// Assign is the pure scheduling step: given the head of a process (nil when the process has
// no slot yet) and the input, it builds and signs the next assignment and returns it with the
// new head. Nonces are contiguous, the timestamp never goes below the head's, and the hash
// chain follows ao-protocol §1.5.
func Assign(prev *Head, in Input, signer dataitem.Signer) (*dataitem.Item, Head, error) {
	return assign(prev, in, func(f assignmentFields) (*dataitem.Item, error) {
		return dataitem.Sign(signer, dataitem.Fields{Anchor: f.Anchor, Tags: f.Tags})
	})
}

// assign is Assign with the signing step supplied (the sequencer's is assignmentSigner).
func assign(prev *Head, in Input, sign func(assignmentFields) (*dataitem.Item, error)) (*dataitem.Item, Head, error) {
	var (
		nonce uint64
		chain string
		ts    = in.NowMs
		err   error
	)
	switch {
	case prev == nil:
		if in.Message != "" {
			return nil, Head{}, fmt.Errorf("%w: process %s has no nonce-0 slot", ErrChain, in.Process)
		}
		chain, err = SeedHashChain(in.Process)
	default:
		if in.Message == "" {
			return nil, Head{}, fmt.Errorf("%w: process %s already has its nonce-0 slot", ErrChain, in.Process)
		}
		if prev.Process != in.Process {
			return nil, Head{}, fmt.Errorf("%w: head of %s used for %s", ErrChain, prev.Process, in.Process)
		}
		nonce = prev.Nonce + 1
		chain, err = NextHashChain(prev.AssignmentID, prev.HashChain)
		ts = max(ts, prev.Timestamp)
	}
	if err != nil {
		return nil, Head{}, err
	}
	if in.Message != "" {
		if _, err := dataitem.DecodeID(in.Message); err != nil {
			return nil, Head{}, fmt.Errorf("su: message id %q: %w", in.Message, err)
		}
	}
	a, err := sign(assignmentFields{
		Anchor: in.Anchor,
		Tags:   AssignmentTags(in.Process, nonce, chain, in.BlockHeight, ts, in.Message, in.Exclude),
	})
	if err != nil {
		return nil, Head{}, fmt.Errorf("su: sign assignment: %w", err)
	}
	return a, Head{Process: in.Process, Nonce: nonce, Timestamp: ts, HashChain: chain, AssignmentID: a.ID()}, nil
}

// AddressOfOwner is the Arweave-style address of a public key: b64url(sha256(owner bytes)).
func AddressOfOwner(owner []byte) string {
	sum := sha256.Sum256(owner)
	return dataitem.EncodeID(sum[:])
}
