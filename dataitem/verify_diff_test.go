package dataitem

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"fmt"
	"math/big"
	mrand "math/rand/v2"
	"testing"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"
)

// The type-1 verifier is held to the one it replaced, crypto/rsa.VerifyPSS
// with the salt length auto-detected: not one signature may be accepted by
// one and rejected by the other.

// stdArweave is the type-1 check as crypto/rsa makes it.
func stdArweave(owner, sig, m []byte) bool {
	pub := &rsa.PublicKey{N: new(big.Int).SetBytes(owner), E: arweaveExponent}
	digest := sha256.Sum256(m)
	return rsa.VerifyPSS(pub, crypto.SHA256, digest[:], sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthAuto}) == nil
}

// sameVerdict fails t when verifySignature and the reference disagree, and
// returns the verdict.
func sameVerdict(t testing.TB, typ SignatureType, owner, sig, m []byte) bool {
	t.Helper()
	var want bool
	switch typ {
	case Arweave:
		want = stdArweave(owner, sig, m)
	case Ethereum:
		want = recoverEthereumRef(owner, sig, m)
	default:
		t.Fatalf("no reference for type %d", typ)
	}
	got := verifySignature(typ, owner, sig, m) == nil
	if got != want {
		t.Fatalf("type %d: verifySignature says %v, the reference %v (owner %x..., sig %x...)", typ, got, want, owner[:4], sig[:4])
	}
	return got
}

// vectorItems returns the parsed vector items of one type (valid, invalid
// and those inside the bundles).
func vectorItems(t testing.TB, typ SignatureType) []*Item {
	var out []*Item
	for _, v := range loadItemVectors(t, "items.json", "invalid.json") {
		if it, err := Parse(mustStd64(t, v.RawBase64)); err == nil && it.SignatureType == typ {
			out = append(out, it)
		}
	}
	var bf vectorFile[bundleVector]
	loadJSON(t, "bundles.json", &bf)
	for _, v := range bf.Vectors {
		items, err := ParseBundle(mustStd64(t, v.RawBase64))
		if err != nil {
			continue
		}
		for _, it := range items {
			if it.SignatureType == typ {
				out = append(out, it)
			}
		}
	}
	if len(out) == 0 {
		t.Fatalf("no vector of type %d", typ)
	}
	return out
}

func TestArweaveDifferentialVectors(t *testing.T) {
	accepted := 0
	for i, it := range vectorItems(t, Arweave) {
		m := it.DeepHash()
		if sameVerdict(t, Arweave, it.Owner, it.Signature, m[:]) {
			accepted++
		}
		// Every byte position class of the signature, flipped.
		for _, pos := range []int{0, 1, 255, 510, 511} {
			bad := bytes.Clone(it.Signature)
			bad[pos] ^= 0x01
			if sameVerdict(t, Arweave, it.Owner, bad, m[:]) {
				t.Fatalf("vector %d: flipped signature byte %d verifies", i, pos)
			}
		}
	}
	if accepted == 0 {
		t.Fatal("no type-1 vector verifies")
	}
}

func TestArweaveDifferentialSalts(t *testing.T) {
	key := loadVectorSigners(t)["pub-rsa"].(*ArweaveSigner).Key
	owner := key.N.FillBytes(make([]byte, 512))
	maxSalt := 512 - 32 - 2
	rng := mrand.New(mrand.NewPCG(5, 6))
	for _, saltLen := range []int{0, 1, 16, 31, 32, 33, 64, 100, 255, maxSalt - 1, maxSalt} {
		t.Run(fmt.Sprint("salt", saltLen), func(t *testing.T) {
			m := make([]byte, 48)
			for i := range m {
				m[i] = byte(rng.Uint32())
			}
			digest := sha256.Sum256(m)
			sig, err := rsa.SignPSS(rand.Reader, key, crypto.SHA256, digest[:], &rsa.PSSOptions{SaltLength: saltLen})
			if err != nil {
				t.Fatal(err)
			}
			if !sameVerdict(t, Arweave, owner, sig, m) {
				t.Fatal("valid signature rejected")
			}
			for range 4 {
				bad := bytes.Clone(sig)
				bad[rng.IntN(512)] ^= 1 << rng.IntN(8)
				sameVerdict(t, Arweave, owner, bad, m)
			}
			other := bytes.Clone(m)
			other[47] ^= 0x80
			if sameVerdict(t, Arweave, owner, sig, other) {
				t.Fatal("verifies another message")
			}
			// The same signature under a neighbouring modulus.
			o2 := bytes.Clone(owner)
			o2[300] ^= 0x04
			sameVerdict(t, Arweave, o2, sig, m)
		})
	}
}

