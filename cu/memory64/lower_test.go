package memory64

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"os"
	"strings"
	"testing"

	"github.com/tetratelabs/wazero"

	"github.com/aonode/aonode/node/fixtures"
)

// interesting are addresses around the memory's end, 2^31, 2^32 and 2^64.
func interesting(size uint64) []uint64 {
	return []uint64{0, 1, 7, size - 16, size - 9, size - 8, size - 1, size, size + 1, 0xffff, 0x10000,
		1<<31 - 1, 1 << 31, 1<<32 - 16, 1<<32 - 8, 1<<32 - 1, 1 << 32, 1<<32 + 1, 1<<32 + 8, 1<<32 + size - 8,
		1 << 63, 1<<64 - 16, 1<<64 - 1}
}

var offsets = []uint64{0, 1, 8, 0xffff, 1 << 31, 1<<32 - 1, 1 << 32, 1<<32 + 1, 1 << 63, 1<<64 - 1}

var valueSize = map[byte]int{valI32: 4, valF32: 4, valI64: 8, valF64: 8, valV128: 16}

// value returns random bytes for a stored value of type t.
func value(rng *rand.Rand, t byte) []byte {
	b := make([]byte, valueSize[t])
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return notNaN(t, b)
}

// notNaN makes float bits b a number: an engine may canonicalise a NaN's bits.
func notNaN(t byte, b []byte) []byte {
	switch t {
	case valF32:
		if v := binary.LittleEndian.Uint32(b); v>>23&0xff == 0xff {
			binary.LittleEndian.PutUint32(b, v&^(1<<30))
		}
	case valF64:
		if v := binary.LittleEndian.Uint64(b); v>>52&0x7ff == 0x7ff {
			binary.LittleEndian.PutUint64(b, v&^(1<<62))
		}
	}
	return b
}

func accessOp(rng *rand.Rand, a *access, addr, offset uint64) progOp {
	o := progOp{kind: opAccess, acc: a, addr: addr, offset: offset}
	if a.store || a.isLane {
		o.val = value(rng, a.vtype)
	}
	return o
}

// differential is the hand-built program: every access at every interesting address and
// offset, the bulk operations around the end of memory and 2^32, growth up to and past the
// maximum, and data segments.
func differential(maxPages uint64, growTo uint64) program {
	rng := rand.New(rand.NewPCG(1, 2))
	const pages = 2
	p := program{mem: memType{min: pages, max: maxPages, is64: true}, data: []dataSeg{
		{offset: 16, bytes: []byte("hello, memory64")},
		{offset: pages<<16 - 4, bytes: []byte{1, 2, 3, 4}},
		{passive: true, bytes: value(rng, valV128)},
		{passive: true, bytes: bytes.Repeat([]byte{0xab, 0xcd}, 50)},
	}}
	accessesAt := func(size uint64) {
		for i := range accesses {
			a := &accesses[i]
			for _, addr := range interesting(size) {
				p.ops = append(p.ops, accessOp(rng, a, addr, 0))
			}
			for _, off := range offsets {
				for _, addr := range []uint64{0, size - 8, 1<<32 - 8} {
					p.ops = append(p.ops, accessOp(rng, a, addr, off))
				}
			}
		}
	}
	bulk := func(size uint64) {
		lens := []uint64{0, 1, 16, 1 << 32, 1<<32 + 1, 1<<64 - 1}
		for _, d := range interesting(size) {
			for _, n := range append(lens, size-min(d, size)) {
				p.ops = append(p.ops, progOp{kind: opFill, d: d, n: n, fill: byte(rng.Uint32())})
			}
			for _, s := range []uint64{0, size - 16, size, 1 << 32, 1<<64 - 1} {
				for _, n := range []uint64{0, 1, 16, 1 << 32, 1<<64 - 1} {
					p.ops = append(p.ops, progOp{kind: opCopy, d: d, s: s, n: n})
				}
			}
			for _, sn := range [][2]uint64{{0, 0}, {0, 1}, {3, 50}, {0, 100}, {99, 1}, {100, 0}, {100, 1}, {0, 0xffffffff}} {
				p.ops = append(p.ops, progOp{kind: opInit, seg: 3, d: d, s: sn[0], n: sn[1]})
			}
		}
	}
	size := uint64(pages << 16)
	p.ops = append(p.ops, progOp{kind: opSize})
	accessesAt(size)
	bulk(size)
	for _, delta := range []uint64{0, 1<<32 + 1, 1 << 32, 1<<63 + 1, 1<<64 - 1, maxPages + 1, growTo - pages} {
		p.ops = append(p.ops, progOp{kind: opGrow, n: delta}, progOp{kind: opSize})
	}
	p.ops = append(p.ops, progOp{kind: opGrow, n: 1}, progOp{kind: opSize}) // past the maximum, or not
	size = growTo << 16
	accessesAt(size)
	bulk(size)
	p.ops = append(p.ops, progOp{kind: opDataDrop, seg: 3},
		progOp{kind: opInit, seg: 3, n: 0}, progOp{kind: opInit, seg: 3, n: 1}, progOp{kind: opInit, seg: 0, n: 0, d: 1})
	return p
}

