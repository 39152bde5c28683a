package memory64

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math/bits"
	"strings"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

// A program is a list of memory operations on a 64-bit memory. Each becomes one exported
// function () -> i64 of a memory64 module; the test lowers the module, runs every function
// in order on wazero, and compares each result, each trap and the memory with what the
// memory64 semantics (the model below) say.

// access is a load or store instruction.
type access struct {
	name   string
	code   []byte // opcode bytes
	width  uint64 // bytes read or written
	store  bool
	vtype  byte // type of the stored value (v128 for lane instructions)
	lane   int  // lane index of a lane instruction
	isLane bool
	// load turns the bytes read (and, for a lane load, the input vector) into the function's
	// i64 result, as the wasm code computes it.
	load func(b, in []byte) uint64
	// toI64 is the code that turns the loaded value into the function's i64 result.
	toI64 []byte
}

var (
	u8   = func(b []byte) uint64 { return uint64(b[0]) }
	u16  = func(b []byte) uint64 { return uint64(binary.LittleEndian.Uint16(b)) }
	u32  = func(b []byte) uint64 { return uint64(binary.LittleEndian.Uint32(b)) }
	u64  = func(b []byte) uint64 { return binary.LittleEndian.Uint64(b) }
	s8   = func(b []byte) int64 { return int64(int8(b[0])) }
	s16  = func(b []byte) int64 { return int64(int16(binary.LittleEndian.Uint16(b))) }
	s32  = func(b []byte) int64 { return int64(int32(binary.LittleEndian.Uint32(b))) }
	ext  = []byte{0xad}       // i64.extend_i32_u
	f32r = []byte{0xbc, 0xad} // i32.reinterpret_f32, extend
	f64r = []byte{0xbd}       // i64.reinterpret_f64
	vsum = []byte{0x21, 0, 0x20, 0, 0xfd, 29, 0, 0x20, 0, 0xfd, 29, 1, 0x42, 31, 0x7e, 0x7c}
)

// v128sum is what vsum computes: lane 0 + 31 * lane 1 of the i64x2 view.
func v128sum(v []byte) uint64 { return u64(v[:8]) + 31*u64(v[8:]) }

func widen(b []byte, each, to int, signed bool) []byte {
	out := make([]byte, 0, 16)
	for i := 0; i+each <= len(b); i += each {
		var v int64
		switch {
		case each == 1 && signed:
			v = s8(b[i:])
		case each == 1:
			v = int64(b[i])
		case each == 2 && signed:
			v = s16(b[i:])
		case each == 2:
			v = int64(u16(b[i:]))
		case signed:
			v = s32(b[i:])
		default:
			v = int64(u32(b[i:]))
		}
		var w [8]byte
		binary.LittleEndian.PutUint64(w[:], uint64(v))
		out = append(out, w[:to]...)
	}
	return out
}

func splat(b []byte) []byte { return bytes.Repeat(b, 16/len(b)) }

func laneLoad(width, lane int) func(b, in []byte) uint64 {
	return func(b, in []byte) uint64 {
		v := append([]byte(nil), in...)
		copy(v[lane*width:], b)
		return v128sum(v)
	}
}

