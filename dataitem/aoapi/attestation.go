package aoapi

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"

	"github.com/aonode/aonode/dataitem"
)

// CU result attestations (cu/ATTESTATION.md): the signed item a CU makes of every evaluation,
// and the agreement answer that compares the attestations of several CUs.

// Attestation tags and values.
const (
	TypeAttestation      = "Attestation"
	TagAttestationFormat = "Attestation-Format"
	TagResultSHA256      = "Result-SHA256"
	TagMemorySHA256      = "Memory-SHA256" // format 1: SHA-256 of the whole memory
	TagMemoryRoot        = "Memory-Root"   // format 2: Merkle root over 4 KiB pages (cu/memhash)
)

// MaxAttestationBytes bounds an attestation item read from the network: the tags of a
// type-1 (RSA) signed attestation with long cron ids stay well under it.
const MaxAttestationBytes = 8 << 10

// ErrNotAttestation reports an item that is not a well-formed attestation.
var ErrNotAttestation = errors.New("aoapi: not an attestation")

// Attestation is what an attestation item says.
type Attestation struct {
	Format      int    // 1 (Memory-SHA256) or 2 (Memory-Root)
	Process     string // process id
	Slot        uint64 // nonce of the scheduled message (of the one a cron message follows)
	Message     string // message id; "" for a cron message
	Cron        string // cron id; "" for a scheduled message
	CronSeq     uint32 // position of a cron message after Slot
	Timestamp   int64  // of the message (unix ms)
	BlockHeight uint64
	HashChain   string
	// ResultSHA256 is the SHA-256 of the result body as served; Memory the memory hash of
	// the attestation's format. Both 32 bytes.
	ResultSHA256 []byte
	Memory       []byte
	// Signer is the signer's address; set by ParseAttestation.
	Signer string
}

// Key identifies the evaluation an attestation is about: (process, slot, cron seq).
type AttestationKey struct {
	Process string
	Slot    uint64
	CronSeq uint32
}

// Key is the evaluation a attests.
func (a Attestation) Key() AttestationKey {
	return AttestationKey{Process: a.Process, Slot: a.Slot, CronSeq: a.CronSeq}
}

// SameEvaluation reports whether a and b attest the same message (or cron) with the same
// result and memory hashes.
func (a Attestation) SameEvaluation(b Attestation) bool {
	return a.Format == b.Format && a.Message == b.Message && a.Cron == b.Cron &&
		string(a.ResultSHA256) == string(b.ResultSHA256) && string(a.Memory) == string(b.Memory)
}

// Agrees reports whether a and b, attestations of one evaluation, agree: the same message
// and result, and the same memory when both hash it the same way (formats 1 and 2 hash
// memory differently, so between them only the results compare).
func (a Attestation) Agrees(b Attestation) bool {
	if a.Format == b.Format {
		return a.SameEvaluation(b)
	}
	return a.Message == b.Message && a.Cron == b.Cron && string(a.ResultSHA256) == string(b.ResultSHA256)
}

// AttestationFields are the fields of a's item, tags in ATTESTATION.md's order. The caller
// signs them.
func AttestationFields(a Attestation) (dataitem.Fields, error) {
	if len(a.ResultSHA256) != 32 || len(a.Memory) != 32 {
		return dataitem.Fields{}, fmt.Errorf("%w: hashes of %d and %d bytes", ErrNotAttestation, len(a.ResultSHA256), len(a.Memory))
	}
	tags := []dataitem.Tag{
		{Name: "Data-Protocol", Value: "ao"},
		{Name: "Variant", Value: "ao.TN.1"},
		{Name: "Type", Value: TypeAttestation},
	}
	memTag := TagMemorySHA256
	switch a.Format {
	case 1:
	case 2:
		tags = append(tags, dataitem.Tag{Name: TagAttestationFormat, Value: "2"})
		memTag = TagMemoryRoot
	default:
		return dataitem.Fields{}, fmt.Errorf("%w: format %d", ErrNotAttestation, a.Format)
	}
	tags = append(tags,
		dataitem.Tag{Name: "Process", Value: a.Process},
		dataitem.Tag{Name: "Slot", Value: strconv.FormatUint(a.Slot, 10)})
	if a.Message != "" {
		tags = append(tags, dataitem.Tag{Name: "Message", Value: a.Message})
	}
	if a.Cron != "" {
		tags = append(tags,
			dataitem.Tag{Name: "Cron", Value: a.Cron},
			dataitem.Tag{Name: "Cron-Seq", Value: strconv.FormatUint(uint64(a.CronSeq), 10)})
	}
	tags = append(tags,
		dataitem.Tag{Name: "Timestamp", Value: strconv.FormatInt(a.Timestamp, 10)},
		dataitem.Tag{Name: "Block-Height", Value: strconv.FormatUint(a.BlockHeight, 10)})
	if a.HashChain != "" {
		tags = append(tags, dataitem.Tag{Name: "Hash-Chain", Value: a.HashChain})
	}
	tags = append(tags,
		dataitem.Tag{Name: TagResultSHA256, Value: hex.EncodeToString(a.ResultSHA256)},
		dataitem.Tag{Name: memTag, Value: hex.EncodeToString(a.Memory)})
	f := dataitem.Fields{Tags: tags}
	if id, err := dataitem.DecodeID(a.Process); err == nil {
		f.Target = id[:]
	}
	return f, nil
}

