//go:build math_big_pure_go

package rsa4096

import (
	"math/big"
	"math/bits"
)

// addMulVVW sets z += x·y over len(z) words and returns the carry word (the
// Go version of math/big's kernel, for builds without it).
func addMulVVW(z, x []big.Word, y big.Word) (c big.Word) {
	x = x[:len(z)]
	for i := range z {
		hi, lo := bits.Mul(uint(x[i]), uint(y))
		var cc uint
		lo, cc = bits.Add(lo, uint(z[i]), 0)
		hi += cc
		lo, cc = bits.Add(lo, uint(c), 0)
		hi += cc
		z[i], c = big.Word(lo), big.Word(hi)
	}
	return c
}
