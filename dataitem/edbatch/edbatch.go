// Package edbatch makes many ed25519 signatures with one key at a lower cost each than
// crypto/ed25519, and byte-identical to it (RFC 8032 signatures are deterministic).
//
// Most of an ed25519 signature's cost is R = r·B, and about a third of that is the field
// inversion that turns R into its 32-byte encoding. A batch computes every R in projective
// form and inverts all their Z coordinates together (Montgomery's trick: one inversion and
// three multiplications per extra element), which is where the saving comes from. A
// scheduler signing assignments for many processes at once is the intended user.
//
// Only the public point arithmetic of filippo.io/edwards25519 is used (constant-time
// ScalarBaseMult, field and scalar operations), so the secret nonce and key never meet
// variable-time code.
package edbatch

import (
	"crypto/ed25519"
	"crypto/sha512"
	"crypto/subtle"
	"errors"
	"fmt"

	"filippo.io/edwards25519"
	"filippo.io/edwards25519/field"
)

// Key is an expanded ed25519 private key. It is safe for concurrent use.
type Key struct {
	s      edwards25519.Scalar // the clamped secret scalar
	prefix [32]byte            // the nonce key: second half of SHA-512(seed)
	pub    [32]byte
}

// NewKey expands priv once, so that signing does not hash the seed again each time.
func NewKey(priv ed25519.PrivateKey) (*Key, error) {
	if len(priv) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("edbatch: private key is %d bytes, want %d", len(priv), ed25519.PrivateKeySize)
	}
	h := sha512.Sum512(priv.Seed())
	s, err := edwards25519.NewScalar().SetBytesWithClamping(h[:32])
	if err != nil {
		return nil, fmt.Errorf("edbatch: %w", err)
	}
	k := &Key{s: *s}
	copy(k.prefix[:], h[32:])
	// A private key whose public half does not belong to its seed would sign with one key
	// and name another; crypto/ed25519 does not check this, so refuse it here.
	A := new(edwards25519.Point).ScalarBaseMult(s)
	if subtle.ConstantTimeCompare(A.Bytes(), priv[32:]) != 1 {
		return nil, errors.New("edbatch: public half of the private key does not match its seed")
	}
	copy(k.pub[:], priv[32:])
	return k, nil
}

// Public returns the public key.
func (k *Key) Public() ed25519.PublicKey { return ed25519.PublicKey(append([]byte(nil), k.pub[:]...)) }

// Scratch holds the per-message working state of a batch; reusing one across calls of Sign
// saves its allocations. The zero value is ready to use; it is not safe for concurrent use.
type Scratch struct {
	r    []edwards25519.Scalar
	R    []edwards25519.Point
	prod []field.Element
}

func (s *Scratch) grow(n int) {
	if cap(s.r) < n {
		s.r = make([]edwards25519.Scalar, n)
		s.R = make([]edwards25519.Point, n)
		s.prod = make([]field.Element, n)
	}
	s.r, s.R, s.prod = s.r[:n], s.R[:n], s.prod[:n]
}

// Sign writes into sigs[i] the signature of msgs[i], exactly what ed25519.Sign would
// return for the same key and message. sigs must have len(msgs) entries; each is reused when
// it has room for 64 bytes and allocated otherwise. scratch may be nil.
func (k *Key) Sign(msgs [][]byte, sigs [][]byte, scratch *Scratch) {
	if len(sigs) != len(msgs) {
		panic("edbatch: len(sigs) != len(msgs)")
	}
	n := len(msgs)
	if n == 0 {
		return
	}
	if scratch == nil {
		scratch = new(Scratch)
	}
	scratch.grow(n)
	var digest [64]byte
	h := sha512.New()
	// R_i = r_i·B with r_i = SHA-512(prefix || M_i) mod L, left in projective form; prod
	// accumulates Z_0·…·Z_{i-1} for the batched inversion below.
	var acc field.Element
	acc.One()
	for i, m := range msgs {
		h.Reset()
		h.Write(k.prefix[:])
		h.Write(m)
		if _, err := scratch.r[i].SetUniformBytes(h.Sum(digest[:0])); err != nil {
			panic("edbatch: " + err.Error()) // 64 bytes are always accepted
		}
		scratch.R[i].ScalarBaseMult(&scratch.r[i])
		_, _, Z, _ := scratch.R[i].ExtendedCoordinates()
		scratch.prod[i].Set(&acc)
		acc.Multiply(&acc, Z)
	}
	// acc = 1/(Z_0·…·Z_{n-1}); walking back, prod[i]·acc = 1/Z_i and acc·Z_i drops Z_i.
	// Z is never zero for a point on the curve, so the product is invertible.
	acc.Invert(&acc)
	var zinv, x, y field.Element
	var s edwards25519.Scalar
	for i := n - 1; i >= 0; i-- {
		X, Y, Z, _ := scratch.R[i].ExtendedCoordinates()
		zinv.Multiply(&scratch.prod[i], &acc)
		acc.Multiply(&acc, Z)
		x.Multiply(X, &zinv)
		y.Multiply(Y, &zinv)
		sig := sigs[i]
		if cap(sig) < ed25519.SignatureSize {
			sig = make([]byte, ed25519.SignatureSize)
		}
		sig = sig[:ed25519.SignatureSize]
		copy(sig[:32], y.Bytes())
		sig[31] |= byte(x.IsNegative() << 7)
		// S = (SHA-512(R || A || M) mod L)·s + r mod L.
		h.Reset()
		h.Write(sig[:32])
		h.Write(k.pub[:])
		h.Write(msgs[i])
		if _, err := s.SetUniformBytes(h.Sum(digest[:0])); err != nil {
			panic("edbatch: " + err.Error())
		}
		s.MultiplyAdd(&s, &k.s, &scratch.r[i])
		copy(sig[32:], s.Bytes())
		sigs[i] = sig
	}
}
