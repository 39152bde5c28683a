package dataitem

import (
	"crypto/ed25519"
	"encoding/hex"
	"math/big"
	mrand "math/rand/v2"
	"testing"
)

// The ed25519 verifier (curve25519-voi with cached owner points) is held to crypto/ed25519:
// not one signature may be accepted by one and refused by the other.

// edgePoints are encodings where ed25519 implementations differ: the eight small-order
// points, non-canonical encodings (y >= p, and x = 0 with the sign bit set) and a y that is
// not on the curve.
var edgePoints = func() [][]byte {
	var out [][]byte
	for _, h := range []string{
		"0100000000000000000000000000000000000000000000000000000000000000",
		"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
		"0000000000000000000000000000000000000000000000000000000000000000",
		"0000000000000000000000000000000000000000000000000000000000000080",
		"26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
		"26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
		"c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
		"c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
		"0100000000000000000000000000000000000000000000000000000000000080",
		"edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
		"eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
		"edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
		"eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
		"ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
		"0200000000000000000000000000000000000000000000000000000000000000",
	} {
		b, _ := hex.DecodeString(h)
		out = append(out, b)
	}
	return out
}()

// edgeScalars are S values around the group order L and zero.
func edgeScalars() [][]byte {
	l, _ := new(big.Int).SetString("7237005577332262213973186563042994240857116359379907606001950938285454250989", 10)
	var out [][]byte
	for _, v := range []*big.Int{big.NewInt(0), big.NewInt(1), new(big.Int).Sub(l, big.NewInt(1)), l, new(big.Int).Add(l, big.NewInt(1)),
		new(big.Int).Lsh(big.NewInt(1), 253), new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 256), big.NewInt(1))} {
		be := v.FillBytes(make([]byte, 32))
		le := make([]byte, 32)
		for i := range be {
			le[i] = be[31-i]
		}
		out = append(out, le)
	}
	return out
}

func sameEd25519Verdict(t testing.TB, pub, m, sig []byte) bool {
	t.Helper()
	want := ed25519.Verify(pub, m, sig)
	// Twice: the second call takes the cached point.
	for range 2 {
		if got := verifyEd25519(pub, m, sig); got != want {
			t.Fatalf("verifyEd25519 says %v, crypto/ed25519 %v (pub %x, sig %x, msg %x)", got, want, pub, sig, m)
		}
	}
	return want
}

func TestEd25519DifferentialEdges(t *testing.T) {
	rng := mrand.New(mrand.NewPCG(1, 2))
	pub, priv, _ := ed25519.GenerateKey(nil)
	msgs := [][]byte{nil, []byte("m"), make([]byte, 48)}
	accepted := 0
	for _, m := range msgs {
		valid := ed25519.Sign(priv, m)
		if !sameEd25519Verdict(t, pub, m, valid) {
			t.Fatal("a valid signature is refused")
		}
		keys := append([][]byte{pub}, edgePoints...)
		rs := append([][]byte{valid[:32]}, edgePoints...)
		ss := append([][]byte{valid[32:]}, edgeScalars()...)
		for _, a := range keys {
			for _, r := range rs {
				for _, s := range ss {
					if sameEd25519Verdict(t, a, m, append(append([]byte{}, r...), s...)) {
						accepted++
					}
				}
			}
		}
		for range 200 {
			sig := append([]byte{}, valid...)
			sig[rng.IntN(64)] ^= byte(1 << rng.IntN(8))
			sameEd25519Verdict(t, pub, m, sig)
		}
	}
	// The small-order cases (identity R and A with S = 0, ...) must have been reached.
	if accepted <= len(msgs) {
		t.Errorf("only %d accepted: the edge cases did not reach the accepting paths", accepted)
	}
}

func TestEd25519DifferentialVectors(t *testing.T) {
	for _, typ := range []SignatureType{ED25519, Solana} {
		for _, it := range vectorItems(t, typ) {
			m := it.DeepHash()
			msg := m[:]
			if typ == Solana {
				msg = hexMessage(m[:])
			}
			sameEd25519Verdict(t, it.Owner, msg, it.Signature)
		}
	}
}

// FuzzEd25519Differential: any public key, message and signature get the same verdict from
// verifyEd25519 and crypto/ed25519. A non-zero flip signs the message with a fixed key first
// and flips one bit of the signature (position from flip), so that accepting paths are reached.
func FuzzEd25519Differential(f *testing.F) {
	pub, priv, _ := ed25519.GenerateKey(nil)
	f.Add([]byte(pub), []byte("msg"), ed25519.Sign(priv, []byte("msg")), uint16(0))
	f.Add(edgePoints[0], []byte{}, append(append([]byte{}, edgePoints[0]...), make([]byte, 32)...), uint16(0))
	f.Add([]byte{}, []byte("x"), []byte{}, uint16(9))
	f.Fuzz(func(t *testing.T, pk, m, sig []byte, flip uint16) {
		if flip != 0 {
			pk, sig = pub, ed25519.Sign(priv, m)
			if flip&1 == 1 {
				bit := int(flip>>1) % 512
				sig[bit/8] ^= 1 << (bit % 8)
			}
		}
		if len(pk) != ed25519.PublicKeySize {
			return // crypto/ed25519 panics on a wrong key length; verifySignature checks lengths first
		}
		sameEd25519Verdict(t, pk, m, sig)
	})
}
