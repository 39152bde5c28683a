// Package memhash hashes a process's memory as a Merkle tree over fixed 4 KiB pages, so that
// the hash after a message costs a comparison of the memory with the previous one plus the
// SHA-256 of the pages that changed, instead of the SHA-256 of the whole memory.
//
// The tree is RFC 6962's (Certificate Transparency) Merkle Tree Hash: a leaf is
// SHA-256(0x00 || page), an inner node SHA-256(0x01 || left || right), the split of n leaves
// at the largest power of two below n, and the empty memory hashes to SHA-256 of nothing. The
// last page is the remainder of the memory when its length is not a multiple of PageSize.
// The prefixes keep a leaf from ever being taken for a node (second-preimage resistance).
package memhash

import (
	"bytes"
	"crypto/sha256"
	"hash"
)

// PageSize is the size of a leaf: one 4 KiB page (wasm pages are 64 KiB, so a linear memory
// is always a whole number of leaves).
const PageSize = 4096

// Root is the Merkle root of mem, computed from scratch: the reference implementation the
// incremental Tree must agree with, and what a verifier runs on the memory GET /cu/state
// serves.
func Root(mem []byte) [32]byte {
	var t Tree
	t.Reset(mem)
	return t.Root()
}

// Tree is the Merkle tree of one memory, kept between messages so that Update only re-hashes
// the pages that changed. The zero Tree describes no memory yet. A Tree is used by one
// goroutine at a time.
type Tree struct {
	// levels[0] are the leaf hashes, levels[len-1] holds the root alone. An odd node at the
	// end of a level is carried up unchanged, which is RFC 6962's split at the largest power
	// of two.
	levels [][][32]byte
	size   int // bytes of the memory described; -1 before the first Reset
	valid  bool
	h      hash.Hash
	buf    [1 + 2*32]byte
	dirty  []int
}

// Valid reports whether the tree describes a memory (Reset or Update was called).
func (t *Tree) Valid() bool { return t.valid }

// Size is the length of the memory the tree describes.
func (t *Tree) Size() int { return t.size }

// Invalidate forgets the memory, so the next Update hashes everything.
func (t *Tree) Invalidate() { t.valid = false }

// Root returns the tree's root (SHA-256 of nothing for an empty memory).
func (t *Tree) Root() [32]byte {
	if !t.valid || len(t.levels) == 0 || len(t.levels[0]) == 0 {
		return sha256.Sum256(nil)
	}
	return t.levels[len(t.levels)-1][0]
}

// Reset hashes all of mem.
func (t *Tree) Reset(mem []byte) {
	n := pages(len(mem))
	t.levels = t.levels[:0]
	leaves := make([][32]byte, n)
	for i := range leaves {
		leaves[i] = t.leaf(page(mem, i))
	}
	t.levels = append(t.levels, leaves)
	for lv := leaves; len(lv) > 1; {
		up := make([][32]byte, (len(lv)+1)/2)
		for i := range up {
			up[i] = t.node(lv, i)
		}
		t.levels = append(t.levels, up)
		lv = up
	}
	t.size, t.valid = len(mem), true
}

// Update moves the tree from old, the memory it describes (the caller's previous copy), to
// cur, re-hashing only the pages of cur that differ from old's. It returns how many leaves
// it hashed. A tree that describes nothing yet, or an old of another length than the one it
// was built for, is rebuilt from cur.
func (t *Tree) Update(old, cur []byte) int {
	if !t.valid || len(old) != t.size {
		t.Reset(cur)
		return len(t.levels[0])
	}
	t.dirty = t.dirty[:0]
	n := pages(len(cur))
	for i := range n {
		p := page(cur, i)
		if o := page(old, i); len(o) == len(p) && bytes.Equal(o, p) {
			continue
		}
		t.dirty = append(t.dirty, i)
	}
	k := len(t.dirty)
	t.apply(cur, n)
	return k
}