// ParseAttestation parses raw (at most MaxAttestationBytes), verifies its signature and reads
// it as an attestation: Data-Protocol ao, Type Attestation, a known format, each tag at most
// once, Process a 43-character id equal to the target, canonical decimals, lowercase hex
// hashes of 32 bytes, Message or Cron but not both.
func ParseAttestation(raw []byte) (Attestation, error) {
	if len(raw) > MaxAttestationBytes {
		return Attestation{}, fmt.Errorf("%w: %d bytes, at most %d", ErrNotAttestation, len(raw), MaxAttestationBytes)
	}
	it, err := dataitem.ParseVerified(raw)
	if err != nil {
		return Attestation{}, fmt.Errorf("%w: %v", ErrNotAttestation, err)
	}
	a, err := AttestationOf(it)
	if err != nil {
		return Attestation{}, err
	}
	return a, nil
}

// AttestationOf reads a verified item as an attestation (ParseAttestation's shape rules).
func AttestationOf(it *dataitem.Item) (Attestation, error) {
	bad := func(format string, args ...any) (Attestation, error) {
		return Attestation{}, fmt.Errorf("%w: %s", ErrNotAttestation, fmt.Sprintf(format, args...))
	}
	seen := make(map[string]string, len(it.Tags))
	for _, t := range it.Tags {
		if _, dup := seen[t.Name]; dup {
			return bad("tag %s repeated", clip(t.Name))
		}
		seen[t.Name] = t.Value
	}
	if seen["Data-Protocol"] != "ao" || seen["Type"] != TypeAttestation {
		return bad("Data-Protocol or Type")
	}
	a := Attestation{Format: 1, Signer: it.Address()}
	memTag := TagMemorySHA256
	if f, ok := seen[TagAttestationFormat]; ok {
		if f != "2" {
			return bad("format %q", clip(f))
		}
		a.Format, memTag = 2, TagMemoryRoot
		if _, both := seen[TagMemorySHA256]; both {
			return bad("format 2 with a Memory-SHA256")
		}
	}
	a.Process = seen["Process"]
	id, err := dataitem.DecodeID(a.Process)
	if err != nil || dataitem.EncodeID(id[:]) != a.Process {
		return bad("Process %q", clip(a.Process))
	}
	if string(it.Target) != string(id[:]) {
		return bad("target is not the process")
	}
	var ok bool
	if a.Slot, ok = canonicalUint(seen["Slot"], 64); !ok {
		return bad("Slot %q", clip(seen["Slot"]))
	}
	msg, hasMsg := seen["Message"]
	cron, hasCron := seen["Cron"]
	switch {
	case hasMsg == hasCron:
		return bad("exactly one of Message and Cron")
	case hasMsg:
		mid, err := dataitem.DecodeID(msg)
		if err != nil || dataitem.EncodeID(mid[:]) != msg {
			return bad("Message %q", clip(msg))
		}
		if _, seq := seen["Cron-Seq"]; seq {
			return bad("Cron-Seq without Cron")
		}
		a.Message = msg
	default:
		if cron == "" || len(cron) > 128 {
			return bad("Cron %q", clip(cron))
		}
		seq, ok := canonicalUint(seen["Cron-Seq"], 32)
		if !ok || seq == 0 {
			return bad("Cron-Seq %q", clip(seen["Cron-Seq"]))
		}
		a.Cron, a.CronSeq = cron, uint32(seq)
	}
	ts, ok := canonicalUint(seen["Timestamp"], 63)
	if !ok {
		return bad("Timestamp %q", clip(seen["Timestamp"]))
	}
	a.Timestamp = int64(ts)
	if a.BlockHeight, ok = canonicalUint(seen["Block-Height"], 64); !ok {
		return bad("Block-Height %q", clip(seen["Block-Height"]))
	}
	if hc, ok := seen["Hash-Chain"]; ok {
		if hc == "" || len(hc) > 64 {
			return bad("Hash-Chain %q", clip(hc))
		}
		a.HashChain = hc
	}
	if a.ResultSHA256, ok = hash32(seen[TagResultSHA256]); !ok {
		return bad("%s %q", TagResultSHA256, clip(seen[TagResultSHA256]))
	}
	if a.Memory, ok = hash32(seen[memTag]); !ok {
		return bad("%s %q", memTag, clip(seen[memTag]))
	}
	return a, nil
}

// canonicalUint reads a decimal without sign or leading zero that fits in bits.
func canonicalUint(s string, bits int) (uint64, bool) {
	if s == "" || len(s) > 20 || (len(s) > 1 && s[0] == '0') {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseUint(s, 10, bits)
	return n, err == nil
}

// hash32 reads 64 lowercase hex digits.
func hash32(s string) ([]byte, bool) {
	if len(s) != 64 {
		return nil, false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return nil, false
		}
	}
	b, err := hex.DecodeString(s)
	return b, err == nil
}

// AgreementAttestation is one CU's attestation in an agreement answer. ResultSHA256 and
// MemorySHA256 are lowercase hex; MemorySHA256 is the attestation's memory hash whatever its
// format (the Memory-Root of format 2). Item is the raw attestation, base64url without padding.
type AgreementAttestation struct {
	CU           string `json:"cu"`
	ResultSHA256 string `json:"result_sha256"`
	MemorySHA256 string `json:"memory_sha256"`
	Item         string `json:"item"`
}

// Agreement is the answer of GET /cu/agreement/{process}: every distinct CU's attestation of
// one evaluation that the CU knows, its own included, and whether they all agree.
type Agreement struct {
	Process      string                 `json:"process"`
	Slot         uint64                 `json:"slot"`
	Message      string                 `json:"message"`
	Attestations []AgreementAttestation `json:"attestations"`
	Agree        bool                   `json:"agree"`
}
