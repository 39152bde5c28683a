package dataitem

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
)

// minItemSize is arbundles' MIN_BINARY_SIZE: shorter buffers are too_short
// before anything else is looked at.
const minItemSize = 80

// Item is a data item, built by Parse or Sign and read-only afterwards.
//
// An item from Parse aliases the buffer it was parsed from: its byte slices
// (and Raw, TagBytes) point into that buffer, so the caller must not modify
// the buffer while the item is in use. Tag names and values are copies.
type Item struct {
	SignatureType SignatureType
	Signature     []byte
	Owner         []byte
	Target        []byte // nil when absent, else 32 bytes
	Anchor        []byte // nil when absent, else 32 bytes
	Tags          []Tag
	Data          []byte

	raw      []byte
	tagBytes []byte
}

// Parse reads an item and applies the structural rules 1-9 (sizes, type,
// truncation, presence bytes, tag section encoding, tag count and limits). It
// does not check the signature: see Verify and ParseVerified.
func Parse(raw []byte) (*Item, error) {
	if len(raw) < minItemSize {
		return nil, newError(ErrTooShort, "%d bytes, an item has at least %d", len(raw), minItemSize)
	}
	t := SignatureType(binary.LittleEndian.Uint16(raw))
	cfg, ok := t.config()
	if !ok {
		return nil, newError(ErrUnknownSignatureType, "signature type %d", uint16(t))
	}
	it := &Item{SignatureType: t, raw: raw}
	off := 2
	// take returns the next n bytes, capped so that appending to them can
	// never write into the rest of the buffer.
	take := func(n int, what string) ([]byte, error) {
		if n > len(raw)-off {
			return nil, newError(ErrTruncated, "%d-byte item ends inside the %s (needs %d bytes at offset %d)", len(raw), what, n, off)
		}
		b := raw[off : off+n : off+n]
		off += n
		return b, nil
	}
	var err error
	if it.Signature, err = take(cfg.sigLen, "signature"); err != nil {
		return nil, err
	}
	if it.Owner, err = take(cfg.ownerLen, "owner"); err != nil {
		return nil, err
	}
	// Layout follows arbundles (only 1 means present) so that truncation is
	// judged first, as the rules order it; a presence byte other than 0 or 1
	// is reported after that.
	var badPresence error
	optional := func(what string) ([]byte, error) {
		p, err := take(1, what+" presence byte")
		if err != nil {
			return nil, err
		}
		if p[0] > 1 && badPresence == nil {
			badPresence = newError(ErrInvalidPresenceByte, "%s presence byte is %d at offset %d", what, p[0], off-1)
		}
		if p[0] != 1 {
			return nil, nil
		}
		return take(32, what)
	}
	if it.Target, err = optional("target"); err != nil {
		return nil, err
	}
	if it.Anchor, err = optional("anchor"); err != nil {
		return nil, err
	}
	header, err := take(16, "tag count and tag length")
	if err != nil {
		return nil, err
	}
	tagCount := binary.LittleEndian.Uint64(header)
	tagLen := binary.LittleEndian.Uint64(header[8:])
	if tagLen > uint64(len(raw)-off) {
		return nil, newError(ErrTruncated, "%d-byte item ends inside the tag section (%d bytes declared at offset %d)", len(raw), tagLen, off)
	}
	if badPresence != nil {
		return nil, badPresence
	}
	if tagLen > MaxTagBytes {
		return nil, newError(ErrTagBytesTooLarge, "tag section is %d bytes, the limit is %d", tagLen, MaxTagBytes)
	}
	it.tagBytes, _ = take(int(tagLen), "tags")
	it.Data = raw[off:len(raw):len(raw)]
	if it.Tags, err = DecodeTags(it.tagBytes); err != nil {
		return nil, err
	}
	if uint64(len(it.Tags)) != tagCount {
		return nil, newError(ErrTagCountMismatch, "header says %d tags, the tag section holds %d", tagCount, len(it.Tags))
	}
	if err := checkTags(it.Tags); err != nil {
		return nil, err
	}
	return it, nil
}

// ParseVerified parses raw and verifies its signature.
func ParseVerified(raw []byte) (*Item, error) {
	it, err := Parse(raw)
	if err != nil {
		return nil, err
	}
	if err := it.Verify(); err != nil {
		return nil, err
	}
	return it, nil
}

// ID is the item id: base64url (no padding) of SHA-256 of the signature.
func (it *Item) ID() string {
	id := it.RawID()
	return EncodeID(id[:])
}

// RawID is SHA-256 of the signature.
func (it *Item) RawID() [32]byte { return sha256.Sum256(it.Signature) }

// Address is the Arweave-style owner address: base64url of SHA-256 of the owner.
func (it *Item) Address() string {
	a := sha256.Sum256(it.Owner)
	return EncodeID(a[:])
}

// EthAddress is the EIP-55 "0x…" address of a type-3 owner (what ao uses as
// the sender), the owner text itself for type 7, and "" otherwise.
func (it *Item) EthAddress() string {
	switch it.SignatureType {
	case Ethereum:
		if len(it.Owner) != 65 || it.Owner[0] != 4 {
			return ""
		}
		return eip55(ethAddressBytes(it.Owner[1:]))
	case TypedEthereum:
		return string(it.Owner)
	}
	return ""
}

// Raw is the exact serialised item.
func (it *Item) Raw() []byte { return it.raw }

// TagBytes is the raw Avro tag section (empty when there are no tags).
func (it *Item) TagBytes() []byte { return it.tagBytes }

// DeepHash is the 48-byte message the signature covers.
func (it *Item) DeepHash() [48]byte {
	return signatureMessage(it.SignatureType, it.Owner, it.Target, it.Anchor, it.tagBytes, it.Data)
}

// Tag returns the value of the first tag named exactly name (bytes compared).
func (it *Item) Tag(name string) (string, bool) {
	for _, t := range it.Tags {
		if t.Name == name {
			return t.Value, true
		}
	}
	return "", false
}

// EncodeID encodes bytes as base64url without padding (ids, owners, addresses).
func EncodeID(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// DecodeID decodes a 43-character base64url id to its 32 bytes. It is strict:
// no padding, no other alphabet, no non-zero trailing bits.
func DecodeID(s string) ([32]byte, error) {
	var id [32]byte
	if len(s) != 43 {
		return id, fmt.Errorf("dataitem: id %.64q is %d characters, want 43", s, len(s))
	}
	n, err := base64.RawURLEncoding.Strict().Decode(id[:], []byte(s))
	if err != nil || n != 32 {
		return [32]byte{}, fmt.Errorf("dataitem: id %.64q is not base64url of 32 bytes", s)
	}
	return id, nil
}

// serialise lays out an item. tagBytes must already be the encoded section.
func serialise(t SignatureType, sig, owner, target, anchor []byte, tagCount int, tagBytes, data []byte) []byte {
	size := 2 + len(sig) + len(owner) + 2 + len(target) + len(anchor) + 16 + len(tagBytes) + len(data)
	b := make([]byte, 0, size)
	b = binary.LittleEndian.AppendUint16(b, uint16(t))
	b = append(b, sig...)
	b = append(b, owner...)
	for _, f := range [][]byte{target, anchor} {
		if f == nil {
			b = append(b, 0)
		} else {
			b = append(b, 1)
			b = append(b, f...)
		}
	}
	b = binary.LittleEndian.AppendUint64(b, uint64(tagCount))
	b = binary.LittleEndian.AppendUint64(b, uint64(len(tagBytes)))
	b = append(b, tagBytes...)
	return append(b, data...)
}
