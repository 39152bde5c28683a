package memory64

import "fmt"

// memKind says how an instruction uses the memory's index type.
type memKind uint8

const (
	notMemory memKind = iota
	memLoad           // [addr] -> value
	memStore          // [addr, value] -> (value) (stores, and SIMD lane loads/stores)
	memSize           // [] -> pages
	memGrow           // [delta] -> old pages or -1
	memFill           // [dst, byte i32, len]
	memCopy           // [dst, src, len]
	memInit           // [dst, src i32, len i32]
)

// instr is one decoded instruction of a function body.
type instr struct {
	start, end int
	kind       memKind
	op         []byte // opcode bytes, and for memory.init the data index
	align      uint32 // memarg of loads and stores
	offset     uint64
	tail       []byte // what follows the memarg (a SIMD lane index)
	value      byte   // value type a store (or lane instruction) takes from the stack
}

// decode reads the instruction at r.pos. It knows every instruction of wazero's core
// features (WebAssembly 2.0); anything else is refused, so that no byte of an unknown
// instruction can be mistaken for an opcode.
func decode(r *reader) (instr, error) {
	in := instr{start: r.pos}
	op, err := r.byte()
	if err != nil {
		return in, err
	}
	switch {
	case op == 0x00 || op == 0x01 || op == 0x05 || op == 0x0b || op == 0x0f || op == 0x1a || op == 0x1b || op == 0xd1:
	case op >= 0x02 && op <= 0x04:
		err = r.blockType()
	case op == 0x0c || op == 0x0d || op == 0x10 || op == 0xd2 || (op >= 0x20 && op <= 0x26):
		_, err = r.u32()
	case op == 0x0e:
		var n uint32
		if n, err = r.u32(); err == nil {
			for i := uint32(0); i <= n && err == nil; i++ {
				_, err = r.u32()
			}
		}
	case op == 0x11:
		if _, err = r.u32(); err == nil {
			_, err = r.u32()
		}
	case op == 0x1c:
		_, err = r.valTypes()
	case op >= 0x28 && op <= 0x35:
		in.kind = memLoad
		err = in.memarg(r)
	case op >= 0x36 && op <= 0x3e:
		in.kind, in.value = memStore, storeType[op-0x36]
		err = in.memarg(r)
	case op == 0x3f || op == 0x40:
		in.kind = memSize
		if op == 0x40 {
			in.kind = memGrow
		}
		err = r.memIndex()
	case op == 0x41:
		_, err = r.sleb(32)
	case op == 0x42:
		_, err = r.sleb(64)
	case op == 0x43:
		_, err = r.bytes(4)
	case op == 0x44:
		_, err = r.bytes(8)
	case op >= 0x45 && op <= 0xc4:
	case op == 0xd0:
		var t byte
		if t, err = r.byte(); err == nil && t != valFuncref && t != valExternref {
			err = unsupported("ref.null of heap type 0x%02x", t)
		}
	case op == 0xfc:
		err = in.prefixFC(r)
	case op == 0xfd:
		err = in.prefixFD(r)
	default:
		err = unsupported("opcode 0x%02x at byte %d", op, in.start)
	}
	if err != nil {
		return in, err
	}
	if in.op == nil {
		in.op = r.b[in.start:r.pos]
	}
	in.end = r.pos
	return in, nil
}

var storeType = [...]byte{valI32, valI64, valF32, valF64, valI32, valI32, valI64, valI64, valI64}

func (in *instr) memarg(r *reader) error {
	in.op = r.b[in.start:r.pos]
	align, err := r.u32()
	if err != nil {
		return err
	}
	if align&0x40 != 0 {
		return unsupported("memory index in a memarg (multi-memory)")
	}
	in.align = align
	in.offset, err = r.u64()
	return err
}