func TestArweaveDifferentialEdges(t *testing.T) {
	key := loadVectorSigners(t)["pub-rsa"].(*ArweaveSigner).Key
	owner := key.N.FillBytes(make([]byte, 512))
	m := make([]byte, 48)
	digest := sha256.Sum256(m)
	good, err := rsa.SignPSS(rand.Reader, key, crypto.SHA256, digest[:], &rsa.PSSOptions{SaltLength: 32})
	if err != nil {
		t.Fatal(err)
	}
	pad := func(b []byte) []byte { return append(make([]byte, 512-len(b)), b...) }
	nMinus1 := new(big.Int).Sub(key.N, big.NewInt(1)).FillBytes(make([]byte, 512))
	nPlus1 := new(big.Int).Add(key.N, big.NewInt(1)).FillBytes(make([]byte, 512))
	// A signature whose value is small: many leading zero bytes.
	small := new(big.Int).Exp(big.NewInt(3), key.D, key.N)
	for _, c := range []struct {
		name       string
		owner, sig []byte
	}{
		{"zero signature", owner, make([]byte, 512)},
		{"signature one", owner, pad([]byte{1})},
		{"signature n-1", owner, nMinus1},
		{"signature = modulus", owner, owner},
		{"signature n+1", owner, nPlus1},
		{"signature all ones", owner, bytes.Repeat([]byte{0xff}, 512)},
		{"signature of 3", owner, small.FillBytes(make([]byte, 512))},
		{"owner first byte zero", append([]byte{0}, owner[1:]...), good},
		{"owner first byte one", append([]byte{1}, owner[1:]...), good},
		{"owner even", append(bytes.Clone(owner[:511]), owner[511]&^1), good},
		{"owner zero", make([]byte, 512), good},
		{"owner all ones", bytes.Repeat([]byte{0xff}, 512), good},
		{"owner one", pad([]byte{1}), good},
		{"valid", owner, good},
	} {
		t.Run(c.name, func(t *testing.T) {
			ok := sameVerdict(t, Arweave, c.owner, c.sig, m)
			if ok != (c.name == "valid") {
				t.Fatalf("verdict %v", ok)
			}
		})
	}
	// Wrong lengths never reach the arithmetic, for either verifier.
	for _, l := range [][2]int{{511, 512}, {512, 511}, {513, 512}, {512, 0}} {
		o, s := make([]byte, l[0]), make([]byte, l[1])
		copy(o, owner)
		copy(s, good)
		if verifySignature(Arweave, o, s, m) == nil {
			t.Fatalf("lengths %v verify", l)
		}
	}
}

// ethSign signs m (a deep hash) the way EthereumSigner does, returning
// r‖s‖v.
func ethSign(k *secp256k1.PrivateKey, m []byte) []byte {
	c := ecdsa.SignCompact(k, eip191Digest(m), false)
	return append(bytes.Clone(c[1:]), c[0])
}

