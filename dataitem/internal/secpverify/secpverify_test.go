package secpverify

import (
	"math/big"
	mrand "math/rand/v2"
	"testing"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
)

// TestTableMul: the table multiplication equals decred's ScalarMultNonConst
// for scalars at the edges of the digit recoding and random ones.
func TestTableMul(t *testing.T) {
	k, err := secp256k1.GeneratePrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	key, err := NewPublicKey(k.PubKey().SerializeUncompressed())
	if err != nil {
		t.Fatal(err)
	}
	tables := []*table{newTable(&key.q, keyBits), newTable(&key.q, 4), baseTable()}
	var g secp256k1.JacobianPoint
	var one secp256k1.ModNScalar
	one.SetInt(1)
	secp256k1.ScalarBaseMultNonConst(&one, &g)
	order := secp256k1.Params().N
	var scalars []*big.Int
	for _, v := range []int64{0, 1, 2, 63, 64, 65, 127, 128, 511, 512, 513, 1023, 1024, 1025, 2047, 2048} {
		scalars = append(scalars, big.NewInt(v))
	}
	for i := 0; i < 256; i += 3 {
		p := new(big.Int).Lsh(big.NewInt(1), uint(i))
		scalars = append(scalars, p, new(big.Int).Sub(p, big.NewInt(1)))
	}
	scalars = append(scalars, new(big.Int).Sub(order, big.NewInt(1)), new(big.Int).Rsh(order, 1))
	rng := mrand.New(mrand.NewPCG(1, 2))
	for range 200 {
		b := make([]byte, 32)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		scalars = append(scalars, new(big.Int).SetBytes(b))
	}
	for _, v := range scalars {
		var u secp256k1.ModNScalar
		u.SetByteSlice(new(big.Int).Mod(v, order).Bytes())
		for i, tbl := range tables {
			p := &key.q
			if i == len(tables)-1 {
				p = &g
			}
			var want, got secp256k1.JacobianPoint
			secp256k1.ScalarMultNonConst(&u, p, &want)
			tbl.add(&u, &got)
			if !want.EquivalentNonConst(&got) && !(want.Z.IsZero() && got.Z.IsZero()) {
				t.Fatalf("scalar %x, %d-bit table: another point", v, tbl.bits)
			}
		}
	}
}

func TestDigits(t *testing.T) {
	rng := mrand.New(mrand.NewPCG(3, 4))
	for range 1000 {
		b := make([]byte, 32)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		if rng.IntN(4) == 0 {
			b[0] = 0xff
		}
		var u secp256k1.ModNScalar
		u.SetByteSlice(b)
		ub := u.Bytes()
		for _, bits := range []int{4, keyBits, baseBits} {
			half := 1 << (bits - 1)
			d := make([]int, (256+bits)/bits)
			digits(&u, bits, d)
			sum := new(big.Int)
			for i, v := range d {
				if v <= -half || v > half {
					t.Fatalf("digit %d out of range", v)
				}
				sum.Add(sum, new(big.Int).Lsh(big.NewInt(int64(v)), uint(bits*i)))
			}
			if sum.Cmp(new(big.Int).SetBytes(ub[:])) != 0 {
				t.Fatalf("%d-bit digits of %x sum to %x", bits, ub, sum)
			}
		}
	}
}

// BenchmarkNewTable is what a key costs once, on its third verification.
func BenchmarkNewTable(b *testing.B) {
	k, err := secp256k1.GeneratePrivateKey()
	if err != nil {
		b.Fatal(err)
	}
	key, err := NewPublicKey(k.PubKey().SerializeUncompressed())
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		newTable(&key.q, keyBits)
	}
}

// BenchmarkBaseTable is the one-time cost of G's table.
func BenchmarkBaseTable(b *testing.B) {
	var g secp256k1.JacobianPoint
	var one secp256k1.ModNScalar
	one.SetInt(1)
	secp256k1.ScalarBaseMultNonConst(&one, &g)
	for b.Loop() {
		newTable(&g, baseBits)
	}
}
