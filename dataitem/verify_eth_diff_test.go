package dataitem

import (
	"bytes"
	"math/big"
	mrand "math/rand/v2"
	"testing"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"
)

// Type 3 verifies against the owner key (internal/secpverify) where it used
// to recover the key from the signature and compare. recoverEthereumRef is
// that former check, kept as the reference: every test here fails when the
// two give different verdicts on one signature.
func recoverEthereumRef(owner, sig, m []byte) bool {
	if len(owner) != 65 || len(sig) != 65 || owner[0] != 4 {
		return false
	}
	want, err := secp256k1.ParsePubKey(owner)
	if err != nil {
		return false
	}
	got, _ := recoverEthereum(sig, eip191Digest(m))
	return got != nil && got.IsEqual(want)
}

// ethVerifyRepeats is how many times each case is verified: the first 8
// verifications of a key (secpverify's tableAfter) multiply without its
// table, the later ones with it.
const ethVerifyRepeats = 12

func sameEthVerdict(t testing.TB, owner, sig, m []byte) bool {
	t.Helper()
	v := sameVerdict(t, Ethereum, owner, sig, m)
	for range ethVerifyRepeats - 1 {
		sameVerdict(t, Ethereum, owner, sig, m)
	}
	return v
}

func TestEthereumDifferentialVectors(t *testing.T) {
	items := vectorItems(t, Ethereum)
	valid := 0
	for _, it := range items {
		m := it.DeepHash()
		if sameEthVerdict(t, it.Owner, it.Signature, m[:]) {
			valid++
		}
		// Every single-byte change of the signature and of the owner.
		for i := range 65 {
			for _, x := range []byte{1, 0x80} {
				sig := bytes.Clone(it.Signature)
				sig[i] ^= x
				sameVerdict(t, Ethereum, it.Owner, sig, m[:])
				owner := bytes.Clone(it.Owner)
				owner[i] ^= x
				sameVerdict(t, Ethereum, owner, it.Signature, m[:])
			}
		}
		mm := m
		mm[0] ^= 1
		sameVerdict(t, Ethereum, it.Owner, it.Signature, mm[:])
	}
	if valid == 0 {
		t.Fatal("no valid type-3 vector")
	}
}

// TestEthereumDifferentialRandom signs with random keys and tampers with
// r, s, v, the message and the owner.
func TestEthereumDifferentialRandom(t *testing.T) {
	rng := mrand.New(mrand.NewPCG(3, 16))
	n := 60
	if testing.Short() {
		n = 10
	}
	for range n {
		k, err := secp256k1.GeneratePrivateKey()
		if err != nil {
			t.Fatal(err)
		}
		owner := k.PubKey().SerializeUncompressed()
		m := make([]byte, 48)
		for j := range m {
			m[j] = byte(rng.Uint32())
		}
		sig := ethSign(k, m)
		if !sameEthVerdict(t, owner, sig, m) {
			t.Fatal("valid signature rejected by both")
		}
		for range 20 {
			bad := bytes.Clone(sig)
			bad[rng.IntN(65)] ^= byte(1 + rng.IntN(255))
			sameVerdict(t, Ethereum, owner, bad, m)
		}
		// v flipped with s negated: the same R negated, still low-S only
		// when s was exactly (N-1)/2, so both must refuse.
		flipped := bytes.Clone(sig)
		flipped[64] ^= 27 ^ 28
		sameVerdict(t, Ethereum, owner, flipped, m)
	}
}

