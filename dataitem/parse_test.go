package dataitem

import (
	"bytes"
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"testing"
)

// testItem signs a small type-2 item with fixed fields.
func testItem(t testing.TB, f Fields) *Item {
	t.Helper()
	it, err := Sign(NewEd25519Signer(ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, 32))), f)
	if err != nil {
		t.Fatal(err)
	}
	return it
}

// resign replaces the signature of a hand-built type-2 item so that only the
// defect under test is wrong, the way the vectors were made.
func resign(raw []byte, m [48]byte, key ed25519.PrivateKey) []byte {
	copy(raw[2:66], ed25519.Sign(key, m[:]))
	return raw
}

func TestParseRules(t *testing.T) {
	key := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, 32))
	owner := key.Public().(ed25519.PublicKey)
	// build lays out a type-2 item from parts and signs it as arbundles
	// reads it (presence byte 1 = present, tag bytes as given).
	build := func(presence [2]byte, target, anchor []byte, count uint64, tagBytes, data []byte) []byte {
		b := binary.LittleEndian.AppendUint16(nil, 2)
		b = append(b, make([]byte, 64)...)
		b = append(b, owner...)
		b = append(b, presence[0])
		b = append(b, target...)
		b = append(b, presence[1])
		b = append(b, anchor...)
		b = binary.LittleEndian.AppendUint64(b, count)
		b = binary.LittleEndian.AppendUint64(b, uint64(len(tagBytes)))
		b = append(b, tagBytes...)
		b = append(b, data...)
		var tgt, anc []byte
		if presence[0] == 1 {
			tgt = target
		}
		if presence[1] == 1 {
			anc = anchor
		}
		return resign(b, signatureMessage(ED25519, owner, tgt, anc, tagBytes, data), key)
	}
	one := []byte{0x02, 0x02, 'a', 0x02, 'b', 0x00}
	cases := []struct {
		name string
		raw  []byte
		want error // nil: valid
	}{
		{"valid", build([2]byte{}, nil, nil, 1, one, []byte("data")), nil},
		{"lone zero tag section with count 0", build([2]byte{}, nil, nil, 0, []byte{0}, []byte("data")), nil},
		{"two blocks", build([2]byte{}, nil, nil, 2, []byte{0x02, 0x02, 'a', 0x02, 'b', 0x02, 0x02, 'c', 0x02, 'd', 0x00}, nil), nil},
		{"negative count with size", build([2]byte{}, nil, nil, 1, []byte{0x01, 0x08, 0x02, 'a', 0x02, 'b', 0x00}, nil), nil},
		{"non-minimal varints", build([2]byte{}, nil, nil, 1, []byte{0x82, 0x00, 0x82, 0x80, 0x00, 'a', 0x02, 'b', 0x80, 0x00}, nil), nil},
		{"negative count with wrong size", build([2]byte{}, nil, nil, 1, []byte{0x01, 0x0a, 0x02, 'a', 0x02, 'b', 0x00}, nil), ErrInvalidTagsEncoding},
		{"trailing byte", build([2]byte{}, nil, nil, 1, append(bytes.Clone(one), 0), nil), ErrInvalidTagsEncoding},
		{"missing terminator", build([2]byte{}, nil, nil, 1, one[:5], nil), ErrInvalidTagsEncoding},
		{"negative string length", build([2]byte{}, nil, nil, 1, []byte{0x02, 0x01, 'a', 0x02, 'b', 0x00}, nil), ErrInvalidTagsEncoding},
		{"varint overflow", build([2]byte{}, nil, nil, 1, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 0x00}, nil), ErrInvalidTagsEncoding},
		{"count zero with tags", build([2]byte{}, nil, nil, 0, one, nil), ErrTagCountMismatch},
		{"count without tags", build([2]byte{}, nil, nil, 1, nil, []byte("some data")), ErrTagCountMismatch},
		{"anchor presence 2", build([2]byte{0, 2}, nil, nil, 0, nil, []byte("data")), ErrInvalidPresenceByte},
		{"empty name", build([2]byte{}, nil, nil, 1, []byte{0x02, 0x00, 0x02, 'b', 0x00}, nil), ErrEmptyTag},
		{"target and anchor", build([2]byte{1, 1}, bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32), 0, nil, nil), nil},
		{"truncated anchor", build([2]byte{1, 1}, bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 10), 0, nil, nil)[:120], ErrTruncated},
		{"too short", make([]byte, 79), ErrTooShort},
		{"unknown type", append([]byte{8, 0}, make([]byte, 200)...), ErrUnknownSignatureType},
		{"type big endian", append([]byte{0, 2}, make([]byte, 200)...), ErrUnknownSignatureType},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseVerified(c.raw)
			if c.want == nil {
				if err != nil {
					t.Fatalf("rejected: %v", err)
				}
				return
			}
			if !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
		})
	}
}

