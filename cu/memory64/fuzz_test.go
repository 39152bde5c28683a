package memory64

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"sync"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/aonode/aonode/cu/wasmcheck"
)

var (
	fuzzRTOnce sync.Once
	fuzzRT     wazero.Runtime
)

// fuzzRuntime is one compiler runtime for every fuzz iteration (closed with the process).
func fuzzRuntime() wazero.Runtime {
	fuzzRTOnce.Do(func() {
		fuzzRT = wazero.NewRuntimeWithConfig(context.Background(), wazero.NewRuntimeConfigCompiler().WithCoreFeatures(api.CoreFeaturesV2))
	})
	return fuzzRT
}

// FuzzLower feeds arbitrary bytes to Lower: it must return an error or a module that Lower
// reads back as having no 64-bit memory (so every section it wrote parses), and wazero must
// either compile that module or reject it. As in the CU, only modules wasmcheck.Check admits
// reach wazero (its decoder allocates whatever sizes a module declares).
func FuzzLower(f *testing.F) {
	f.Add(coverage().encode())
	small := differential(4, 4)
	small.ops = small.ops[:40]
	f.Add(small.module().encode())
	f.Add(testModule{mem: memType{min: 1, max: MaxPages, is64: true}, funcs: [][]byte{code{}.i64(5).i32(1).i64(3).op(0xfc, 11, 0).i64(0).body()}}.encode())
	f.Add(testModule{mem: memType{min: 1, noMax: true, is64: true}}.encode())
	f.Add([]byte("\x00asm\x01\x00\x00\x00\x05\x04\x01\x05\x01\x02"))
	f.Fuzz(func(t *testing.T, wasm []byte) {
		out, err := Lower(wasm)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrUnsupported) && !errors.Is(err, ErrNotMemory64) {
				t.Fatalf("error of no known kind: %v", err)
			}
			return
		}
		if _, err := Lower(out); !errors.Is(err, ErrNotMemory64) {
			t.Fatalf("lowered module read back: %v", err)
		}
		if len(out) > 32*len(wasm)+64 {
			t.Fatalf("lowered module of %d bytes from %d", len(out), len(wasm))
		}
		if wasmcheck.Check(wasm) != nil {
			return
		}
		ctx := context.Background()
		if cm, err := fuzzRuntime().CompileModule(ctx, out); err == nil {
			_ = cm.Close(ctx)
		}
	})
}

// FuzzProgram builds a valid memory64 module from the fuzzer's bytes — a memory type, data
// segments and a list of memory operations — and checks that it lowers, compiles in wazero
// and behaves as the memory64 model says, operation by operation.
func FuzzProgram(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16})
	f.Add(bytes.Repeat([]byte{0xff, 0x10, 0x80, 0x3f}, 16))
	f.Add([]byte{4, 3, 7, 2, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 1, 0, 0, 0, 0, 0, 0, 2, 5, 5, 5})
	f.Fuzz(func(t *testing.T, data []byte) {
		programFrom(data).run(t, fuzzRuntime())
	})
}

// bytesReader hands out the fuzzer's bytes, then zeros.
type bytesReader struct{ b []byte }

func (r *bytesReader) byte() byte {
	if len(r.b) == 0 {
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *bytesReader) u64() uint64 {
	var w [8]byte
	n := copy(w[:], r.b)
	r.b = r.b[n:]
	return binary.LittleEndian.Uint64(w[:])
}

func (r *bytesReader) bytes(n int) []byte {
	out := make([]byte, n)
	for i := range out {
		out[i] = r.byte()
	}
	return out
}

// pick is an interesting value for the current memory size, or 8 raw bytes.
func (r *bytesReader) pick(size uint64) uint64 {
	c := r.byte()
	vals := interesting(size)
	if int(c) < len(vals) {
		return vals[c]
	}
	if c < 128 {
		return uint64(c) // small values
	}
	return r.u64()
}

func programFrom(data []byte) program {
	r := &bytesReader{b: data}
	c := r.byte()
	minPages := uint64(c % 3)
	maxPages := []uint64{minPages, minPages + 1, 4, MaxPages, MaxPages - 1}[int(c/3)%5]
	p := program{mem: memType{min: minPages, max: maxPages, is64: true}}
	nseg := int(r.byte() % 4)
	for i := 0; i < nseg; i++ {
		s := dataSeg{passive: r.byte()%2 == 0, bytes: r.bytes(int(r.byte() % 24))}
		if !s.passive {
			s.offset = int64(r.pick(minPages<<16) & 0xffffffff) // beyond 4 GiB is refused
		}
		p.data = append(p.data, s)
	}
	pages := minPages
	for len(r.b) > 0 && len(p.ops) < 64 {
		size := pages << 16
		var o progOp
		switch k := r.byte() % 10; k {
		case 0, 1, 2, 3:
			a := &accesses[int(r.byte())%len(accesses)]
			o = progOp{kind: opAccess, acc: a, addr: r.pick(size)}
			if r.byte()%2 == 0 {
				o.offset = r.pick(size)
			}
			if a.store || a.isLane {
				o.val = notNaN(a.vtype, r.bytes(valueSize[a.vtype]))
			}
		case 4:
			o = progOp{kind: opSize}
		case 5:
			o = progOp{kind: opGrow, n: r.pick(size)}
			if o.n <= maxPages-pages {
				if pages+o.n > 8 {
					o.n = 1 << 32 // keep real memories small: grow only when it stays tiny
				} else {
					pages += o.n
				}
			}
		case 6:
			o = progOp{kind: opFill, d: r.pick(size), n: r.pick(size), fill: r.byte()}
		case 7:
			o = progOp{kind: opCopy, d: r.pick(size), s: r.pick(size), n: r.pick(size)}
		case 8, 9:
			// Passive segments only: wazero keeps an active segment after instantiation
			// where the spec drops it, which has nothing to do with the lowering.
			var passive []uint32
			for i, s := range p.data {
				if s.passive {
					passive = append(passive, uint32(i))
				}
			}
			if len(passive) == 0 {
				o = progOp{kind: opSize}
				break
			}
			seg := passive[int(r.byte())%len(passive)]
			o = progOp{kind: opInit, seg: seg, d: r.pick(size), s: r.pick(size) & 0xffffffff, n: r.pick(size) & 0xffffffff}
			if k == 9 && r.byte()%4 == 0 {
				o = progOp{kind: opDataDrop, seg: seg}
			}
		}
		p.ops = append(p.ops, o)
	}
	return p
}