var accesses = []access{
	{name: "i32.load", code: []byte{0x28}, width: 4, load: func(b, _ []byte) uint64 { return u32(b) }, toI64: ext},
	{name: "i64.load", code: []byte{0x29}, width: 8, load: func(b, _ []byte) uint64 { return u64(b) }},
	{name: "f32.load", code: []byte{0x2a}, width: 4, load: func(b, _ []byte) uint64 { return u32(b) }, toI64: f32r},
	{name: "f64.load", code: []byte{0x2b}, width: 8, load: func(b, _ []byte) uint64 { return u64(b) }, toI64: f64r},
	{name: "i32.load8_s", code: []byte{0x2c}, width: 1, load: func(b, _ []byte) uint64 { return uint64(uint32(s8(b))) }, toI64: ext},
	{name: "i32.load8_u", code: []byte{0x2d}, width: 1, load: func(b, _ []byte) uint64 { return u8(b) }, toI64: ext},
	{name: "i32.load16_s", code: []byte{0x2e}, width: 2, load: func(b, _ []byte) uint64 { return uint64(uint32(s16(b))) }, toI64: ext},
	{name: "i32.load16_u", code: []byte{0x2f}, width: 2, load: func(b, _ []byte) uint64 { return u16(b) }, toI64: ext},
	{name: "i64.load8_s", code: []byte{0x30}, width: 1, load: func(b, _ []byte) uint64 { return uint64(s8(b)) }},
	{name: "i64.load8_u", code: []byte{0x31}, width: 1, load: func(b, _ []byte) uint64 { return u8(b) }},
	{name: "i64.load16_s", code: []byte{0x32}, width: 2, load: func(b, _ []byte) uint64 { return uint64(s16(b)) }},
	{name: "i64.load16_u", code: []byte{0x33}, width: 2, load: func(b, _ []byte) uint64 { return u16(b) }},
	{name: "i64.load32_s", code: []byte{0x34}, width: 4, load: func(b, _ []byte) uint64 { return uint64(s32(b)) }},
	{name: "i64.load32_u", code: []byte{0x35}, width: 4, load: func(b, _ []byte) uint64 { return u32(b) }},
	{name: "i32.store", code: []byte{0x36}, width: 4, store: true, vtype: valI32},
	{name: "i64.store", code: []byte{0x37}, width: 8, store: true, vtype: valI64},
	{name: "f32.store", code: []byte{0x38}, width: 4, store: true, vtype: valF32},
	{name: "f64.store", code: []byte{0x39}, width: 8, store: true, vtype: valF64},
	{name: "i32.store8", code: []byte{0x3a}, width: 1, store: true, vtype: valI32},
	{name: "i32.store16", code: []byte{0x3b}, width: 2, store: true, vtype: valI32},
	{name: "i64.store8", code: []byte{0x3c}, width: 1, store: true, vtype: valI64},
	{name: "i64.store16", code: []byte{0x3d}, width: 2, store: true, vtype: valI64},
	{name: "i64.store32", code: []byte{0x3e}, width: 4, store: true, vtype: valI64},
	{name: "v128.load", code: []byte{0xfd, 0}, width: 16, load: func(b, _ []byte) uint64 { return v128sum(b) }, toI64: vsum},
	{name: "v128.load8x8_s", code: []byte{0xfd, 1}, width: 8, load: func(b, _ []byte) uint64 { return v128sum(widen(b, 1, 2, true)) }, toI64: vsum},
	{name: "v128.load32x2_u", code: []byte{0xfd, 6}, width: 8, load: func(b, _ []byte) uint64 { return v128sum(widen(b, 4, 8, false)) }, toI64: vsum},
	{name: "v128.load8_splat", code: []byte{0xfd, 7}, width: 1, load: func(b, _ []byte) uint64 { return v128sum(splat(b)) }, toI64: vsum},
	{name: "v128.load64_splat", code: []byte{0xfd, 10}, width: 8, load: func(b, _ []byte) uint64 { return v128sum(splat(b)) }, toI64: vsum},
	{name: "v128.load32_zero", code: []byte{0xfd, 92}, width: 4, load: func(b, _ []byte) uint64 { return u32(b) }, toI64: vsum},
	{name: "v128.load64_zero", code: []byte{0xfd, 93}, width: 8, load: func(b, _ []byte) uint64 { return u64(b) }, toI64: vsum},
	{name: "v128.store", code: []byte{0xfd, 11}, width: 16, store: true, vtype: valV128},
	{name: "v128.load8_lane", code: []byte{0xfd, 84}, width: 1, vtype: valV128, isLane: true, lane: 3, load: laneLoad(1, 3), toI64: vsum},
	{name: "v128.load64_lane", code: []byte{0xfd, 87}, width: 8, vtype: valV128, isLane: true, lane: 1, load: laneLoad(8, 1), toI64: vsum},
	{name: "v128.store8_lane", code: []byte{0xfd, 88}, width: 1, store: true, vtype: valV128, isLane: true, lane: 5},
	{name: "v128.store32_lane", code: []byte{0xfd, 90}, width: 4, store: true, vtype: valV128, isLane: true, lane: 2},
	{name: "v128.store64_lane", code: []byte{0xfd, 91}, width: 8, store: true, vtype: valV128, isLane: true, lane: 0},
}

type opKind int

const (
	opAccess opKind = iota
	opSize
	opGrow
	opFill
	opCopy
	opInit
	opDataDrop
)