func TestParseTruncatedHeader(t *testing.T) {
	it := testItem(t, Fields{Target: make([]byte, 32), Tags: []Tag{{Name: "a", Value: "b"}}})
	raw := it.Raw()
	dataStart := len(raw) - len(it.Data)
	for n := minItemSize; n < dataStart; n++ {
		if _, err := Parse(raw[:n]); !errors.Is(err, ErrTruncated) {
			t.Fatalf("cut at %d: got %v, want truncated", n, err)
		}
	}
	// The tag length field claims more than the buffer holds.
	bad := bytes.Clone(raw)
	off := dataStart - len(it.TagBytes()) - 8
	binary.LittleEndian.PutUint64(bad[off:], 1<<63)
	if _, err := Parse(bad); !errors.Is(err, ErrTruncated) {
		t.Fatalf("huge tag length: got %v", err)
	}
}

func TestParseAliasesAndCaps(t *testing.T) {
	it := testItem(t, Fields{Tags: []Tag{{Name: "a", Value: "b"}}, Data: []byte("data")})
	raw := bytes.Clone(it.Raw())
	p, err := Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	if &p.Raw()[0] != &raw[0] {
		t.Fatal("Parse copied the buffer")
	}
	// Appending to a field must not overwrite the bytes after it.
	_ = append(p.Signature, 0xff)
	_ = append(p.Owner, 0xff)
	if err := p.Verify(); err != nil {
		t.Fatalf("append to a field changed the item: %v", err)
	}
	if v, ok := p.Tag("a"); !ok || v != "b" {
		t.Fatalf("Tag(a) = %q, %v", v, ok)
	}
	if _, ok := p.Tag("A"); ok {
		t.Fatal("tag names must compare as bytes")
	}
}

func TestErrors(t *testing.T) {
	_, err := Parse(make([]byte, 10))
	if ErrorClass(err) != "too_short" || !errors.Is(err, ErrTooShort) || errors.Is(err, ErrTruncated) {
		t.Fatalf("bad error %v", err)
	}
	if ErrorClass(errors.New("x")) != "" || ErrorClass(nil) != "" {
		t.Fatal("ErrorClass of a foreign error")
	}
	wrapped := &Error{Class: ErrBundleItemInvalid.Class, Msg: "item 0", Err: err}
	if !errors.Is(wrapped, ErrBundleItemInvalid) || !errors.Is(wrapped, ErrTooShort) || ErrorClass(wrapped) != "bundle_item_invalid" {
		t.Fatalf("wrapped error %v", wrapped)
	}
	if wrapped.Error() == "" || ErrTooShort.Error() != "dataitem: too_short" {
		t.Fatalf("messages: %q %q", wrapped.Error(), ErrTooShort.Error())
	}
}

func TestIDs(t *testing.T) {
	id := bytes.Repeat([]byte{0xfb}, 32)
	s := EncodeID(id)
	got, err := DecodeID(s)
	if err != nil || !bytes.Equal(got[:], id) {
		t.Fatalf("DecodeID(%s) = %x, %v", s, got, err)
	}
	for _, bad := range []string{"", s[:42], s + "A", s[:42] + "=", s[:42] + "+", s[:42] + "B" /* non-zero trailing bits */} {
		if _, err := DecodeID(bad); err == nil {
			t.Errorf("DecodeID(%q) accepted", bad)
		}
	}
}

func TestSignatureTypeNames(t *testing.T) {
	for typ, name := range map[SignatureType]string{Arweave: "arweave", ED25519: "ed25519", Ethereum: "ethereum", Solana: "solana", TypedEthereum: "typedEthereum", 9: "unknown(9)"} {
		if typ.String() != name {
			t.Errorf("%d: %s, want %s", typ, typ, name)
		}
	}
	if SignatureType(9).Known() || SignatureType(9).SignatureLen() != 0 || !Solana.Known() || Arweave.OwnerLen() != 512 {
		t.Error("Known/lengths")
	}
}

func TestEIP55(t *testing.T) {
	// Examples from EIP-55.
	for _, want := range []string{
		"0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
		"0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
		"0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB",
		"0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
	} {
		addr, ok := parseEthAddress([]byte(want))
		if !ok || eip55(addr) != want {
			t.Errorf("eip55 of %s = %s (%v)", want, eip55(addr), ok)
		}
	}
	if _, ok := parseEthAddress([]byte("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD")); ok {
		t.Error("bad checksum accepted")
	}
}