// TestDifferential runs the hand-built program on wazero's compiler and interpreter, for a
// memory whose maximum is below 4 GiB (saturated addresses) and one whose maximum is 4 GiB
// (explicit checks), and compares every result, trap and byte of memory with the model.
func TestDifferential(t *testing.T) {
	for name, p := range map[string]program{
		"max 4 pages":   differential(4, 4),
		"max 4 GiB":     differential(MaxPages, 5),
		"no growth":     differential(2, 2),
		"max 4 GiB - 1": differential(MaxPages-1, 3),
	} {
		for rtName, cfg := range runtimeConfigs {
			t.Run(name+"/"+rtName, func(t *testing.T) {
				t.Parallel()
				p.run(t, newRuntime(t, cfg()))
			})
		}
	}
}

// TestDataSegments checks that active segments land where a 64-bit memory puts them, that
// one beyond the memory fails instantiation, and that one beyond 4 GiB is refused.
func TestDataSegments(t *testing.T) {
	rt := newRuntime(t, wazero.NewRuntimeConfigCompiler())
	load := func(at uint64) progOp { return progOp{kind: opAccess, acc: &accesses[1], addr: at} }
	cases := map[string]program{
		"at 0 and the end": {mem: memType{min: 1, max: 1, is64: true},
			data: []dataSeg{{offset: 0, bytes: []byte("abcdefgh")}, {offset: 1<<16 - 8, bytes: []byte("ijklmnop")}},
			ops:  []progOp{load(0), load(1<<16 - 8)}},
		"beyond the memory": {mem: memType{min: 1, max: 2, is64: true},
			data: []dataSeg{{offset: 1<<16 - 3, bytes: []byte("abcd")}}},
		"at 2^31 (i32.const is negative), beyond the memory": {mem: memType{min: 1, max: 2, is64: true},
			data: []dataSeg{{offset: 1 << 31, bytes: []byte("x")}}},
	}
	if os.Getenv("AONODE_SOAK") != "" { // a 2 GiB memory
		cases["at 2^31 + 1 (i32.const is negative)"] = program{mem: memType{min: 1<<15 + 1, max: 1<<15 + 1, is64: true},
			data: []dataSeg{{offset: 1<<31 + 1, bytes: []byte("xyz")}},
			ops:  []progOp{load(1<<31 - 8), load(1 << 31)}}
	}
	for name, p := range cases {
		t.Run(name, func(t *testing.T) { p.run(t, rt) })
	}
	for _, off := range []int64{1 << 32, -1, 1<<32 + 16} {
		m := testModule{mem: memType{min: 1, max: 1, is64: true}, data: []dataSeg{{offset: off, bytes: []byte("x")}}}
		if _, err := Lower(m.encode()); !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "beyond 4 GiB") {
			t.Errorf("segment at %#x: %v, want refused", uint64(off), err)
		}
	}
}