type progOp struct {
	kind         opKind
	acc          *access
	addr, offset uint64
	val          []byte // stored bytes (the whole value or vector), or a lane load's input vector
	d, s, n      uint64
	fill         byte
	seg          uint32
}

func (o progOp) String() string {
	switch o.kind {
	case opAccess:
		return fmt.Sprintf("%s addr=%#x offset=%#x", o.acc.name, o.addr, o.offset)
	case opSize:
		return "memory.size"
	case opGrow:
		return fmt.Sprintf("memory.grow %#x", o.n)
	case opFill:
		return fmt.Sprintf("memory.fill d=%#x v=%d n=%#x", o.d, o.fill, o.n)
	case opCopy:
		return fmt.Sprintf("memory.copy d=%#x s=%#x n=%#x", o.d, o.s, o.n)
	case opInit:
		return fmt.Sprintf("memory.init %d d=%#x s=%#x n=%#x", o.seg, o.d, o.s, o.n)
	}
	return fmt.Sprintf("data.drop %d", o.seg)
}

// body is the function that performs o and returns an i64.
func (o progOp) body() []byte {
	var c code
	switch o.kind {
	case opAccess:
		a := o.acc
		c = c.i64(o.addr)
		if a.vtype == valV128 {
			c = c.op(0xfd, 12).op(o.val...)
		} else if a.store {
			switch a.vtype {
			case valI32:
				c = c.i32(int32(u32(pad8(o.val))))
			case valI64:
				c = c.i64(u64(pad8(o.val)))
			case valF32:
				c = c.op(0x43).op(o.val...)
			case valF64:
				c = c.op(0x44).op(o.val...)
			}
		}
		c = c.op(a.code...).memarg(0, o.offset)
		if a.isLane {
			c = c.op(byte(a.lane))
		}
		if a.store {
			c = c.i64(0)
		} else {
			c = c.op(a.toI64...)
		}
		if bytes.Equal(a.toI64, vsum) {
			return c.body(valV128)
		}
	case opSize:
		c = c.op(0x3f, 0)
	case opGrow:
		c = c.i64(o.n).op(0x40, 0)
	case opFill:
		c = c.i64(o.d).i32(int32(o.fill)).i64(o.n).op(0xfc, 11, 0).i64(0)
	case opCopy:
		c = c.i64(o.d).i64(o.s).i64(o.n).op(0xfc, 10, 0, 0).i64(0)
	case opInit:
		c = c.i64(o.d).i32(int32(uint32(o.s))).i32(int32(uint32(o.n))).op(0xfc, 8).u32(o.seg).op(0).i64(0)
	case opDataDrop:
		c = c.op(0xfc, 9).u32(o.seg).i64(0)
	}
	return c.body()
}

func pad8(b []byte) []byte { return append(append([]byte(nil), b...), make([]byte, 8)...) }

// model is a 64-bit linear memory with the spec's semantics.
type model struct {
	mem  []byte
	max  uint64 // pages
	segs [][]byte
}

// span returns mem[at : at+n] if it is in bounds (computed without overflow).
func (m *model) span(at, n uint64) ([]byte, bool) {
	end, carry := bits.Add64(at, n, 0)
	if carry != 0 || end > uint64(len(m.mem)) {
		return nil, false
	}
	return m.mem[at:end], true
}

// exec performs o; it reports the function's result or a trap (ok false).
func (m *model) exec(o progOp) (uint64, bool) {
	switch o.kind {
	case opAccess:
		ea, carry := bits.Add64(o.addr, o.offset, 0)
		if carry != 0 {
			return 0, false
		}
		b, ok := m.span(ea, o.acc.width)
		if !ok {
			return 0, false
		}
		a := o.acc
		switch {
		case a.store && a.isLane:
			copy(b, o.val[a.lane*int(a.width):])
		case a.store:
			copy(b, o.val)
		default:
			return a.load(b, o.val), true
		}
		return 0, true
	case opSize:
		return uint64(len(m.mem)) >> 16, true
	case opGrow:
		old := uint64(len(m.mem)) >> 16
		if o.n > m.max-old {
			return ^uint64(0), true
		}
		m.mem = append(m.mem, make([]byte, o.n<<16)...)
		return old, true
	case opFill:
		b, ok := m.span(o.d, o.n)
		if !ok {
			return 0, false
		}
		for i := range b {
			b[i] = o.fill
		}
		return 0, true
	case opCopy:
		src, ok1 := m.span(o.s, o.n)
		dst, ok2 := m.span(o.d, o.n)
		if !ok1 || !ok2 {
			return 0, false
		}
		copy(dst, src)
		return 0, true
	case opInit:
		seg := m.segs[o.seg]
		if o.s+o.n > uint64(len(seg)) {
			return 0, false
		}
		dst, ok := m.span(o.d, o.n)
		if !ok {
			return 0, false
		}
		copy(dst, seg[o.s:o.s+o.n])
		return 0, true
	case opDataDrop:
		m.segs[o.seg] = nil
		return 0, true
	}
	panic("unknown op")
}

