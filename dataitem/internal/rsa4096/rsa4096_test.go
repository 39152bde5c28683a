package rsa4096

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"fmt"
	"math/big"
	mrand "math/rand/v2"
	"sync"
	"testing"
)

// testKey is an RSA key whose modulus is a product of many small primes, so
// that keys of any bit length (4089 to 4096) are made in milliseconds.
// crypto/rsa verifies with any odd modulus; the signer here is raw
// exponentiation with d, prime by prime (CRT).
type testKey struct {
	N, D *big.Int
	pub  *rsa.PublicKey
	key  *PublicKey
	crt  []crtPrime
}

// crtPrime holds d mod (p-1) and the CRT coefficient c with c ≡ 1 (mod p)
// and c ≡ 0 modulo the other primes.
type crtPrime struct{ p, dp, c *big.Int }

// newTestKey makes a key with a modulus of exactly bitLen bits.
func newTestKey(t testing.TB, bitLen int) *testKey {
	t.Helper()
	e := big.NewInt(65537)
	one := big.NewInt(1)
	for {
		N, lambda := big.NewInt(1), big.NewInt(1)
		var primes []*big.Int
		ok := true
		for i := range 8 {
			size := 512
			if i == 7 {
				size = bitLen - N.BitLen()
			}
			p, err := rand.Prime(rand.Reader, size)
			if err != nil {
				t.Fatal(err)
			}
			pm1 := new(big.Int).Sub(p, one)
			if new(big.Int).GCD(nil, nil, e, pm1).Cmp(one) != 0 {
				ok = false
				break
			}
			N.Mul(N, p)
			primes = append(primes, p)
			g := new(big.Int).GCD(nil, nil, lambda, pm1)
			lambda.Mul(lambda, pm1).Div(lambda, g)
		}
		// The second-highest bit set keeps n ≥ 1.5·2^(bitLen-1), so TestVerifyPSSEdges finds an
		// encoding with the bit above emBits set that is still below n in a few tries.
		if !ok || N.BitLen() != bitLen || N.Bit(bitLen-2) == 0 {
			continue
		}
		D := new(big.Int).ModInverse(e, lambda)
		if D == nil {
			continue
		}
		k, err := NewPublicKey(N.FillBytes(make([]byte, Size)))
		if err != nil {
			t.Fatal(err)
		}
		tk := &testKey{N: N, D: D, pub: &rsa.PublicKey{N: N, E: 65537}, key: k}
		for _, p := range primes {
			rest := new(big.Int).Div(N, p)
			c := new(big.Int).ModInverse(new(big.Int).Mod(rest, p), p)
			if c == nil {
				ok = false // a repeated prime
				break
			}
			tk.crt = append(tk.crt, crtPrime{
				p:  p,
				dp: new(big.Int).Mod(D, new(big.Int).Sub(p, one)),
				c:  c.Mul(c, rest),
			})
		}
		if ok {
			return tk
		}
	}
}

// signRaw returns em^d mod N as Size bytes (em read as a big-endian number).
func (k *testKey) signRaw(em []byte) []byte {
	m := new(big.Int).SetBytes(em)
	s := new(big.Int)
	for _, cp := range k.crt {
		sp := new(big.Int).Exp(new(big.Int).Mod(m, cp.p), cp.dp, cp.p)
		s.Add(s, sp.Mul(sp, cp.c))
	}
	return s.Mod(s, k.N).FillBytes(make([]byte, Size))
}

var (
	keysOnce sync.Once
	keys     map[int]*testKey
)

// testKeys are keys of every bit length that a 512-byte modulus with a
// non-zero first byte can have, made once per test binary.
func testKeys(t testing.TB) map[int]*testKey {
	keysOnce.Do(func() {
		keys = map[int]*testKey{}
		for bl := 4089; bl <= 4096; bl++ {
			keys[bl] = newTestKey(t, bl)
		}
	})
	return keys
}