func (in *instr) prefixFC(r *reader) error {
	sub, err := r.u32()
	if err != nil {
		return err
	}
	switch {
	case sub <= 7: // saturating truncations
	case sub == 8:
		in.kind = memInit
		if _, err = r.u32(); err == nil {
			in.op = r.b[in.start:r.pos]
			err = r.memIndex()
		}
	case sub == 9 || sub == 13 || (sub >= 15 && sub <= 17):
		_, err = r.u32()
	case sub == 10:
		in.kind = memCopy
		if err = r.memIndex(); err == nil {
			err = r.memIndex()
		}
	case sub == 11:
		in.kind = memFill
		err = r.memIndex()
	case sub == 12 || sub == 14:
		if _, err = r.u32(); err == nil {
			_, err = r.u32()
		}
	default:
		return unsupported("opcode 0xfc %d at byte %d", sub, in.start)
	}
	return err
}

// prefixFD decodes the SIMD instructions. Sub-opcodes without immediates are passed through
// whatever their number; wazero rejects the ones that do not exist.
func (in *instr) prefixFD(r *reader) error {
	sub, err := r.u32()
	if err != nil {
		return err
	}
	switch {
	case sub <= 10 || sub == 92 || sub == 93: // v128.load*, load*_splat, load*_zero
		in.kind = memLoad
		err = in.memarg(r)
	case sub == 11: // v128.store
		in.kind, in.value = memStore, valV128
		err = in.memarg(r)
	case sub == 12 || sub == 13: // v128.const, i8x16.shuffle
		_, err = r.bytes(16)
	case sub >= 21 && sub <= 34: // extract_lane, replace_lane
		_, err = r.byte()
	case sub >= 84 && sub <= 91: // load*_lane [addr v128] -> v128, store*_lane [addr v128]
		in.kind, in.value = memStore, valV128
		if err = in.memarg(r); err == nil {
			start := r.pos
			if _, err = r.byte(); err == nil {
				in.tail = r.b[start:r.pos]
			}
		}
	case sub > 255:
		return unsupported("opcode 0xfd %d at byte %d (relaxed SIMD?)", sub, in.start)
	}
	return err
}

func (r *reader) memIndex() error {
	c, err := r.byte()
	if err != nil {
		return err
	}
	if c != 0 {
		return unsupported("memory index byte 0x%02x (multi-memory)", c)
	}
	return nil
}

func (r *reader) blockType() error {
	c, err := r.byte()
	if err != nil {
		return err
	}
	switch c {
	case 0x40, valI32, valI64, valF32, valF64, valV128, valFuncref, valExternref:
		return nil
	}
	r.pos--
	idx, err := r.sleb(33)
	if err != nil {
		return err
	}
	if idx < 0 {
		return unsupported("block type 0x%02x", c)
	}
	return nil
}

// scratch locals the rewritten code uses, by kind; each function declares the ones it uses.
const (
	scrA = iota // i64: the address being converted
	scrB        // i64: a length
	scrC        // i64: a source address
	scrI        // i32: a stored value, a fill byte, a segment offset
	scrJ        // i32: a segment length
	scrF        // f32 stored value
	scrD        // f64 stored value
	scrV        // v128 stored value or lane operand
	scrL        // i64 stored value
	numScratch
)

var scratchType = [numScratch]byte{valI64, valI64, valI64, valI32, valI32, valF32, valF64, valV128, valI64}

// lowering rewrites function bodies. full is set for a memory that may reach 4 GiB, where no
// 32-bit address is out of bounds by itself, so addresses beyond 32 bits trap explicitly.
type lowering struct {
	full  bool
	local [numScratch]uint32 // index of each scratch local in the current function
}