// TestEthereumDifferentialHighX builds signatures whose point R has an x
// coordinate of N or more, so r = x − N: recovery ids 0 and 1 (v 27, 28)
// rebuild another point from r and refuse them, while plain ECDSA
// verification (x mod N = r) accepts them. The new path must refuse them.
func TestEthereumDifferentialHighX(t *testing.T) {
	p := secp256k1.Params().P
	order := secp256k1.Params().N
	rng := mrand.New(mrand.NewPCG(5, 9))
	found := 0
	for t0 := int64(1); found < 8 && t0 < 200; t0++ {
		x := new(big.Int).Add(order, big.NewInt(t0))
		if x.Cmp(p) >= 0 {
			break
		}
		var fx, fy secp256k1.FieldVal
		fx.SetByteSlice(x.Bytes())
		if !secp256k1.DecompressY(&fx, rng.IntN(2) == 1, &fy) {
			continue
		}
		found++
		var R secp256k1.JacobianPoint
		R.X.Set(&fx)
		R.Y.Set(&fy)
		R.Z.SetInt(1)
		m := make([]byte, 48)
		for j := range m {
			m[j] = byte(rng.Uint32())
		}
		digest := eip191Digest(m)
		// Q = r⁻¹(s·R − e·G), with a low s.
		var r, s, e secp256k1.ModNScalar
		r.SetInt(uint32(t0))
		s.SetByteSlice(big.NewInt(rng.Int64()).Bytes())
		e.SetByteSlice(digest)
		w := new(secp256k1.ModNScalar).InverseValNonConst(&r)
		u1 := new(secp256k1.ModNScalar).Mul2(&e, w).Negate()
		u2 := new(secp256k1.ModNScalar).Mul2(&s, w)
		var a, b, Q secp256k1.JacobianPoint
		secp256k1.ScalarBaseMultNonConst(u1, &a)
		secp256k1.ScalarMultNonConst(u2, &R, &b)
		secp256k1.AddNonConst(&a, &b, &Q)
		Q.ToAffine()
		pub := secp256k1.NewPublicKey(&Q.X, &Q.Y)
		owner := pub.SerializeUncompressed()
		rb, sb := r.Bytes(), s.Bytes()
		if !ecdsa.NewSignature(&r, &s).Verify(digest, pub) {
			t.Fatal("construction wrong: plain ECDSA refuses it")
		}
		for _, v := range []byte{27, 28} {
			sig := append(append(rb[:], sb[:]...), v)
			if sameEthVerdict(t, owner, sig, m) {
				t.Fatalf("x = N + %d: v %d verifies", t0, v)
			}
		}
		// Recovery id 2 or 3 (no v byte gives it) does recover the owner.
		code := byte(27 + 2)
		if fy.IsOdd() {
			code++
		}
		got, _, err := ecdsa.RecoverCompact(append([]byte{code}, append(rb[:], sb[:]...)...), digest)
		if err != nil || !got.IsEqual(pub) {
			t.Fatalf("construction wrong: recovery id %d does not give the owner", code-27)
		}
	}
	if found == 0 {
		t.Fatal("no point with x ≥ N found")
	}
}

// FuzzEthereumDifferential: the new type-3 check and the recovery path give
// the same verdict. The fuzzer picks a key (seed), a message and a tamper
// (none when xor is 0, so the accepting path is reached), or with raw set
// uses its bytes as the owner and the signature as they are.
func FuzzEthereumDifferential(f *testing.F) {
	for _, it := range vectorItems(f, Ethereum) {
		m := it.DeepHash()
		f.Add(it.Owner, it.Signature, m[:], uint8(0), uint8(0), true)
	}
	f.Add([]byte{1}, []byte{}, make([]byte, 48), uint8(0), uint8(0), false)
	f.Add([]byte{2}, []byte{}, make([]byte, 48), uint8(64), uint8(1), false)
	f.Add([]byte{3}, []byte{}, make([]byte, 48), uint8(40), uint8(0x80), false)
	f.Fuzz(func(t *testing.T, seed, sig, m []byte, pos, xor uint8, raw bool) {
		if len(m) != 48 {
			return
		}
		owner := seed
		if !raw {
			var d [32]byte
			copy(d[:], seed)
			d[31] |= 1 // never the zero key
			k := secp256k1.PrivKeyFromBytes(d[:])
			owner = k.PubKey().SerializeUncompressed()
			sig = ethSign(k, m)
			sig[int(pos)%65] ^= xor
		}
		if len(owner) != 65 || len(sig) != 65 {
			return
		}
		sameEthVerdict(t, owner, sig, m)
	})
}