// encodePSS is RFC 8017 §9.1.1 for SHA-256 with the given salt, emBits =
// the modulus bit length minus one, returned as Size bytes (leading zero
// where emLen is 511).
func encodePSS(mHash, salt []byte, emBits int) []byte {
	emLen := (emBits + 7) / 8
	h := sha256.New()
	h.Write(make([]byte, 8))
	h.Write(mHash)
	h.Write(salt)
	H := h.Sum(nil)
	db := make([]byte, emLen-sha256.Size-1)
	db[len(db)-len(salt)-1] = 0x01
	copy(db[len(db)-len(salt):], salt)
	mgf1XOR(db, H)
	db[0] &= 0xff >> (8*emLen - emBits)
	em := append(append(db, H...), 0xbc)
	return append(make([]byte, Size-emLen), em...)
}

// both runs crypto/rsa and this package on the same input and fails the
// test if they disagree; it returns whether the signature verified.
func both(t *testing.T, k *testKey, digest, sig []byte) bool {
	t.Helper()
	std := rsa.VerifyPSS(k.pub, crypto.SHA256, digest, sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthAuto})
	ours := k.key.VerifyPSS(digest, sig)
	if (std == nil) != (ours == nil) {
		t.Fatalf("crypto/rsa says %v, rsa4096 says %v (N bits %d, sig %x...)", std, ours, k.N.BitLen(), sig[:8])
	}
	if ours != nil && !errors.Is(ours, ErrVerification) {
		t.Fatalf("error %v is not ErrVerification", ours)
	}
	return ours == nil
}

func TestExp65537(t *testing.T) {
	rng := mrand.New(mrand.NewPCG(1, 2))
	e := big.NewInt(65537)
	randBytes := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	for i := range 300 {
		mb := randBytes(Size)
		mb[Size-1] |= 1
		switch i % 3 {
		case 0:
			mb[0] |= 0x80 // full 4096 bits
		case 1:
			mb[0] = 1 // 4089 bits
		default:
			if mb[0] == 0 {
				mb[0] = 0x42
			}
		}
		// Moduli with long runs of zero or all-one words stress the carries.
		if i%7 == 0 {
			clear(mb[64:300])
		}
		if i%11 == 0 {
			for j := 100; j < 400; j++ {
				mb[j] = 0xff
			}
		}
		k, err := NewPublicKey(mb)
		if err != nil {
			t.Fatal(err)
		}
		N := new(big.Int).SetBytes(mb)
		xs := []*big.Int{
			big.NewInt(0), big.NewInt(1), big.NewInt(2),
			new(big.Int).Sub(N, big.NewInt(1)), new(big.Int).Sub(N, big.NewInt(2)),
			new(big.Int).Rsh(N, 1), new(big.Int).Rsh(N, 3000),
			new(big.Int).Mod(new(big.Int).SetBytes(randBytes(Size)), N),
		}
		for _, x := range xs {
			var xn, z nat
			xn.setInt(x)
			k.exp65537(&z, &xn)
			var got [Size]byte
			z.fillBytes(got[:])
			want := new(big.Int).Exp(x, e, N).FillBytes(make([]byte, Size))
			if !bytes.Equal(got[:], want) {
				t.Fatalf("modulus %d, x = %v: x^65537 differs", i, x.BitLen())
			}
		}
	}
}

func TestNewPublicKeyRefuses(t *testing.T) {
	good := bytes.Repeat([]byte{0xff}, Size)
	for name, m := range map[string][]byte{
		"short":          good[:Size-1],
		"long":           append(bytes.Clone(good), 1),
		"even":           append(bytes.Repeat([]byte{0xff}, Size-1), 0xfe),
		"zero":           make([]byte, Size),
		"first byte 0":   append([]byte{0}, good[1:]...),
		"empty":          {},
		"one":            append(make([]byte, Size-1), 1),
		"two words only": append(make([]byte, Size-16), good[:16]...),
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := NewPublicKey(m); !errors.Is(err, ErrModulus) {
				t.Fatalf("got %v", err)
			}
			// crypto/rsa refuses a signature of 512 bytes under each of them.
			if len(m) > 0 {
				pub := &rsa.PublicKey{N: new(big.Int).SetBytes(m), E: 65537}
				d := sha256.Sum256(nil)
				if rsa.VerifyPSS(pub, crypto.SHA256, d[:], good, nil) == nil {
					t.Fatal("crypto/rsa accepts")
				}
			}
		})
	}
	first1 := append([]byte{1}, good[1:]...)
	if k, err := NewPublicKey(first1); err != nil || k.emBits != 4088 {
		t.Fatalf("first byte 1: %v", err)
	}
}