func TestRefusals(t *testing.T) {
	nop := code{}.i64(0).body()
	mod := func(mem memType, funcs ...[]byte) []byte {
		return testModule{mem: mem, funcs: funcs}.encode()
	}
	mem64 := memType{min: 1, max: 2, is64: true}
	cases := []struct {
		name string
		wasm []byte
		err  error
		text string
	}{
		{"max above 4 GiB", mod(memType{min: 1, max: MaxPages + 1, is64: true}), ErrUnsupported, "exceeds 4 GiB"},
		{"max 16 GiB", mod(memType{min: 1, max: 1 << 18, is64: true}), ErrUnsupported, "16 GiB"},
		{"no max", mod(memType{min: 1, noMax: true, is64: true}), ErrUnsupported, "without a maximum"},
		{"shared", mod(memType{min: 1, max: 2, is64: true, shared: true}), ErrUnsupported, "shared"},
		{"32-bit memory", mod(memType{min: 1, max: 2}), ErrNotMemory64, ""},
		{"atomics", mod(mem64, code{}.i64(0).op(0xfe, 0x10).memarg(2, 0).body()), ErrUnsupported, "opcode 0xfe"},
		{"tail call", mod(mem64, code{}.op(0x12, 0).body()), ErrUnsupported, "opcode 0x12"},
		{"exceptions", mod(mem64, code{}.op(0x06, 0x40).body()), ErrUnsupported, "opcode 0x06"},
		{"multi-memory memarg", mod(mem64, code{}.i64(0).op(0x28).memarg(0x42, 0).op(0xad).body()), ErrUnsupported, "multi-memory"},
		{"multi-memory size", mod(mem64, code{}.op(0x3f, 1).op(0xad).body()), ErrUnsupported, "multi-memory"},
		{"relaxed simd", mod(mem64, code{}.op(0xfd, 0x80, 0x02).body()), ErrUnsupported, "relaxed"},
		{"gc prefix", mod(mem64, code{}.op(0xfb, 0).body()), ErrUnsupported, "opcode 0xfb"},
		{"typed ref null", mod(mem64, code{}.op(0xd0, 0x00).op(0x1a).i64(0).body()), ErrUnsupported, "heap type"},
		{"truncated body", mod(mem64, nop)[:len(mod(mem64, nop))-1], ErrMalformed, ""},
		{"not wasm", []byte("hello world"), ErrMalformed, "magic"},
		{"version 2", []byte("\x00asm\x02\x00\x00\x00"), ErrUnsupported, "version"},
	}
	imports := func(kind byte, rest ...byte) []byte {
		b := []byte{1, 1, 'm', 1, 'x', kind}
		return append(b, rest...)
	}
	cases = append(cases,
		struct {
			name string
			wasm []byte
			err  error
			text string
		}{"64-bit table", testModule{mem: mem64, raw: map[byte][]byte{secTable: {1, valFuncref, limits64 | limitsHasMax, 1, 2}}}.encode(), ErrUnsupported, "64-bit table"},
		struct {
			name string
			wasm []byte
			err  error
			text string
		}{"imported 64-bit memory", testModule{mem: memType{min: 1, max: 1}, raw: map[byte][]byte{secImport: imports(2, limits64|limitsHasMax, 1, 1)}}.encode(), ErrUnsupported, "imported 64-bit memory"},
		struct {
			name string
			wasm []byte
			err  error
			text string
		}{"two memories", testModule{mem: mem64, raw: map[byte][]byte{secImport: imports(2, limitsHasMax, 1, 1)}}.encode(), ErrUnsupported, "multi-memory"},
	)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Lower(c.wasm)
			if !errors.Is(err, c.err) || !strings.Contains(err.Error(), c.text) {
				t.Errorf("Lower = %v, want %v containing %q", err, c.err, c.text)
			}
		})
	}
}

// coverage is a module whose function uses an instruction of every immediate shape the
// decoder knows, around memory instructions, so that pass-through bytes are checked too.
func coverage() testModule {
	c := code{}.
		op(0x02, 0x40).op(0x01).op(0x0b).                       // block nop end
		op(0x03, 0x7e).i64(5).op(0x0b).op(0x1a).                // loop (result i64) drop
		i32(1).op(0x04, 0x40).op(0x05).op(0x0b).                // if else end
		op(0x02, 0x40).i32(0).op(0x0e, 2, 0, 0, 0).op(0x0b).    // br_table
		op(0x02, 0x40).i32(0).op(0x0d, 0).op(0x0c, 0).op(0x0b). // br_if br
		i64(1).i64(2).i32(1).op(0x1c, 1, valI64).op(0x1a).      // select t
		i64(1).i64(2).i32(0).op(0x1b).op(0x1a).                 // select
		op(0x23, 0).op(0x24, 0).                                // global.get/set
		op(0x43, 0, 0, 0x80, 0x3f).op(0x1a).op(0x44, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f).op(0x1a).
		i32(7).op(0xc0).op(0x1a).                             // i32.extend8_s
		op(0x43, 0, 0, 0x80, 0x3f).op(0xfc, 0).op(0x1a).      // i32.trunc_sat_f32_s
		op(0xd0, valFuncref).op(0xd1).op(0x1a).               // ref.null ref.is_null
		op(0xd2, 0).op(0x1a).                                 // ref.func
		i32(0).op(0x25, 0).op(0x1a).                          // table.get
		op(0xfc, 16, 0).op(0x1a).                             // table.size
		op(0xd0, valFuncref).i32(0).op(0xfc, 15, 0).op(0x1a). // table.grow
		i32(0).op(0xd0, valFuncref).i32(0).op(0xfc, 17, 0).   // table.fill
		i32(0).i32(0).i32(1).op(0xfc, 12, 0, 0).              // table.init 0 0: table[0] = function 1
		op(0xfc, 13, 0).                                      // elem.drop
		i32(0).i32(0).i32(0).op(0xfc, 14, 0, 0).              // table.copy
		op(0xfd, 12).op(bytes.Repeat([]byte{1}, 16)...).      // v128.const
		op(0xfd, 12).op(bytes.Repeat([]byte{2}, 16)...).
		op(0xfd, 13).op(bytes.Repeat([]byte{3}, 16)...). // i8x16.shuffle
		op(0xfd, 21, 4).op(0x1a).                        // i8x16.extract_lane_s
		i64(16).op(0x29).memarg(3, 8).                   // i64.load offset=8
		i32(0).op(0x11, 2, 0).                           // call_indirect of type 2, () -> ()
		op(0x10, 1).op(0x7c).                            // call 1, i64.add
		op(0x3f, 0).op(0x7c)                             // memory.size, i64.add
	f0 := c.body(valI32, valI64)
	f1 := code{}.i64(3).body()
	return testModule{mem: memType{min: 1, max: 1, is64: true}, funcs: [][]byte{f0, f1},
		data: []dataSeg{{offset: 24, bytes: []byte{42}}},
		raw: map[byte][]byte{
			secTable:   {1, valFuncref, 0, 1},
			secGlobal:  {1, valI64, 1, 0x42, 0, 0x0b},
			secElement: {1, 1, 0, 1, 1}, // passive, funcref elemkind, [1]
		}}
}

