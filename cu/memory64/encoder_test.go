package memory64

// A tiny encoder for the test modules: one function type () -> i64 shared by every
// function, one memory, data segments, and an export per function.

type memType struct {
	min, max uint64
	noMax    bool
	is64     bool
	shared   bool
}

type dataSeg struct {
	passive bool
	offset  int64 // i64.const (i32.const on a 32-bit memory)
	bytes   []byte
}

type testModule struct {
	mem   memType
	funcs [][]byte // function bodies (locals and code), all of type () -> i64
	data  []dataSeg
	raw   map[byte][]byte // extra sections by id, placed in order
}

func (m testModule) encode() []byte {
	out := []byte("\x00asm\x01\x00\x00\x00")
	sec := func(id byte, body []byte) {
		out = append(out, id)
		out = appendU32(out, uint32(len(body)))
		out = append(out, body...)
	}
	// Types: 0 is () -> i64, 1 is (i64) -> i64, 2 is () -> ().
	sec(secType, []byte{3, 0x60, 0, 1, valI64, 0x60, 1, valI64, 1, valI64, 0x60, 0, 0})
	if b, ok := m.raw[secImport]; ok {
		sec(secImport, b)
	}
	fs := appendU32(nil, uint32(len(m.funcs)))
	for range m.funcs {
		fs = append(fs, 0)
	}
	sec(secFunction, fs)
	if b, ok := m.raw[secTable]; ok {
		sec(secTable, b)
	}
	lim := byte(0)
	if !m.mem.noMax {
		lim |= limitsHasMax
	}
	if m.mem.is64 {
		lim |= limits64
	}
	if m.mem.shared {
		lim |= limitsShared
	}
	mb := []byte{1, lim}
	mb = appendU64(mb, m.mem.min)
	if !m.mem.noMax {
		mb = appendU64(mb, m.mem.max)
	}
	sec(secMemory, mb)
	if b, ok := m.raw[secGlobal]; ok {
		sec(secGlobal, b)
	}
	ex := appendU32(nil, uint32(len(m.funcs)))
	for i := range m.funcs {
		name := funcName(i)
		ex = appendU32(ex, uint32(len(name)))
		ex = append(ex, name...)
		ex = append(ex, 0)
		ex = appendU32(ex, uint32(i))
	}
	sec(secExport, ex)
	if b, ok := m.raw[secElement]; ok {
		sec(secElement, b)
	}
	if len(m.data) > 0 {
		sec(secDataCount, appendU32(nil, uint32(len(m.data))))
	}
	code := appendU32(nil, uint32(len(m.funcs)))
	for _, body := range m.funcs {
		code = appendU32(code, uint32(len(body)))
		code = append(code, body...)
	}
	sec(secCode, code)
	if len(m.data) > 0 {
		d := appendU32(nil, uint32(len(m.data)))
		for _, s := range m.data {
			if s.passive {
				d = append(d, 1)
			} else {
				d = append(d, 0)
				if m.mem.is64 {
					d = append(d, 0x42)
				} else {
					d = append(d, 0x41)
				}
				d = appendS64(d, s.offset)
				d = append(d, 0x0b)
			}
			d = appendU32(d, uint32(len(s.bytes)))
			d = append(d, s.bytes...)
		}
		sec(secData, d)
	}
	if b, ok := m.raw[secCustom]; ok {
		sec(secCustom, b)
	}
	return out
}

func funcName(i int) string {
	const digits = "0123456789"
	s := ""
	for {
		s = string(digits[i%10]) + s
		i /= 10
		if i == 0 {
			return "f" + s
		}
	}
}

// code builds instruction bytes.
type code []byte

func (c code) op(b ...byte) code { return append(c, b...) }
func (c code) i32(v int32) code  { return appendS64(append(c, 0x41), int64(v)) }
func (c code) i64(v uint64) code { return appendS64(append(c, 0x42), int64(v)) }
func (c code) u32(v uint32) code { return appendU32(c, v) }

// memarg appends an access's alignment and offset.
func (c code) memarg(align uint32, offset uint64) code {
	return appendU64(appendU32(c, align), offset)
}

// body is a function body: local declarations (one local per type given) and c, ended.
func (c code) body(locals ...byte) []byte {
	b := appendU32(nil, uint32(len(locals)))
	for _, t := range locals {
		b = append(b, 1, t)
	}
	return append(append(b, c...), 0x0b)
}