// Valid signatures for every modulus bit length and many salt lengths,
// each then broken in the ways RFC 8017 §9.1.2 checks.
func TestVerifyPSSDifferential(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: no key generation")
	}
	rng := mrand.New(mrand.NewPCG(3, 4))
	for bl, k := range testKeys(t) {
		emBits := bl - 1
		emLen := (emBits + 7) / 8
		maxSalt := emLen - sha256.Size - 2
		for _, saltLen := range []int{0, 1, 20, 32, 33, 64, 200, maxSalt - 1, maxSalt} {
			t.Run(fmt.Sprintf("bits%d/salt%d", bl, saltLen), func(t *testing.T) {
				digest := make([]byte, 32)
				salt := make([]byte, saltLen)
				for i := range digest {
					digest[i] = byte(rng.Uint32())
				}
				for i := range salt {
					salt[i] = byte(rng.Uint32())
				}
				em := encodePSS(digest, salt, emBits)
				sig := k.signRaw(em)
				if !both(t, k, digest, sig) {
					t.Fatal("a valid signature does not verify")
				}
				// The same signature over another digest.
				other := bytes.Clone(digest)
				other[0] ^= 1
				if both(t, k, other, sig) {
					t.Fatal("verifies for another digest")
				}
				// One bit of the signature flipped, anywhere.
				for range 8 {
					bad := bytes.Clone(sig)
					bad[rng.IntN(Size)] ^= 1 << rng.IntN(8)
					both(t, k, digest, bad)
				}
				// Encoded messages broken at each check.
				off := Size - emLen
				mutate := func(name string, f func(em []byte)) {
					bad := bytes.Clone(em)
					f(bad)
					if new(big.Int).SetBytes(bad).Cmp(k.N) >= 0 {
						return
					}
					if both(t, k, digest, k.signRaw(bad)) && !bytes.Equal(bad, em) {
						t.Fatalf("%s: verifies", name)
					}
				}
				mutate("trailer", func(em []byte) { em[Size-1] = 0xbd })
				mutate("hash", func(em []byte) { em[Size-2] ^= 0x40 })
				if bitMask := byte(0xff >> (8*emLen - emBits)); bitMask != 0xff {
					mutate("top bit", func(em []byte) { em[off] |= bitMask + 1 })
				}
				if off == 1 {
					mutate("extra byte", func(em []byte) { em[0] = 1 })
				}
				mutate("masked db", func(em []byte) { em[off+3] ^= 0x10 })
				mutate("salt", func(em []byte) { em[Size-sha256.Size-2] ^= 1 })
				mutate("separator", func(em []byte) { em[Size-sha256.Size-2-saltLen] ^= 0x03 })
				mutate("zero", func(em []byte) { clear(em) })
			})
		}
	}
}

