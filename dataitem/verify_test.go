package dataitem

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"testing"
)

// aptosSigner and multiAptosSigner make type-5 and type-6 items as the
// arbundles signers lay them out, so the verifiers are exercised.
type aptosSigner struct{ key ed25519.PrivateKey }

func (s aptosSigner) SignatureType() SignatureType { return InjectedAptos }
func (s aptosSigner) Owner() []byte                { return s.key.Public().(ed25519.PublicKey) }
func (s aptosSigner) Sign(m []byte) ([]byte, error) {
	return ed25519.Sign(s.key, aptosMessage(m)), nil
}

type multiAptosSigner struct {
	keys      []ed25519.PrivateKey
	slots     []int // which keys sign
	threshold byte
}

func (s multiAptosSigner) SignatureType() SignatureType { return MultiAptos }
func (s multiAptosSigner) Owner() []byte {
	owner := make([]byte, 1025)
	for i, k := range s.keys {
		copy(owner[i*32:], k.Public().(ed25519.PublicKey))
	}
	owner[1024] = s.threshold
	return owner
}
func (s multiAptosSigner) Sign(m []byte) ([]byte, error) {
	sig := make([]byte, 2052)
	for _, i := range s.slots {
		copy(sig[i*64:], ed25519.Sign(s.keys[i], m))
		sig[2048+i/8] |= 0x80 >> (i % 8)
	}
	return sig, nil
}

func TestVerifyAptosTypes(t *testing.T) {
	keys := make([]ed25519.PrivateKey, 3)
	for i := range keys {
		keys[i] = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{byte(i + 1)}, 32))
	}
	f := Fields{Tags: []Tag{{Name: "a", Value: "b"}}, Data: []byte("aptos")}
	for name, s := range map[string]Signer{
		"injected aptos":  aptosSigner{keys[0]},
		"multi 2 of 3":    multiAptosSigner{keys: keys, slots: []int{0, 2}, threshold: 2},
		"multi slot 31":   multiAptosSigner{keys: append(make([]ed25519.PrivateKey, 31), keys[0]), slots: []int{31}, threshold: 1},
		"multi threshold": multiAptosSigner{keys: keys, slots: []int{1}, threshold: 1},
	} {
		t.Run(name, func(t *testing.T) {
			if ms, ok := s.(multiAptosSigner); ok {
				for i := range ms.keys {
					if ms.keys[i] == nil {
						ms.keys[i] = keys[1]
					}
				}
				s = ms
			}
			it, err := Sign(s, f)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := ParseVerified(it.Raw()); err != nil {
				t.Fatal(err)
			}
			bad := bytes.Clone(it.Raw())
			bad[len(bad)-1] ^= 1
			if _, err := ParseVerified(bad); !errors.Is(err, ErrInvalidSignature) {
				t.Fatalf("changed data: %v", err)
			}
		})
	}
	// Below the threshold, and nobody signing at all, are not signatures.
	for name, s := range map[string]multiAptosSigner{
		"below threshold": {keys: keys, slots: []int{0}, threshold: 2},
		"empty bitmap":    {keys: keys, threshold: 0},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := Sign(s, f); !errors.Is(err, ErrInvalidSignature) {
				t.Fatalf("got %v, want invalid_signature", err)
			}
		})
	}
}

// Hostile owners and signatures fail as invalid_signature, never panic.
func TestVerifyHostileFields(t *testing.T) {
	m := make([]byte, 48)
	pad := func(n int, b ...byte) []byte { return append(make([]byte, n-len(b)), b...) }
	cases := []struct {
		name       string
		t          SignatureType
		owner, sig []byte
	}{
		{"rsa zero modulus", Arweave, make([]byte, 512), make([]byte, 512)},
		{"rsa even modulus", Arweave, pad(512, 2), make([]byte, 512)},
		{"rsa short modulus", Arweave, pad(512, bytes.Repeat([]byte{0xff}, 100)...), bytes.Repeat([]byte{0xff}, 512)},
		{"rsa all ones", Arweave, bytes.Repeat([]byte{0xff}, 512), bytes.Repeat([]byte{0xff}, 512)},
		{"ed25519 zero", ED25519, make([]byte, 32), make([]byte, 64)},
		{"eth owner prefix", Ethereum, pad(65, 1), pad(65, 27)},
		{"eth owner off curve", Ethereum, append([]byte{4}, make([]byte, 64)...), pad(65, 27)},
		{"eth v 0", Ethereum, append([]byte{4}, make([]byte, 64)...), make([]byte, 65)},
		{"eth zero r s", Ethereum, append([]byte{4}, make([]byte, 64)...), pad(65, 28)},
		{"eth s too big", Ethereum, append([]byte{4}, make([]byte, 64)...), append(bytes.Repeat([]byte{0xff}, 64), 27)},
		{"typed owner not hex", TypedEthereum, bytes.Repeat([]byte{'z'}, 42), pad(65, 27)},
		{"typed owner bad checksum", TypedEthereum, []byte("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD"), pad(65, 27)},
		{"multi aptos zeros", MultiAptos, make([]byte, 1025), make([]byte, 2052)},
		{"wrong lengths", ED25519, make([]byte, 31), make([]byte, 64)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := verifySignature(c.t, c.owner, c.sig, m); !errors.Is(err, ErrInvalidSignature) {
				t.Fatalf("got %v", err)
			}
		})
	}
	if err := verifySignature(99, nil, nil, m); !errors.Is(err, ErrUnknownSignatureType) {
		t.Fatalf("unknown type: %v", err)
	}
}

// A type-3 signature with v flipped or s negated (high-S) still satisfies
// plain ECDSA but must be rejected: either would give a second id.
func TestEthereumMalleability(t *testing.T) {
	s := loadVectorSigners(t)["pub-eth"]
	it, err := Sign(s, Fields{Data: []byte("malleable")})
	if err != nil {
		t.Fatal(err)
	}
	sigOff := 2
	flipV := bytes.Clone(it.Raw())
	flipV[sigOff+64] ^= 27 ^ 28
	if _, err := ParseVerified(flipV); !errors.Is(err, ErrInvalidSignature) {
		t.Fatalf("flipped v: %v", err)
	}
	// s' = n - s with v flipped recovers the same key: only the low-S rule stops it.
	var n = [32]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe,
		0xba, 0xae, 0xdc, 0xe6, 0xaf, 0x48, 0xa0, 0x3b, 0xbf, 0xd2, 0x5e, 0x8c, 0xd0, 0x36, 0x41, 0x41}
	high := bytes.Clone(it.Raw())
	sub32(high[sigOff+32:sigOff+64], n[:])
	high[sigOff+64] ^= 27 ^ 28
	err = verifySignature(Ethereum, it.Owner, high[sigOff:sigOff+65], func() []byte { m := it.DeepHash(); return m[:] }())
	if !errors.Is(err, ErrInvalidSignature) || !bytes.Contains([]byte(err.Error()), []byte("high-S")) {
		t.Fatalf("high-S: %v", err)
	}
}

// sub32 sets s = n - s for 32-byte big-endian numbers.
func sub32(s, n []byte) {
	var borrow int
	for i := 31; i >= 0; i-- {
		d := int(n[i]) - int(s[i]) - borrow
		borrow = 0
		if d < 0 {
			d += 256
			borrow = 1
		}
		s[i] = byte(d)
	}
}