func TestPassThrough(t *testing.T) {
	wasm := coverage().encode()
	out, err := Lower(wasm)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for rtName, cfg := range runtimeConfigs {
		rt := newRuntime(t, cfg())
		mod, err := rt.Instantiate(ctx, out)
		if err != nil {
			t.Fatalf("%s: %v", rtName, err)
		}
		// The call_indirect reaches function 1, of type () -> i64, through type 2: it traps.
		if _, err := mod.ExportedFunction("f0").Call(ctx); err == nil || !strings.Contains(err.Error(), "indirect call type mismatch") {
			t.Errorf("%s: f0 = %v, want the indirect call's type mismatch", rtName, err)
		}
	}
	// Lowering is deterministic, and custom sections stay.
	custom := coverage()
	custom.raw[secCustom] = []byte("\x04name\x00")
	a, err1 := Lower(custom.encode())
	b, err2 := Lower(custom.encode())
	if err1 != nil || err2 != nil || !bytes.Equal(a, b) || !bytes.HasSuffix(a, []byte("\x00\x06\x04name\x00")) {
		t.Errorf("custom section: %v %v", err1, err2)
	}
}

// TestFixture lowers the real aos64 module and compiles it.
func TestFixture(t *testing.T) {
	out, err := Lower(fixtures.Read(t, "fixtures", "wasm", "wasm64-emscripten.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	rt := newRuntime(t, wazero.NewRuntimeConfigInterpreter())
	cm, err := rt.CompileModule(ctx, out)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range cm.ExportedMemories() {
		if max, ok := m.Max(); m.Min() != 1088 || !ok || max != 8192 {
			t.Errorf("memory %d..%d, want 1088..8192 pages as declared", m.Min(), max)
		}
	}
}

// TestFullMemory exercises the 4 GiB case on a memory that really is 4 GiB: accesses at
// 2^32 - 1, and fill and copy of all 2^32 bytes. Only with AONODE_SOAK=1 (it allocates 4 GiB).
func TestFullMemory(t *testing.T) {
	if os.Getenv("AONODE_SOAK") == "" {
		t.Skip("allocates a 4 GiB memory: set AONODE_SOAK=1")
	}
	rng := rand.New(rand.NewPCG(3, 4))
	p := program{mem: memType{min: 1, max: MaxPages, is64: true}}
	p.ops = append(p.ops, progOp{kind: opGrow, n: MaxPages - 1}, progOp{kind: opSize})
	for _, i := range []int{1, 5, 9, 18, 23, 33, 34} { // i64.load, i32.load8_u, i64.load8_u, i32.store8, v128.load, store8_lane, store32_lane
		for _, addr := range []uint64{1<<32 - 1, 1<<32 - 8, 1<<32 - 16, 1 << 32} {
			p.ops = append(p.ops, accessOp(rng, &accesses[i], addr, 0), accessOp(rng, &accesses[i], addr-1, 1))
		}
	}
	p.ops = append(p.ops,
		progOp{kind: opFill, d: 0, n: 1 << 32, fill: 7}, progOp{kind: opFill, d: 1, n: 1 << 32},
		progOp{kind: opFill, d: 1 << 32, n: 0, fill: 1}, progOp{kind: opFill, d: 1<<32 + 1, n: 0},
		progOp{kind: opCopy, d: 0, s: 0, n: 1 << 32}, progOp{kind: opCopy, d: 1, s: 0, n: 1 << 32},
		progOp{kind: opCopy, d: 1 << 32, s: 1 << 32, n: 0}, progOp{kind: opCopy, d: 5, s: 1<<32 - 5, n: 5},
		progOp{kind: opGrow, n: 1}, progOp{kind: opSize})
	p.run(t, newRuntime(t, wazero.NewRuntimeConfigCompiler()))
}