// Signature values at the edges: zero, one, n-1, n, n+1, 2^4096-1, and the
// encodings that decode to a missing separator or a non-zero padding byte.
func TestVerifyPSSEdges(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: no key generation")
	}
	for bl, k := range testKeys(t) {
		t.Run(fmt.Sprint(bl), func(t *testing.T) {
			digest := sha256.Sum256([]byte("edges"))
			for _, v := range []*big.Int{
				big.NewInt(0), big.NewInt(1), new(big.Int).Sub(k.N, big.NewInt(1)), k.N,
				new(big.Int).Add(k.N, big.NewInt(1)),
				new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 4096), big.NewInt(1)),
			} {
				if both(t, k, digest[:], v.FillBytes(make([]byte, Size))) {
					t.Fatalf("%v verifies", v)
				}
			}
			if both(t, k, digest[:31], make([]byte, Size)) {
				t.Fatal("short digest")
			}
			emBits := bl - 1
			em := encodePSS(digest[:], []byte("salt"), emBits)
			sig := k.signRaw(em)
			for _, bad := range [][]byte{sig[1:], append(bytes.Clone(sig), 0), nil} {
				if err := k.key.VerifyPSS(digest[:], bad); !errors.Is(err, ErrVerification) {
					t.Fatalf("length %d: %v", len(bad), err)
				}
				if rsa.VerifyPSS(k.pub, crypto.SHA256, digest[:], bad, nil) == nil {
					t.Fatalf("crypto/rsa accepts length %d", len(bad))
				}
			}
			// The first bit above emBits set (in the extra byte where emBits
			// is a multiple of 8), else a valid encoding: tried with salts
			// until the encoded message stays below n.
			emLen := (emBits + 7) / 8
			bitMask := byte(0xff >> (8*emLen - emBits))
			found := false
			for i := 0; i < 200 && !found; i++ {
				e := encodePSS(digest[:], []byte{byte(i), byte(i >> 8)}, emBits)
				if bitMask == 0xff {
					e[0] = 1
				} else {
					e[Size-emLen] |= bitMask + 1
				}
				if new(big.Int).SetBytes(e).Cmp(k.N) < 0 {
					found = true
					if both(t, k, digest[:], k.signRaw(e)) {
						t.Fatal("a bit above emBits verifies")
					}
				}
			}
			if !found {
				t.Fatal("no encoded message with the top bit below n")
			}
			// A valid signature plus n (where it fits in 512 bytes): the
			// same residue, but not below the modulus.
			if plus := new(big.Int).Add(new(big.Int).SetBytes(sig), k.N); plus.BitLen() <= 8*Size {
				if both(t, k, digest[:], plus.FillBytes(make([]byte, Size))) {
					t.Fatal("signature + n verifies")
				}
			} else if bl < 4096 {
				t.Fatal("signature + n does not fit")
			}
			// A DB of all zeros (no separator) and one with a non-zero byte
			// before the separator, both with a correct H and trailer.
			H := em[Size-sha256.Size-1 : Size-1]
			for _, name := range []string{"no separator", "padding"} {
				db := make([]byte, (emBits+7)/8-sha256.Size-1)
				if name == "padding" {
					db[3] = 7
					db[len(db)-5] = 1
				}
				mgf1XOR(db, H)
				db[0] &= 0xff >> (8*((emBits+7)/8) - emBits)
				bad := append(append(append(make([]byte, Size-(emBits+7)/8), db...), H...), 0xbc)
				if both(t, k, digest[:], k.signRaw(bad)) {
					t.Fatalf("%s verifies", name)
				}
			}
		})
	}
}

// FuzzVerify: the fuzzer chooses the key size, the digest, a salt and where
// to change the encoded message; the signature is made with the private key,
// so accepted and rejected signatures are both reached, and crypto/rsa and
// this package must agree on each. A raw mode feeds the bytes as the
// signature itself.
func FuzzVerify(f *testing.F) {
	f.Add(uint8(7), []byte("digest"), []byte("salt"), uint16(0), uint8(0), false)
	f.Add(uint8(0), []byte{}, bytes.Repeat([]byte{1}, 32), uint16(511), uint8(0xbd), false)
	f.Add(uint8(3), []byte("x"), []byte{}, uint16(100), uint8(1), false)
	f.Add(uint8(7), []byte{0xff}, bytes.Repeat([]byte{0xff}, 600), uint16(0), uint8(0), true)
	f.Fuzz(func(t *testing.T, size uint8, msg, salt []byte, pos uint16, xor uint8, raw bool) {
		k := testKeys(t)[4089+int(size%8)]
		digest := sha256.Sum256(msg)
		var sig []byte
		if raw {
			sig = make([]byte, Size)
			copy(sig, salt)
		} else {
			emBits := k.N.BitLen() - 1
			if max := (emBits+7)/8 - sha256.Size - 2; len(salt) > max {
				salt = salt[:max]
			}
			em := encodePSS(digest[:], salt, emBits)
			em[int(pos)%Size] ^= xor
			if new(big.Int).SetBytes(em).Cmp(k.N) >= 0 {
				return
			}
			sig = k.signRaw(em)
		}
		both(t, k, digest[:], sig)
	})
}

func BenchmarkVerifyPSS(b *testing.B) {
	k := newTestKey(b, 4096)
	digest := sha256.Sum256([]byte("bench"))
	sig := k.signRaw(encodePSS(digest[:], make([]byte, 32), 4095))
	b.Run("crypto-rsa", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := rsa.VerifyPSS(k.pub, crypto.SHA256, digest[:], sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthAuto}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("rsa4096", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := k.key.VerifyPSS(digest[:], sig); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("NewPublicKey", func(b *testing.B) {
		m := k.N.FillBytes(make([]byte, Size))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := NewPublicKey(m); err != nil {
				b.Fatal(err)
			}
		}
	})
}
