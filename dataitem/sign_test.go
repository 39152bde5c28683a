package dataitem

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rsa"
	"errors"
	mrand "math/rand/v2"
	"strings"
	"testing"
)

func sampleFields() Fields {
	target := bytes.Repeat([]byte{0xab}, 32)
	return Fields{
		Target: target,
		Anchor: []byte("abcdefghijklmnopqrstuvwxyz012345"),
		Tags: []Tag{
			{Name: "Action", Value: "Eval"},
			{Name: "Data-Protocol", Value: "ao"},
			{Name: "\xff\x00bin", Value: "名前"},
		},
		Data: []byte("return 1 + 1"),
	}
}

func TestSignRoundTripAndTamper(t *testing.T) {
	signers := loadVectorSigners(t)
	for id, s := range signers {
		t.Run(s.SignatureType().String(), func(t *testing.T) {
			f := sampleFields()
			it, err := Sign(s, f)
			if err != nil {
				t.Fatalf("Sign with %s: %v", id, err)
			}
			raw := bytes.Clone(it.Raw())
			got, err := ParseVerified(raw)
			if err != nil {
				t.Fatalf("signed item does not verify: %v", err)
			}
			if got.ID() != it.ID() || !bytes.Equal(got.Target, f.Target) || !bytes.Equal(got.Anchor, f.Anchor) ||
				!bytes.Equal(got.Data, f.Data) || len(got.Tags) != len(f.Tags) || got.SignatureType != s.SignatureType() {
				t.Fatal("parsed item does not match the fields")
			}
			for i := range f.Tags {
				if got.Tags[i] != f.Tags[i] {
					t.Fatalf("tag %d = %+v, want %+v", i, got.Tags[i], f.Tags[i])
				}
			}
			if !bytes.Equal(got.Owner, s.Owner()) {
				t.Fatal("owner differs from the signer's")
			}
			// Sign must not keep references to the caller's slices.
			f.Target[0] ^= 1
			f.Data[0] ^= 1
			if err := it.Verify(); err != nil {
				t.Fatalf("item changed with the caller's fields: %v", err)
			}
			// Every single-byte change makes the item invalid.
			for i := range raw {
				for _, mask := range []byte{0x01, 0x80} {
					bad := bytes.Clone(raw)
					bad[i] ^= mask
					if _, err := ParseVerified(bad); err == nil {
						t.Fatalf("item with byte %d ^ %#x still verifies", i, mask)
					} else if ErrorClass(err) == "" {
						t.Fatalf("byte %d: error %v has no class", i, err)
					}
				}
			}
			// Cutting or extending the data breaks the signature.
			for _, bad := range [][]byte{raw[:len(raw)-1], append(bytes.Clone(raw), 0)} {
				if _, err := ParseVerified(bad); !errors.Is(err, ErrInvalidSignature) {
					t.Fatalf("changed data: got %v, want invalid_signature", err)
				}
			}
		})
	}
}

func TestSignMinimal(t *testing.T) {
	s := NewEd25519Signer(ed25519.NewKeyFromSeed(make([]byte, 32)))
	it, err := Sign(s, Fields{})
	if err != nil {
		t.Fatal(err)
	}
	if len(it.Raw()) != 2+64+32+2+16 || it.Target != nil || it.Anchor != nil || len(it.Tags) != 0 || len(it.TagBytes()) != 0 {
		t.Fatalf("minimal item is %d bytes: %x", len(it.Raw()), it.Raw())
	}
	if err := it.Verify(); err != nil {
		t.Fatal(err)
	}
}

func TestSignRejectsBadFields(t *testing.T) {
	s := NewEd25519Signer(ed25519.NewKeyFromSeed(make([]byte, 32)))
	long := func(n int) string { return strings.Repeat("x", n) }
	many := make([]Tag, MaxTags+1)
	for i := range many {
		many[i] = Tag{Name: "n", Value: "v"}
	}
	cases := []struct {
		name string
		f    Fields
		want error
	}{
		{"short target", Fields{Target: make([]byte, 31)}, ErrInvalidFields},
		{"long anchor", Fields{Anchor: make([]byte, 33)}, ErrInvalidFields},
		{"empty name", Fields{Tags: []Tag{{Name: "", Value: "v"}}}, ErrEmptyTag},
		{"empty value", Fields{Tags: []Tag{{Name: "n", Value: ""}}}, ErrEmptyTag},
		{"long name", Fields{Tags: []Tag{{Name: long(MaxTagNameBytes + 1), Value: "v"}}}, ErrTagNameTooLong},
		{"long value", Fields{Tags: []Tag{{Name: "n", Value: long(MaxTagValueBytes + 1)}}}, ErrTagValueTooLong},
		{"too many", Fields{Tags: many}, ErrTagCountExceeded},
		{"section too large", Fields{Tags: []Tag{{Name: long(MaxTagNameBytes), Value: long(MaxTagValueBytes)}}}, ErrTagBytesTooLarge},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := Sign(s, c.f); !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
		})
	}
	// The limits themselves are allowed.
	exact := []Tag{{Name: long(MaxTagNameBytes), Value: long(MaxTagBytes - MaxTagNameBytes - 6)}}
	it, err := Sign(s, Fields{Tags: exact})
	if err != nil {
		t.Fatalf("tag section of exactly %d bytes: %v", MaxTagBytes, err)
	}
	if len(it.TagBytes()) != MaxTagBytes {
		t.Fatalf("tag section is %d bytes", len(it.TagBytes()))
	}
	max := make([]Tag, MaxTags)
	for i := range max {
		max[i] = Tag{Name: "n", Value: "v"}
	}
	if _, err := Sign(s, Fields{Tags: max}); err != nil {
		t.Fatalf("%d tags: %v", MaxTags, err)
	}
}