// CopyUpdate is Update for a caller that keeps its own copy of the memory: dst is the
// memory the tree describes; the pages of src that differ are copied into it (dst grows or
// shrinks to src's length, reallocated when its capacity is short) and re-hashed. It returns
// dst, now equal to src, and the number of leaves hashed. Comparing and copying only the
// changed pages also saves the copy of the unchanged ones.
func (t *Tree) CopyUpdate(dst, src []byte) ([]byte, int) {
	if !t.valid || len(dst) != t.size {
		dst = resize(dst, len(src))
		copy(dst, src)
		t.Reset(dst)
		return dst, len(t.levels[0])
	}
	old := len(dst)
	dst = resize(dst, len(src))
	t.dirty = t.dirty[:0]
	n := pages(len(src))
	for i := range n {
		s := page(src, i)
		lo := i * PageSize
		d := dst[lo : lo+len(s)]
		oldLen := 0
		if lo < old {
			oldLen = min(PageSize, old-lo)
		}
		// A page whose length changed (the partial last one) is new even with equal bytes.
		if oldLen == len(s) && bytes.Equal(d, s) {
			continue
		}
		copy(d, s)
		t.dirty = append(t.dirty, i)
	}
	k := len(t.dirty)
	t.apply(dst, n)
	return dst, k
}

// apply re-hashes the dirty leaves of mem (n pages) and the nodes above them.
func (t *Tree) apply(mem []byte, n int) {
	resized := n != len(t.levels[0])
	if resized {
		t.levels[0] = resizeLevel(t.levels[0], n)
	}
	for _, i := range t.dirty {
		t.levels[0][i] = t.leaf(page(mem, i))
	}
	t.size = len(mem)
	dirty := t.dirty
	l := 0
	for ; len(t.levels[l]) > 1; l++ {
		lv := t.levels[l]
		un := (len(lv) + 1) / 2
		if l+1 == len(t.levels) {
			t.levels = append(t.levels, nil)
		}
		if len(t.levels[l+1]) != un {
			t.levels[l+1] = resizeLevel(t.levels[l+1], un)
			resized = true
		}
		// Parents of the dirty nodes (dirty is ascending, so are they); after a resize the
		// last parent may have turned from a pair into a carried node or back.
		w := 0
		for _, i := range dirty {
			if p := i / 2; w == 0 || dirty[w-1] != p {
				dirty[w] = p
				w++
			}
		}
		dirty = dirty[:w]
		if resized && (w == 0 || dirty[w-1] != un-1) {
			dirty = append(dirty, un-1)
		}
		up := t.levels[l+1]
		for _, i := range dirty {
			up[i] = t.node(lv, i)
		}
	}
	// A memory that shrank to fewer levels drops the ones above its root.
	t.levels = t.levels[:l+1]
	t.dirty = dirty[:0]
}

func (t *Tree) leaf(p []byte) [32]byte {
	if t.h == nil {
		t.h = sha256.New()
	}
	t.h.Reset()
	t.buf[0] = 0
	t.h.Write(t.buf[:1])
	t.h.Write(p)
	var out [32]byte
	t.h.Sum(out[:0])
	return out
}

// node is node i of the level above lv: the hash of its two children, or its only child.
func (t *Tree) node(lv [][32]byte, i int) [32]byte {
	if 2*i+1 >= len(lv) {
		return lv[2*i]
	}
	t.buf[0] = 1
	copy(t.buf[1:33], lv[2*i][:])
	copy(t.buf[33:], lv[2*i+1][:])
	return sha256.Sum256(t.buf[:])
}

func pages(n int) int { return (n + PageSize - 1) / PageSize }

func page(mem []byte, i int) []byte {
	lo := i * PageSize
	if lo >= len(mem) {
		return nil
	}
	return mem[lo:min(lo+PageSize, len(mem))]
}

func resize(b []byte, n int) []byte {
	if cap(b) >= n {
		return b[:n]
	}
	nb := make([]byte, n)
	copy(nb, b)
	return nb
}

func resizeLevel(l [][32]byte, n int) [][32]byte {
	if cap(l) >= n {
		return l[:n]
	}
	nl := make([][32]byte, n, n+n/4)
	copy(nl, l)
	return nl
}