// These are the type-3 signatures verification must refuse
// (TestEthereumDifferential* check that the recovery path refuses them too).
func TestEthereumRejects(t *testing.T) {
	order := secp256k1.Params().N
	rng := mrand.New(mrand.NewPCG(7, 8))
	two256 := new(big.Int).Lsh(big.NewInt(1), 256)
	scalar := func(v *big.Int) []byte { return new(big.Int).Mod(v, two256).FillBytes(make([]byte, 32)) }
	for i := range 40 {
		k, err := secp256k1.GeneratePrivateKey()
		if err != nil {
			t.Fatal(err)
		}
		owner := k.PubKey().SerializeUncompressed()
		other, _ := secp256k1.GeneratePrivateKey()
		m := make([]byte, 48)
		for j := range m {
			m[j] = byte(rng.Uint32())
		}
		sig := ethSign(k, m)
		if err := verifySignature(Ethereum, owner, sig, m); err != nil {
			t.Fatalf("key %d: valid signature rejected: %v", i, err)
		}
		r := new(big.Int).SetBytes(sig[:32])
		s := new(big.Int).SetBytes(sig[32:64])
		with := func(rv, sv *big.Int, v byte) []byte {
			return append(append(scalar(rv), scalar(sv)...), v)
		}
		flip := sig[64] ^ 27 ^ 28
		cases := map[string][]byte{
			"v flipped":        with(r, s, flip),
			"high-S":           with(r, new(big.Int).Sub(order, s), flip),
			"high-S same v":    with(r, new(big.Int).Sub(order, s), sig[64]),
			"v 0":              with(r, s, 0),
			"v 1":              with(r, s, 1),
			"v 29":             with(r, s, 29),
			"r zero":           with(big.NewInt(0), s, sig[64]),
			"s zero":           with(r, big.NewInt(0), sig[64]),
			"r = n":            with(order, s, sig[64]),
			"r + n":            with(new(big.Int).Add(r, order), s, sig[64]),
			"s = n":            with(r, order, sig[64]),
			"r = n-1":          with(new(big.Int).Sub(order, big.NewInt(1)), s, sig[64]),
			"s = 1":            with(r, big.NewInt(1), sig[64]),
			"s = (n-1)/2":      with(r, new(big.Int).Rsh(order, 1), sig[64]),
			"s = (n+1)/2":      with(r, new(big.Int).Rsh(new(big.Int).Add(order, big.NewInt(1)), 1), sig[64]),
			"r+1":              with(new(big.Int).Add(r, big.NewInt(1)), s, sig[64]),
			"random":           with(new(big.Int).SetUint64(rng.Uint64()), new(big.Int).SetUint64(rng.Uint64()), sig[64]),
			"other signer":     ethSign(other, m),
			"other message":    ethSign(k, append(bytes.Clone(m[:47]), m[47]^1)),
			"all ones r and s": append(bytes.Repeat([]byte{0xff}, 64), sig[64]),
		}
		for name, bad := range cases {
			if sameVerdict(t, Ethereum, owner, bad, m) {
				t.Fatalf("key %d: %s verifies", i, name)
			}
		}
		// The owner field broken: other prefixes, off the curve, another key.
		for name, o := range map[string][]byte{
			"compressed prefix": append([]byte{2}, owner[1:]...),
			"hybrid prefix":     append([]byte{6}, owner[1:]...),
			"y+1":               append(bytes.Clone(owner[:64]), owner[64]+1),
			"other key":         other.PubKey().SerializeUncompressed(),
			"zero point":        append([]byte{4}, make([]byte, 64)...),
		} {
			if sameVerdict(t, Ethereum, o, sig, m) {
				t.Fatalf("key %d: owner %s verifies", i, name)
			}
		}
	}
}

// FuzzVerifyDifferential: any type-1 item that parses gets the same verdict
// from verifySignature and from crypto/rsa; the fuzzer starts from the
// vectors (valid signatures) and mutates them. A non-zero xor re-signs the
// item first with the vector key at the salt length the fuzzer picks, then
// changes one byte of the signature by xor's low bits (sometimes none), so
// that the accepting paths are reached too.
func FuzzVerifyDifferential(f *testing.F) {
	for _, it := range vectorItems(f, Arweave) {
		f.Add(it.Raw(), uint16(0), uint8(0), uint16(32))
		f.Add(it.Raw(), uint16(7), uint8(0x10), uint16(0))
	}
	rsaKey := loadVectorSigners(f)["pub-rsa"].(*ArweaveSigner).Key
	f.Fuzz(func(t *testing.T, raw []byte, pos uint16, xor uint8, saltLen uint16) {
		it, err := Parse(raw)
		if err != nil || it.SignatureType != Arweave {
			return
		}
		owner, sig := it.Owner, it.Signature
		m := it.DeepHash()
		if xor != 0 {
			owner = rsaKey.N.FillBytes(make([]byte, 512))
			digest := sha256.Sum256(m[:])
			sig, err = rsa.SignPSS(rand.Reader, rsaKey, crypto.SHA256, digest[:], &rsa.PSSOptions{SaltLength: int(saltLen) % 479})
			if err != nil {
				t.Fatal(err)
			}
			sig[int(pos)%len(sig)] ^= xor & 0x0f // sometimes 0: stays valid
		}
		sameVerdict(t, Arweave, owner, sig, m[:])
	})
}
