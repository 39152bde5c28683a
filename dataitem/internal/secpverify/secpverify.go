// Package secpverify checks secp256k1 ECDSA signatures that carry a recovery
// id (r‖s‖v, as Ethereum's personal_sign makes them) against a public key
// known in advance, accepting exactly the signatures for which public-key
// recovery (decred's ecdsa.RecoverCompact with recovery id 0 or 1) yields
// that key.
//
// Why not recover: recovery costs a square root (to rebuild R from r), a
// field inversion and two scalar multiplications, one of them by R, a point
// seen once. Verification multiplies the owner's key instead, a point an SU
// sees again and again, so the multiples of each key a multiplication needs
// can be computed once and kept: the variable-base multiplication, 70 % of a
// recovery, then costs additions only, like the base-point one.
//
// Why it accepts the same set: recovery with id v succeeds and gives Q iff R =
// (r, y) with y of parity v is on the curve and Q = r⁻¹(sR − eG). Solving for
// R, that is R = s⁻¹e·G + s⁻¹r·Q. So Verify computes that point and requires
// its affine x to be r itself (not r + N, which only recovery id 2 or 3
// selects) and the parity of its y to be v; plain ECDSA verification would
// also accept x = r + N and either parity.
//
// Everything here runs in variable time: it handles only public data.
package secpverify

import (
	"errors"
	"math/big"
	"sync"
	"sync/atomic"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
)

// keyBits is the width of the signed digits of the scalar that multiplies a
// key: ⌈257/7⌉ = 37 additions per multiplication, and a table of 37 × 64
// affine points (190 KB) per key. Narrower windows cost more additions, wider
// ones more memory and a slower build.
const keyBits = 7

// baseBits is the same for the base point G, whose one table (26 × 512
// points, 1 MB, built on first use in about 22 ms of CPU) is shared: 26
// additions where decred's ScalarBaseMultNonConst makes 32 (20 µs instead of
// 23 µs; 11 bits would save 1.5 µs more for twice the memory and build).
const baseBits = 10

// tableAfter is how many verifications a key gets before its table is
// built. The build (about 3.6 ms of CPU) costs what the table saves in about
// 30 verifications (decred's variable-base multiplication is some 110 µs
// slower than the 37 additions), so a key seen a few times does not pay it,
// and one seen again and again pays it back soon.
const tableAfter = 8

// affine is a table point, normalised, with z = 1 implied.
type affine struct{ x, y secp256k1.FieldVal }

// table holds, for a point P, d·2^(bits·i)·P for every window i and d in
// 1..2^(bits−1), row after row.
type table struct {
	bits int
	pts  []affine
}

func (t *table) windows() int { return (256 + t.bits) / t.bits } // 257 bits: the top digit may carry
func (t *table) half() int    { return 1 << (t.bits - 1) }

var baseTable = sync.OnceValue(func() *table {
	var g secp256k1.JacobianPoint
	var one secp256k1.ModNScalar
	one.SetInt(1)
	secp256k1.ScalarBaseMultNonConst(&one, &g)
	g.ToAffine()
	return newTable(&g, baseBits)
})

// PublicKey is a parsed key plus, once it has been used tableAfter times,
// its table of multiples. Safe for concurrent use.
type PublicKey struct {
	q     secp256k1.JacobianPoint
	uses  atomic.Int32
	build sync.Once
	tbl   atomic.Pointer[table]
}

// NewPublicKey parses a 65-byte uncompressed key (0x04 ‖ X ‖ Y) on the
// curve, as secp256k1.ParsePubKey does.
func NewPublicKey(uncompressed []byte) (*PublicKey, error) {
	if len(uncompressed) != 65 || uncompressed[0] != 4 {
		return nil, errors.New("not an uncompressed secp256k1 key")
	}
	pub, err := secp256k1.ParsePubKey(uncompressed)
	if err != nil {
		return nil, err
	}
	k := &PublicKey{}
	pub.AsJacobian(&k.q)
	return k, nil
}

// Verify reports whether recovering the key from the signature (r, s) with
// recovery id oddY (0 or 1) over digest gives k. r and s must be in
// [1, N−1]; the low-S and v-byte rules are the caller's, as for recovery.
func (k *PublicKey) Verify(digest []byte, r, s *secp256k1.ModNScalar, oddY bool) bool {
	if r.IsZero() || s.IsZero() {
		return false
	}
	var e secp256k1.ModNScalar
	e.SetByteSlice(digest)
	w := new(secp256k1.ModNScalar).InverseValNonConst(s)
	u1 := new(secp256k1.ModNScalar).Mul2(&e, w)
	u2 := new(secp256k1.ModNScalar).Mul2(r, w)

	var R secp256k1.JacobianPoint
	baseTable().add(u1, &R)
	k.addMul(u2, &R)
	if (R.X.IsZero() && R.Y.IsZero()) || R.Z.IsZero() {
		return false
	}
	// x = r exactly: X = r·Z² checked before paying for the inversion.
	rb := r.Bytes()
	var fr secp256k1.FieldVal
	fr.SetBytes(&rb)
	var z2 secp256k1.FieldVal
	z2.SquareVal(&R.Z)
	if !new(secp256k1.FieldVal).Mul2(&fr, &z2).Normalize().Equals(&R.X) {
		return false
	}
	// y = Y/Z³. math/big's variable-time inversion is about six times
	// faster than FieldVal.Inverse (an exponentiation, constant time).
	var zb [32]byte
	R.Z.PutBytes(&zb)
	zi := new(big.Int).ModInverse(new(big.Int).SetBytes(zb[:]), fieldPrime)
	zi.FillBytes(zb[:])
	var fzi, fzi3 secp256k1.FieldVal
	fzi.SetBytes(&zb)
	fzi3.SquareVal(&fzi).Mul(&fzi)
	return fzi3.Mul(&R.Y).Normalize().IsOdd() == oddY
}