func (l *lowering) codeSection(b []byte, m *module) ([]byte, error) {
	r := reader{b: b}
	n, err := r.u32()
	if err != nil {
		return nil, err
	}
	if int(n) != len(m.funcTypes) {
		return nil, malformed("%d function bodies for %d functions", n, len(m.funcTypes))
	}
	out := appendU32(make([]byte, 0, len(b)+len(b)/2), n)
	var fn []byte
	for i := uint32(0); i < n; i++ {
		size, err := r.u32()
		if err != nil {
			return nil, err
		}
		body, err := r.bytes(int(size))
		if err != nil {
			return nil, err
		}
		fn, err = l.function(fn[:0], body, m.params[m.funcTypes[i]])
		if err != nil {
			return nil, fmt.Errorf("function %d: %w", i, err)
		}
		out = appendU32(out, uint32(len(fn)))
		out = append(out, fn...)
	}
	if err := r.end("code section"); err != nil {
		return nil, err
	}
	return out, nil
}

// function appends the lowered body to out.
func (l *lowering) function(out, body []byte, params uint32) ([]byte, error) {
	r := reader{b: body}
	groups, err := r.u32()
	if err != nil {
		return nil, err
	}
	decls := r.pos
	locals := uint64(params)
	for i := uint32(0); i < groups; i++ {
		n, err := r.u32()
		if err != nil {
			return nil, err
		}
		if _, err := r.valType(); err != nil {
			return nil, err
		}
		locals += uint64(n)
	}
	if locals > 1<<31 {
		return nil, malformed("%d locals", locals)
	}
	code := r.pos

	// First pass: which scratch locals the function needs.
	var need [numScratch]bool
	last := byte(0)
	for !r.done() {
		in, err := decode(&r)
		if err != nil {
			return nil, err
		}
		last = body[in.start]
		l.scratch(&need, in)
	}
	if last != opEnd {
		return nil, malformed("function body does not end with end")
	}
	added := uint32(0)
	next := uint32(locals)
	for k := range need {
		if need[k] {
			l.local[k] = next
			next++
			added++
		}
	}

	out = appendU32(out, groups+added)
	out = append(out, body[decls:code]...)
	for k := range need {
		if need[k] {
			out = append(out, 1, scratchType[k])
		}
	}

	// Second pass: copy, rewriting memory instructions.
	r.pos = code
	from := code
	for !r.done() {
		in, _ := decode(&r) // decoded without error in the first pass
		if in.kind == notMemory {
			continue
		}
		out = append(out, body[from:in.start]...)
		out = l.emit(out, in)
		from = in.end
	}
	return append(out, body[from:]...), nil
}

func valueScratch(t byte) int {
	switch t {
	case valI32:
		return scrI
	case valF32:
		return scrF
	case valF64:
		return scrD
	case valV128:
		return scrV
	}
	return scrL
}

func (l *lowering) scratch(need *[numScratch]bool, in instr) {
	switch in.kind {
	case memLoad, memGrow:
		need[scrA] = true
	case memStore:
		need[scrA] = true
		need[valueScratch(in.value)] = true
	case memFill:
		need[scrA], need[scrB], need[scrI] = true, true, true
	case memCopy:
		need[scrA], need[scrB], need[scrC] = true, true, true
	case memInit:
		need[scrA], need[scrI], need[scrJ] = true, true, true
	}
}

// Opcodes of the code the lowering emits.
const (
	opIf        = 0x04
	opElse      = 0x05
	opEnd       = 0x0b
	opDrop      = 0x1a
	opSelect    = 0x1b
	opLocalGet  = 0x20
	opLocalSet  = 0x21
	opLocalTee  = 0x22
	opI32Load8U = 0x2d
	opMemSize   = 0x3f
	opMemGrow   = 0x40
	opI32Const  = 0x41
	opI64Const  = 0x42
	opI64Eq     = 0x51
	opI64Ne     = 0x52
	opI64GtU    = 0x56
	opI64LeU    = 0x58
	opI32Or     = 0x72
	opI64Sub    = 0x7d
	opI64Shl    = 0x86
	opWrap      = 0xa7 // i32.wrap_i64
	opExtendS   = 0xac // i64.extend_i32_s
	opExtendU   = 0xad // i64.extend_i32_u
	blockEmpty  = 0x40
)

