package rsa4096

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"math/big"
	"math/bits"
)

// Size is the length in bytes of a modulus and of a signature.
const Size = 512

// words is the length of a 4096-bit number in machine words.
const words = Size * 8 / bits.UintSize

// Errors. Every signature that does not verify fails with ErrVerification.
var (
	ErrVerification = errors.New("rsa4096: verification error")
	ErrModulus      = errors.New("rsa4096: modulus is not 512 bytes, odd, with a non-zero first byte")
)

// nat is a 4096-bit number, least significant word first.
type nat [words]big.Word

// PublicKey is a modulus with its Montgomery constants (R = 2^4096).
// It is immutable once made, so one PublicKey may serve any number of
// goroutines.
type PublicKey struct {
	n      nat
	rr     nat      // R² mod n: mont(x, rr) = x·R mod n
	k      big.Word // -n⁻¹ mod 2^W
	emBits int      // bit length of n, minus one
}

// NewPublicKey prepares the key whose modulus is the 512 big-endian bytes
// modulus (the exponent is 65537). It refuses what crypto/rsa refuses for a
// 512-byte signature: an even modulus, and one whose first byte is zero (its
// size would not be that of the signature).
func NewPublicKey(modulus []byte) (*PublicKey, error) {
	if len(modulus) != Size || modulus[0] == 0 || modulus[Size-1]&1 == 0 {
		return nil, ErrModulus
	}
	k := &PublicKey{emBits: 8*Size - bits.LeadingZeros8(modulus[0]) - 1}
	k.n.setBytes(modulus)
	// Newton's iteration doubles the correct low bits of n⁻¹ mod 2^W each
	// step, from the 3 that n·n ≡ 1 (mod 8) gives for any odd n.
	n0 := k.n[0]
	inv := n0
	for range 5 {
		inv *= 2 - n0*inv
	}
	k.k = -inv
	N := new(big.Int).SetBytes(modulus)
	rr := new(big.Int).Lsh(big.NewInt(1), 2*8*Size)
	k.rr.setInt(rr.Mod(rr, N))
	return k, nil
}

// VerifyPSS reports whether sig is an RSASSA-PSS signature of the SHA-256
// digest under k, with any salt length: nil, or ErrVerification.
func (k *PublicKey) VerifyPSS(digest, sig []byte) error {
	if len(digest) != sha256.Size || len(sig) != Size {
		return ErrVerification
	}
	var s nat
	s.setBytes(sig)
	if !s.less(&k.n) {
		return ErrVerification
	}
	var m nat
	k.exp65537(&m, &s)
	var buf [Size]byte
	m.fillBytes(buf[:])
	em := buf[:]
	// A modulus of 4089 bits (first byte 1) leaves emBits = 4088: the
	// encoded message is one byte shorter and the extra byte must be zero.
	emLen := (k.emBits + 7) / 8
	if emLen < Size {
		if em[0] != 0 {
			return ErrVerification
		}
		em = em[1:]
	}
	return emsaPSSVerify(digest, em, k.emBits)
}

// emsaPSSVerify is RFC 8017 §9.1.2 for SHA-256 with the salt length taken
// from the position of the 0x01 separator, step for step as crypto/rsa does
// it (len(em) = ⌈emBits/8⌉).
func emsaPSSVerify(mHash, em []byte, emBits int) error {
	const hLen = sha256.Size
	emLen := len(em)
	// Step 3 with the smallest salt (none) and step 4. (emLen is 511 or
	// 512 here; the bound only keeps the slicing below in range.)
	if emLen < hLen+2 || em[emLen-1] != 0xbc {
		return ErrVerification
	}
	// Step 5: maskedDB ‖ H ‖ 0xbc.
	db := em[:emLen-hLen-1]
	h := em[emLen-hLen-1 : emLen-1]
	// Step 6: the bits above emBits must be zero.
	bitMask := byte(0xff >> (8*emLen - emBits))
	if em[0]&^bitMask != 0 {
		return ErrVerification
	}
	// Steps 7-9: DB = maskedDB ⊕ MGF1(H), top bits cleared.
	mgf1XOR(db, h)
	db[0] &= bitMask
	// Step 10 with the salt length found: zeros, then 0x01, then the salt.
	psLen := bytes.IndexByte(db, 0x01)
	if psLen < 0 {
		return ErrVerification
	}
	for _, b := range db[:psLen] {
		if b != 0 {
			return ErrVerification
		}
	}
	salt := db[psLen+1:]
	// Steps 11-14: H = SHA-256(0⁸ ‖ mHash ‖ salt).
	h2 := sha256.New()
	var prefix [8]byte
	h2.Write(prefix[:])
	h2.Write(mHash)
	h2.Write(salt)
	var sum [hLen]byte
	if !bytes.Equal(h2.Sum(sum[:0]), h) {
		return ErrVerification
	}
	return nil
}