// program is a module shape and its operations.
type program struct {
	mem  memType
	data []dataSeg
	ops  []progOp
}

func (p program) module() testModule {
	m := testModule{mem: p.mem, data: p.data}
	for _, o := range p.ops {
		m.funcs = append(m.funcs, o.body())
	}
	return m
}

// newModel is the memory after instantiation, or false when instantiation fails (an active
// segment out of bounds).
func (p program) newModel() (*model, bool) {
	m := &model{mem: make([]byte, p.mem.min<<16), max: p.mem.max}
	for _, s := range p.data {
		if s.passive {
			m.segs = append(m.segs, s.bytes)
			continue
		}
		m.segs = append(m.segs, nil) // active segments are dropped after instantiation
		dst, ok := m.span(uint64(s.offset), uint64(len(s.bytes)))
		if !ok {
			return nil, false
		}
		copy(dst, s.bytes)
	}
	return m, true
}

var runtimeConfigs = map[string]func() wazero.RuntimeConfig{
	"compiler":    wazero.NewRuntimeConfigCompiler,
	"interpreter": wazero.NewRuntimeConfigInterpreter,
}

// run lowers the program's module and checks it against the model on one runtime.
func (p program) run(t testing.TB, rt wazero.Runtime) {
	t.Helper()
	ctx := context.Background()
	wasm := p.module().encode()
	lowered, err := Lower(wasm)
	if err != nil {
		t.Fatalf("Lower: %v", err)
	}
	cm, err := rt.CompileModule(ctx, lowered)
	if err != nil {
		t.Fatalf("lowered module does not compile: %v", err)
	}
	defer cm.Close(ctx)
	m, ok := p.newModel()
	inst, err := rt.InstantiateModule(ctx, cm, wazero.NewModuleConfig().WithName(""))
	if !ok {
		if err == nil {
			inst.Close(ctx)
			t.Fatal("instantiation succeeded; a data segment is out of bounds")
		}
		return
	}
	if err != nil {
		t.Fatalf("instantiate: %v", err)
	}
	defer inst.Close(ctx)
	mem := inst.Memory()
	for i, o := range p.ops {
		want, wantOK := m.exec(o)
		res, err := inst.ExportedFunction(funcName(i)).Call(ctx)
		switch {
		case !wantOK && err == nil:
			t.Fatalf("op %d (%v) = %#x, want an out-of-bounds trap", i, o, res[0])
		case !wantOK && !strings.Contains(err.Error(), "out of bounds memory access"):
			t.Fatalf("op %d (%v) trapped with %v, want an out-of-bounds trap", i, o, err)
		case wantOK && err != nil:
			t.Fatalf("op %d (%v): %v", i, o, err)
		case wantOK && res[0] != want:
			t.Fatalf("op %d (%v) = %#x, want %#x", i, o, res[0], want)
		}
		got, _ := mem.Read(0, mem.Size())
		if !bytes.Equal(got, m.mem) {
			t.Fatalf("after op %d (%v): memory differs (%d bytes, want %d)", i, o, len(got), len(m.mem))
		}
	}
}

// newRuntime is a wazero runtime with the features the CU enables.
func newRuntime(t testing.TB, cfg wazero.RuntimeConfig) wazero.Runtime {
	ctx := context.Background()
	rt := wazero.NewRuntimeWithConfig(ctx, cfg.WithCoreFeatures(api.CoreFeaturesV2))
	t.Cleanup(func() { _ = rt.Close(ctx) })
	return rt
}