func (l *lowering) get(b []byte, k int) []byte { return appendU32(append(b, opLocalGet), l.local[k]) }
func (l *lowering) set(b []byte, k int) []byte { return appendU32(append(b, opLocalSet), l.local[k]) }
func (l *lowering) tee(b []byte, k int) []byte { return appendU32(append(b, opLocalTee), l.local[k]) }

// max32 is i64.const 0xFFFFFFFF.
var max32 = []byte{opI64Const, 0xff, 0xff, 0xff, 0xff, 0x0f}

// trap is an access that is out of bounds of any 32-bit memory: address 0xFFFFFFFF plus a
// static offset of 0xFFFFFFFF. It traps the way an out-of-bounds 64-bit access does.
var trap = []byte{opI32Const, 0x7f, opI32Load8U, 0x00, 0xff, 0xff, 0xff, 0xff, 0x0f, opDrop}

// saturate converts the i64 in local k to an i32: itself when it fits 32 bits, else
// 0xFFFFFFFF, an address (or length) out of bounds of any memory below 4 GiB.
func (l *lowering) saturate(b []byte, k int) []byte {
	b = l.get(b, k)
	b = append(b, opWrap, opI32Const, 0x7f)
	b = l.get(b, k)
	b = append(b, max32...)
	return append(b, opI64LeU, opSelect)
}

// checked converts the i64 in local k to an i32, trapping when it does not fit 32 bits.
func (l *lowering) checked(b []byte, k int) []byte {
	b = l.get(b, k)
	b = append(b, max32...)
	b = append(b, opI64GtU, opIf, blockEmpty)
	b = append(b, trap...)
	b = append(b, opEnd)
	b = l.get(b, k)
	return append(b, opWrap)
}

// address converts the i64 address on top of the stack to the i32 the access uses.
func (l *lowering) address(b []byte) []byte {
	if l.full {
		b = l.set(b, scrA)
		return l.checked(b, scrA)
	}
	b = l.tee(b, scrA)
	b = append(b, opWrap, opI32Const, 0x7f)
	b = l.get(b, scrA)
	b = append(b, max32...)
	return append(b, opI64LeU, opSelect)
}

// memBytes pushes the memory's size in bytes as an i64.
func memBytes(b []byte) []byte {
	return append(b, opMemSize, 0, opExtendU, opI64Const, 16, opI64Shl)
}

func (l *lowering) emit(b []byte, in instr) []byte {
	switch in.kind {
	case memLoad, memStore:
		if in.kind == memStore {
			b = l.set(b, valueScratch(in.value))
		}
		offset := in.offset
		if offset > 0xffffffff {
			// addr + offset is at least 2^32: out of bounds whatever the address.
			b = append(b, opDrop, opI32Const, 0x7f)
			offset = 0xffffffff
		} else {
			b = l.address(b)
		}
		if in.kind == memStore {
			b = l.get(b, valueScratch(in.value))
		}
		b = append(b, in.op...)
		b = appendU32(b, in.align)
		b = appendU64(b, offset)
		return append(b, in.tail...)
	case memSize:
		return append(b, opMemSize, 0, opExtendU)
	case memGrow:
		// A delta beyond 32 bits saturates to 0xFFFFFFFF pages, which no memory can add.
		b = l.set(b, scrA)
		b = l.saturate(b, scrA)
		return append(b, opMemGrow, 0, opExtendS)
	case memFill:
		b = l.set(b, scrB)
		b = l.set(b, scrI)
		if l.full {
			return l.fillFull(b)
		}
		b = l.address(b)
		b = l.get(b, scrI)
		b = l.saturate(b, scrB)
		return append(b, 0xfc, 11, 0)
	case memCopy:
		b = l.set(b, scrB)
		b = l.set(b, scrC)
		if l.full {
			return l.copyFull(b)
		}
		b = l.address(b)
		b = l.saturate(b, scrC)
		b = l.saturate(b, scrB)
		return append(b, 0xfc, 10, 0, 0)
	case memInit:
		b = l.set(b, scrJ)
		b = l.set(b, scrI)
		if l.full {
			b = l.set(b, scrA)
			// dst + len > size traps; src + len beyond the segment is left to the engine.
			b = l.get(b, scrJ)
			b = append(b, opExtendU)
			b = memBytes(b)
			b = append(b, opI64GtU)
			b = l.get(b, scrA)
			b = memBytes(b)
			b = l.get(b, scrJ)
			b = append(b, opExtendU, opI64Sub, opI64GtU, opI32Or, opIf, blockEmpty)
			b = append(b, trap...)
			b = append(b, opEnd)
			b = l.get(b, scrA)
			b = append(b, opWrap)
		} else {
			b = l.address(b)
		}
		b = l.get(b, scrI)
		b = l.get(b, scrJ)
		b = append(b, in.op...)
		return append(b, 0)
	}
	return b
}