type badSigner struct {
	t     SignatureType
	owner []byte
	sig   []byte
}

func (b badSigner) SignatureType() SignatureType  { return b.t }
func (b badSigner) Owner() []byte                 { return b.owner }
func (b badSigner) Sign(m []byte) ([]byte, error) { return b.sig, nil }

func TestSignRejectsBadSigners(t *testing.T) {
	good := NewEd25519Signer(ed25519.NewKeyFromSeed(make([]byte, 32)))
	cases := []struct {
		name string
		s    Signer
	}{
		{"unknown type", badSigner{t: 9, owner: make([]byte, 32), sig: make([]byte, 64)}},
		{"short owner", badSigner{t: ED25519, owner: make([]byte, 31), sig: make([]byte, 64)}},
		{"short signature", badSigner{t: ED25519, owner: good.Owner(), sig: make([]byte, 63)}},
		{"wrong signature", badSigner{t: ED25519, owner: good.Owner(), sig: make([]byte, 64)}},
		{"nil ed25519 key", &Ed25519Signer{}},
		{"nil solana key", &SolanaSigner{}},
		{"nil rsa key", &ArweaveSigner{}},
		{"nil secp256k1 key", &EthereumSigner{}},
		{"rsa exponent 3", NewArweaveSigner(wrongExponentKey(t))},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := Sign(c.s, Fields{Data: []byte("x")}); err == nil {
				t.Fatal("Sign succeeded")
			}
		})
	}
}

// wrongExponentKey is the vector's RSA key claiming exponent 3: items store
// only the modulus, so an Arweave key must use 65537.
func wrongExponentKey(t *testing.T) *rsa.PrivateKey {
	s := loadVectorSigners(t)["pub-rsa"].(*ArweaveSigner)
	k := *s.Key
	k.E = 3
	return &k
}

// The signing code (curve25519-voi) makes crypto/ed25519's signatures exactly, for many
// keys and message lengths, including the 48-byte deep hashes and 96-byte hex texts signed.
func TestSignEd25519MatchesStdlib(t *testing.T) {
	rng := mrand.New(mrand.NewPCG(3, 4))
	for i := range 300 {
		seed := make([]byte, ed25519.SeedSize)
		for j := range seed {
			seed[j] = byte(rng.Uint32())
		}
		k := ed25519.NewKeyFromSeed(seed)
		msg := make([]byte, []int{0, 1, 48, 96, 1000}[i%5])
		for j := range msg {
			msg[j] = byte(rng.Uint32())
		}
		if got, want := signEd25519(k, msg), ed25519.Sign(k, msg); !bytes.Equal(got, want) {
			t.Fatalf("key %d, %d-byte message: %x, want %x", i, len(msg), got, want)
		}
	}
}

// Sign and Assemble build items without parsing them back: every field must be what Parse
// reads from the same bytes.
func TestAssembleMatchesParse(t *testing.T) {
	signer := NewEd25519Signer(ed25519.NewKeyFromSeed(bytes.Repeat([]byte{5}, 32)))
	tags := []Tag{{Name: "A", Value: "1"}, {Name: "\xffbin", Value: "v"}, {Name: "Type", Value: "Message"}}
	for _, f := range []Fields{
		{},
		{Tags: tags, Data: []byte("data")},
		{Target: bytes.Repeat([]byte{1}, 32), Anchor: bytes.Repeat([]byte{2}, 32), Tags: tags},
		{Anchor: bytes.Repeat([]byte{2}, 32), Data: bytes.Repeat([]byte{3}, 5000)},
	} {
		it, err := Sign(signer, f)
		if err != nil {
			t.Fatal(err)
		}
		parsed, err := ParseVerified(it.Raw())
		if err != nil {
			t.Fatal(err)
		}
		same := it.SignatureType == parsed.SignatureType && bytes.Equal(it.Signature, parsed.Signature) &&
			bytes.Equal(it.Owner, parsed.Owner) && bytes.Equal(it.Target, parsed.Target) &&
			bytes.Equal(it.Anchor, parsed.Anchor) && bytes.Equal(it.Data, parsed.Data) &&
			bytes.Equal(it.TagBytes(), parsed.TagBytes()) && len(it.Tags) == len(parsed.Tags) &&
			(it.Target == nil) == (parsed.Target == nil) && (it.Anchor == nil) == (parsed.Anchor == nil)
		for i := range it.Tags {
			same = same && it.Tags[i] == parsed.Tags[i]
		}
		if !same {
			t.Fatalf("built %+v, parsed %+v", it, parsed)
		}
		again, err := Assemble(it.SignatureType, it.Signature, it.Owner, it.Target, it.Anchor, it.Tags, it.TagBytes(), it.Data)
		if err != nil || !bytes.Equal(again.Raw(), it.Raw()) {
			t.Fatalf("Assemble: %v", err)
		}
	}
	it, _ := Sign(signer, Fields{})
	for name, call := range map[string]func() error{
		"unknown type": func() error { _, err := Assemble(99, it.Signature, it.Owner, nil, nil, nil, nil, nil); return err },
		"short sig": func() error {
			_, err := Assemble(ED25519, it.Signature[:10], it.Owner, nil, nil, nil, nil, nil)
			return err
		},
		"short owner": func() error {
			_, err := Assemble(ED25519, it.Signature, it.Owner[:5], nil, nil, nil, nil, nil)
			return err
		},
		"short anchor": func() error {
			_, err := Assemble(ED25519, it.Signature, it.Owner, nil, []byte{1}, nil, nil, nil)
			return err
		},
		"tags too big": func() error {
			_, err := Assemble(ED25519, it.Signature, it.Owner, nil, nil, nil, make([]byte, MaxTagBytes+1), nil)
			return err
		},
	} {
		if call() == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
