//go:build !math_big_pure_go

package rsa4096

import (
	"math/big"
	_ "unsafe" // for go:linkname
)

// addMulVVW sets z += x·y over len(z) words and returns the carry word.
//
// It is math/big's assembly kernel (MULX/ADCX/ADOX where the CPU has them),
// the inner loop of math/big's own Montgomery multiplication, and about twice
// as fast as the same loop written in Go, which is what makes this package
// worth having. math/big keeps the symbol reachable by linkname on purpose
// ("Do not remove or change the type signature", go.dev/issue/67401); the
// build tag math_big_pure_go, which removes it, selects addmul_pure.go.
//
//go:linkname addMulVVW math/big.addMulVVW
//go:noescape
func addMulVVW(z, x []big.Word, y big.Word) (c big.Word)
