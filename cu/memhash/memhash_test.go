package memhash

import (
	"bytes"
	"crypto/sha256"
	"math/rand/v2"
	"testing"
)

// mth is RFC 6962's Merkle Tree Hash written from its recursive definition, the oracle the
// level-by-level Tree must match.
func mth(leaves [][]byte) [32]byte {
	switch len(leaves) {
	case 0:
		return sha256.Sum256(nil)
	case 1:
		return sha256.Sum256(append([]byte{0}, leaves[0]...))
	}
	k := 1
	for k*2 < len(leaves) {
		k *= 2
	}
	l, r := mth(leaves[:k]), mth(leaves[k:])
	return sha256.Sum256(append(append([]byte{1}, l[:]...), r[:]...))
}

func oracle(mem []byte) [32]byte {
	var leaves [][]byte
	for lo := 0; lo < len(mem); lo += PageSize {
		leaves = append(leaves, mem[lo:min(lo+PageSize, len(mem))])
	}
	return mth(leaves)
}

func TestRootMatchesRFC6962(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{0, 1, PageSize - 1, PageSize, PageSize + 1, 3 * PageSize, 5*PageSize + 7, 6 * PageSize, 17 * PageSize, 64 * PageSize} {
		mem := make([]byte, n)
		for i := range mem {
			mem[i] = byte(rng.Uint32())
		}
		if Root(mem) != oracle(mem) {
			t.Fatalf("%d bytes: root differs from RFC 6962's MTH", n)
		}
	}
	// One leaf is not a node: a single page of 64 bytes never hashes like two leaves' node.
	if Root(make([]byte, 64)) == sha256.Sum256(make([]byte, 64)) {
		t.Fatal("leaf hashed without its prefix")
	}
}

// TestIncremental applies random edits, growths and shrinks through Update and CopyUpdate
// and checks every root against a full recomputation.
func TestIncremental(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var a, b Tree
	var mem, kept []byte
	prev := []byte(nil)
	for step := range 400 {
		next := bytes.Clone(mem)
		switch rng.IntN(6) {
		case 0: // grow, sometimes to an unaligned length
			add := rng.IntN(5*PageSize) + 1
			if rng.IntN(2) == 0 {
				add = PageSize * (rng.IntN(5) + 1)
			}
			next = append(next, make([]byte, add)...)
			for i := len(mem); i < len(next); i++ {
				next[i] = byte(rng.Uint32())
			}
		case 1: // shrink
			if len(next) > 0 {
				next = next[:rng.IntN(len(next)+1)]
			}
		default: // a few byte edits
			for range rng.IntN(8) {
				if len(next) > 0 {
					next[rng.IntN(len(next))] ^= byte(rng.IntN(255) + 1)
				}
			}
		}
		a.Update(prev, next)
		var hashed int
		kept, hashed = b.CopyUpdate(kept, next)
		if !bytes.Equal(kept, next) {
			t.Fatalf("step %d: CopyUpdate's copy differs", step)
		}
		want := oracle(next)
		if a.Root() != want || b.Root() != want {
			t.Fatalf("step %d (%d bytes): incremental root differs", step, len(next))
		}
		if hashed > pages(len(next)) {
			t.Fatalf("step %d: hashed %d of %d pages", step, hashed, pages(len(next)))
		}
		prev, mem = next, next
	}
}

func TestUnchangedHashesNothing(t *testing.T) {
	mem := make([]byte, 40*PageSize)
	var tr Tree
	tr.Update(nil, mem)
	cur := bytes.Clone(mem)
	cur[5*PageSize+3] = 1
	cur[39*PageSize] = 2
	if n := tr.Update(mem, cur); n != 2 {
		t.Fatalf("hashed %d pages, 2 changed", n)
	}
	if n := tr.Update(cur, cur); n != 0 {
		t.Fatalf("hashed %d pages, none changed", n)
	}
	if tr.Root() != oracle(cur) {
		t.Fatal("root")
	}
}

func BenchmarkFullSHA256(b *testing.B) {
	mem := make([]byte, 16<<20)
	b.SetBytes(int64(len(mem)))
	for b.Loop() {
		sha256.Sum256(mem)
	}
}

// BenchmarkCopyUpdate: a 16 MiB memory of which 8 pages changed, the copy included.
func BenchmarkCopyUpdate(b *testing.B) {
	mem := make([]byte, 16<<20)
	var tr Tree
	kept, _ := tr.CopyUpdate(nil, mem)
	b.SetBytes(int64(len(mem)))
	for i := 0; b.Loop(); i++ {
		for k := range 8 {
			mem[(k*517+i*31)%len(mem)]++
		}
		kept, _ = tr.CopyUpdate(kept, mem)
	}
}