// lenCheck pushes whether the length in scrB exceeds the memory size.
func (l *lowering) lenCheck(b []byte) []byte {
	b = l.get(b, scrB)
	b = memBytes(b)
	return append(b, opI64GtU)
}

// endCheck ors in whether local k + the length in scrB exceeds the memory size.
func (l *lowering) endCheck(b []byte, k int) []byte {
	b = l.get(b, k)
	b = memBytes(b)
	b = l.get(b, scrB)
	b = append(b, opI64Sub, opI64GtU)
	return append(b, opI32Or)
}

// fillFull is memory.fill on a memory that may be 4 GiB: dst (on the stack), byte (scrI) and
// length (scrB) are checked exactly; a length of 2^32 (filling the whole 4 GiB) is two fills.
func (l *lowering) fillFull(b []byte) []byte {
	b = l.set(b, scrA)
	b = l.lenCheck(b)
	b = l.endCheck(b, scrA)
	b = append(b, opIf, blockEmpty)
	b = append(b, trap...)
	b = append(b, opEnd)
	b = l.get(b, scrB)
	b = append(b, opI64Const, 0x80, 0x80, 0x80, 0x80, 0x10, opI64Eq, opIf, blockEmpty)
	half := []byte{opI32Const, 0x80, 0x80, 0x80, 0x80, 0x78}
	b = append(b, opI32Const, 0)
	b = l.get(b, scrI)
	b = append(b, half...)
	b = append(b, 0xfc, 11, 0)
	b = append(b, half...)
	b = l.get(b, scrI)
	b = append(b, half...)
	b = append(b, 0xfc, 11, 0, opElse)
	b = l.get(b, scrA)
	b = append(b, opWrap)
	b = l.get(b, scrI)
	b = l.get(b, scrB)
	b = append(b, opWrap, 0xfc, 11, 0, opEnd)
	return b
}

// copyFull is memory.copy on a memory that may be 4 GiB: dst (on the stack), src (scrC) and
// length (scrB) are checked exactly; a length of 2^32 copies the whole memory onto itself,
// which changes nothing.
func (l *lowering) copyFull(b []byte) []byte {
	b = l.set(b, scrA)
	b = l.lenCheck(b)
	b = l.endCheck(b, scrA)
	b = l.endCheck(b, scrC)
	b = append(b, opIf, blockEmpty)
	b = append(b, trap...)
	b = append(b, opEnd)
	b = l.get(b, scrB)
	b = append(b, opI64Const, 0x80, 0x80, 0x80, 0x80, 0x10, opI64Ne, opIf, blockEmpty)
	b = l.get(b, scrA)
	b = append(b, opWrap)
	b = l.get(b, scrC)
	b = append(b, opWrap)
	b = l.get(b, scrB)
	b = append(b, opWrap, 0xfc, 10, 0, 0, opEnd)
	return b
}