// mgf1XOR xors out with MGF1-SHA-256(seed).
func mgf1XOR(out, seed []byte) {
	var in [sha256.Size + 4]byte
	copy(in[:], seed)
	for counter := uint32(0); len(out) > 0; counter++ {
		binary.BigEndian.PutUint32(in[sha256.Size:], counter)
		mask := sha256.Sum256(in[:])
		n := min(len(out), len(mask))
		for i := range n {
			out[i] ^= mask[i]
		}
		out = out[n:]
	}
}

// exp65537 sets z = x^65537 mod n for x < n: x to Montgomery form, 16
// squarings, and a last multiplication by x that also leaves the form.
func (k *PublicKey) exp65537(z, x *nat) {
	var t [2 * words]big.Word
	var a nat
	mul(&t, x, &k.rr)
	k.redc(&a, &t)
	for range 16 {
		sqr(&t, &a)
		k.redc(&a, &t)
	}
	mul(&t, &a, x)
	k.redc(z, &t)
}

// mul sets t = x·y.
func mul(t *[2 * words]big.Word, x, y *nat) {
	clear(t[:])
	for i := range words {
		t[i+words] = addMulVVW(t[i:i+words], x[:], y[i])
	}
}

// sqr sets t = x²: each cross product x[i]·x[j] (i < j) once, then all of
// them doubled and the squares x[i]² added, about half the work of mul.
func sqr(t *[2 * words]big.Word, x *nat) {
	clear(t[:])
	for i := range words - 1 {
		t[i+words] = addMulVVW(t[2*i+1:i+words], x[i+1:], x[i])
	}
	var shift, carry uint
	for i := range words {
		lo, hi := uint(t[2*i]), uint(t[2*i+1])
		d0 := lo<<1 | shift
		d1 := hi<<1 | lo>>(bits.UintSize-1)
		shift = hi >> (bits.UintSize - 1)
		sh, sl := bits.Mul(uint(x[i]), uint(x[i]))
		var c uint
		d0, c = bits.Add(d0, sl, carry)
		d1, carry = bits.Add(d1, sh, c)
		t[2*i], t[2*i+1] = big.Word(d0), big.Word(d1)
	}
}

// redc sets z = t·R⁻¹ mod n for t < n·R (Montgomery reduction, one word at
// a time), which leaves z < 2n before the final subtraction.
func (k *PublicKey) redc(z *nat, t *[2 * words]big.Word) {
	var over uint
	for i := range words {
		c := addMulVVW(t[i:i+words], k.n[:], t[i]*k.k)
		var s uint
		s, over = bits.Add(uint(t[i+words]), uint(c), over)
		t[i+words] = big.Word(s)
	}
	r := (*nat)(t[words:])
	if over == 0 && r.less(&k.n) {
		*z = *r
		return
	}
	var b uint
	for i := range words {
		var d uint
		d, b = bits.Sub(uint(r[i]), uint(k.n[i]), b)
		z[i] = big.Word(d)
	}
}

// less reports whether x < y.
func (x *nat) less(y *nat) bool {
	for i := words - 1; i >= 0; i-- {
		if x[i] != y[i] {
			return x[i] < y[i]
		}
	}
	return false
}

// setBytes sets x from Size big-endian bytes.
func (x *nat) setBytes(b []byte) {
	const w = bits.UintSize / 8
	for i := range words {
		p := b[Size-(i+1)*w : Size-i*w]
		if w == 8 {
			x[i] = big.Word(binary.BigEndian.Uint64(p))
		} else {
			x[i] = big.Word(binary.BigEndian.Uint32(p))
		}
	}
}

// fillBytes writes x as Size big-endian bytes.
func (x *nat) fillBytes(b []byte) {
	const w = bits.UintSize / 8
	for i := range words {
		p := b[Size-(i+1)*w : Size-i*w]
		if w == 8 {
			binary.BigEndian.PutUint64(p, uint64(x[i]))
		} else {
			binary.BigEndian.PutUint32(p, uint32(x[i]))
		}
	}
}

// setInt sets x from a non-negative v < 2^4096.
func (x *nat) setInt(v *big.Int) {
	*x = nat{}
	copy(x[:], v.Bits())
}
