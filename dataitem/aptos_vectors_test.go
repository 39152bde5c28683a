package dataitem_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/aonode/aonode/dataitem"
)

// Types 5 and 6 have no published items to test against, so these vectors are computed by
// hand from the table in ../shared/reference/ans104.md, outside the package: the item bytes
// laid out field by field, the deep hash over ["dataitem", "1", type, owner, target, anchor,
// tags, data] (DeepHashBlobs, which the arbundles deep-hash vectors check), and the signed
// message written as the table gives it, not by the package's own signing code. Each
// vector also has wrong twins that a verifier of another layout would accept.

// handItem lays an item out as ANS-104 does, with no target, anchor or tags.
func handItem(sigType uint16, sig, owner, data []byte) []byte {
	var b bytes.Buffer
	_ = binary.Write(&b, binary.LittleEndian, sigType)
	b.Write(sig)
	b.Write(owner)
	b.Write([]byte{0, 0})     // no target, no anchor
	b.Write(make([]byte, 16)) // 0 tags, 0 tag bytes
	b.Write(data)
	return b.Bytes()
}

// handDeepHash is what an item of sigType by owner with data signs.
func handDeepHash(sigType string, owner, data []byte) [48]byte {
	return dataitem.DeepHashBlobs([]byte("dataitem"), []byte("1"), []byte(sigType), owner, nil, nil, nil, data)
}

func key(seed byte) ed25519.PrivateKey {
	return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, 32))
}

func TestHandComputedInjectedAptos(t *testing.T) {
	k := key(7)
	owner := []byte(k.Public().(ed25519.PublicKey))
	data := []byte("signed by an Aptos wallet")
	m := handDeepHash("5", owner, data)
	for _, c := range []struct {
		name    string
		message string
		valid   bool
	}{
		{"the table's message", "APTOS\nmessage: " + hex.EncodeToString(m[:]) + "\nnonce: bundlr", true},
		{"upper-case hex", "APTOS\nmessage: " + strings.ToUpper(hex.EncodeToString(m[:])) + "\nnonce: bundlr", false},
		{"raw deep hash, not hex", "APTOS\nmessage: " + string(m[:]) + "\nnonce: bundlr", false},
		{"the bare deep hash (type 2's message)", string(m[:]), false},
		{"no nonce line", "APTOS\nmessage: " + hex.EncodeToString(m[:]), false},
	} {
		t.Run(c.name, func(t *testing.T) {
			sig := ed25519.Sign(k, []byte(c.message))
			raw := handItem(5, sig, owner, data)
			it, err := dataitem.ParseVerified(raw)
			if !c.valid {
				if !errors.Is(err, dataitem.ErrInvalidSignature) {
					t.Fatalf("accepted a signature over %q: %v", c.message, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			id := sha256.Sum256(sig)
			if it.ID() != dataitem.EncodeID(id[:]) || it.SignatureType != dataitem.InjectedAptos || !bytes.Equal(it.Data, data) {
				t.Fatalf("parsed %s type %d data %q", it.ID(), it.SignatureType, it.Data)
			}
		})
	}
}

func TestHandComputedMultiAptos(t *testing.T) {
	keys := []ed25519.PrivateKey{key(1), key(2), key(3)}
	data := []byte("signed by two of three")
	owner := make([]byte, 32*32+1) // 32 key slots, then the threshold
	for i, k := range keys {
		copy(owner[32*i:], k.Public().(ed25519.PublicKey))
	}
	owner[1024] = 2
	m := handDeepHash("6", owner, data)
	// sig: 32 slots of 64 bytes, then a 4-byte bitmap whose bit i, most significant bit of
	// byte 0 first, says slot i holds key i's signature of the bare deep hash.
	sigWith := func(slots []int, bitmap [4]byte, message []byte) []byte {
		sig := make([]byte, 32*64+4)
		for _, i := range slots {
			copy(sig[64*i:], ed25519.Sign(keys[i], message))
		}
		copy(sig[2048:], bitmap[:])
		return sig
	}
	for _, c := range []struct {
		name  string
		sig   []byte
		valid bool
	}{
		{"keys 0 and 2: bitmap 1010 0000", sigWith([]int{0, 2}, [4]byte{0xA0}, m[:]), true},
		{"all three: bitmap 1110 0000", sigWith([]int{0, 1, 2}, [4]byte{0xE0}, m[:]), true},
		{"bits least significant first", sigWith([]int{0, 2}, [4]byte{0x05}, m[:]), false},
		{"below the threshold", sigWith([]int{1}, [4]byte{0x40}, m[:]), false},
		{"no signature at all", sigWith(nil, [4]byte{}, m[:]), false},
		{"a bit for an empty slot", sigWith([]int{0, 2}, [4]byte{0xB0}, m[:]), false},
		{"over the Aptos message", sigWith([]int{0, 2}, [4]byte{0xA0}, []byte("APTOS\nmessage: "+hex.EncodeToString(m[:])+"\nnonce: bundlr")), false},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := dataitem.ParseVerified(handItem(6, c.sig, owner, data))
			if c.valid && err != nil {
				t.Fatal(err)
			}
			if !c.valid && !errors.Is(err, dataitem.ErrInvalidSignature) {
				t.Fatalf("accepted: %v", err)
			}
		})
	}
}