var fieldPrime = secp256k1.Params().P

// addMul adds u·Q to acc, from the table once there is one.
func (k *PublicKey) addMul(u *secp256k1.ModNScalar, acc *secp256k1.JacobianPoint) {
	t := k.tbl.Load()
	if t == nil {
		if k.uses.Add(1) <= tableAfter {
			var uQ secp256k1.JacobianPoint
			secp256k1.ScalarMultNonConst(u, &k.q, &uQ)
			secp256k1.AddNonConst(acc, &uQ, acc)
			return
		}
		k.build.Do(func() { k.tbl.Store(newTable(&k.q, keyBits)) })
		t = k.tbl.Load()
	}
	t.add(u, acc)
}

// digits recodes u into signed base-2^bits digits, least significant first:
// u = Σ d[i]·2^(bits·i), d[i] in [−2^(bits−1)+1, 2^(bits−1)].
func digits(u *secp256k1.ModNScalar, bits int, d []int) {
	b := u.Bytes() // big-endian
	half := 1 << (bits - 1)
	carry := 0
	for i := range d {
		v := carry
		for j := range bits {
			bit := i*bits + j
			if bit < 256 && b[31-bit/8]>>(bit%8)&1 == 1 {
				v += 1 << j
			}
		}
		carry = 0
		if v > half {
			v -= 1 << bits
			carry = 1
		}
		d[i] = v
	}
}

// add adds u·P to acc.
func (t *table) add(u *secp256k1.ModNScalar, acc *secp256k1.JacobianPoint) {
	var buf [65]int // windows() for bits ≥ 4
	d := buf[:t.windows()]
	digits(u, t.bits, d)
	half := t.half()
	var p secp256k1.JacobianPoint
	p.Z.SetInt(1)
	for i, v := range d {
		switch {
		case v > 0:
			a := &t.pts[i*half+v-1]
			p.X.Set(&a.x)
			p.Y.Set(&a.y)
		case v < 0:
			a := &t.pts[i*half-v-1]
			p.X.Set(&a.x)
			p.Y.NegateVal(&a.y, 1).Normalize()
		default:
			continue
		}
		secp256k1.AddNonConst(acc, &p, acc)
	}
}

// newTable computes the multiples in Jacobian coordinates, then makes them
// affine with a single inversion (Montgomery's trick).
func newTable(q *secp256k1.JacobianPoint, bits int) *table {
	t := &table{bits: bits}
	half := t.half()
	jac := make([]secp256k1.JacobianPoint, t.windows()*half)
	var base secp256k1.JacobianPoint
	base.Set(q)
	for i := range t.windows() {
		row := jac[i*half : (i+1)*half]
		row[0].Set(&base)
		for j := 1; j < half; j++ {
			secp256k1.AddNonConst(&row[j-1], &base, &row[j])
		}
		secp256k1.DoubleNonConst(&row[half-1], &base) // 2·half·base = 2^bits·base
	}
	// prefix[i] = z_0·…·z_i; no z is zero: the multiples are d·2^k·P with
	// d < N, and N is an odd prime, so none is the point at infinity.
	prefix := make([]secp256k1.FieldVal, len(jac))
	prefix[0].Set(&jac[0].Z)
	for i := 1; i < len(jac); i++ {
		prefix[i].Mul2(&prefix[i-1], &jac[i].Z)
	}
	var inv secp256k1.FieldVal
	inv.Set(&prefix[len(jac)-1]).Inverse()
	t.pts = make([]affine, len(jac))
	for i := len(jac) - 1; i >= 0; i-- {
		var zi secp256k1.FieldVal // 1/z_i
		if i > 0 {
			zi.Mul2(&inv, &prefix[i-1])
			inv.Mul(&jac[i].Z)
		} else {
			zi.Set(&inv)
		}
		var zi2, zi3 secp256k1.FieldVal
		zi2.SquareVal(&zi)
		zi3.Mul2(&zi2, &zi)
		a := &t.pts[i]
		a.x.Mul2(&jac[i].X, &zi2).Normalize()
		a.y.Mul2(&jac[i].Y, &zi3).Normalize()
	}
	return t
}
