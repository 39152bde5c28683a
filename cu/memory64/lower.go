package memory64

import (
	"errors"
	"fmt"
)

var (
	// ErrMalformed reports bytes that are not a well-formed WebAssembly module.
	ErrMalformed = errors.New("malformed wasm module")
	// ErrUnsupported reports a module that uses something the lowering does not handle.
	ErrUnsupported = errors.New("not supported by the memory64 lowering")
	// ErrNotMemory64 reports a module without a 64-bit memory: there is nothing to lower.
	ErrNotMemory64 = errors.New("module has no 64-bit memory")
)

// MaxPages is the largest memory, in 64 KiB pages, that a 32-bit memory can hold (4 GiB).
const MaxPages = 65536

// Binary format section ids and value types (WebAssembly core spec 5.3, 5.5).
const (
	secCustom    = 0
	secType      = 1
	secImport    = 2
	secFunction  = 3
	secTable     = 4
	secMemory    = 5
	secGlobal    = 6
	secExport    = 7
	secStart     = 8
	secElement   = 9
	secCode      = 10
	secData      = 11
	secDataCount = 12
	secTag       = 13

	valI32       = 0x7f
	valI64       = 0x7e
	valF32       = 0x7d
	valF64       = 0x7c
	valV128      = 0x7b
	valFuncref   = 0x70
	valExternref = 0x6f

	limitsHasMax = 0x01
	limitsShared = 0x02
	limits64     = 0x04
)

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

func unsupported(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrUnsupported, fmt.Sprintf(format, args...))
}

// Lower returns wasm with its 64-bit memory made 32-bit (see the package documentation).
// The input is not modified. Custom sections are kept as they are.
func Lower(wasm []byte) ([]byte, error) {
	if len(wasm) < 8 || string(wasm[:4]) != "\x00asm" {
		return nil, malformed("no wasm magic number")
	}
	if string(wasm[4:8]) != "\x01\x00\x00\x00" {
		return nil, unsupported("binary format version %x", wasm[4:8])
	}
	type section struct {
		id   byte
		raw  []byte // the whole section, id and size included
		body []byte
	}
	var sections []section
	m := &module{}
	r := reader{b: wasm, pos: 8}
	for !r.done() {
		start := r.pos
		id, err := r.byte()
		if err != nil {
			return nil, err
		}
		size, err := r.u32()
		if err != nil {
			return nil, err
		}
		body, err := r.bytes(int(size))
		if err != nil {
			return nil, fmt.Errorf("section %d: %w", id, err)
		}
		s := section{id: id, raw: wasm[start:r.pos], body: body}
		sections = append(sections, s)
		switch id {
		case secCustom, secGlobal, secExport, secStart, secElement, secDataCount:
			// Nothing in these depends on the memory's index type.
		case secType:
			err = m.readTypes(body)
		case secImport:
			err = m.readImports(body)
		case secFunction:
			err = m.readFunctions(body)
		case secTable:
			err = m.readTables(body)
		case secMemory:
			err = m.readMemories(body)
		case secCode, secData:
			// Rewritten below, once the memory is known.
		case secTag:
			err = unsupported("exception tags (section 13)")
		default:
			err = malformed("unknown section id %d", id)
		}
		if err != nil {
			return nil, err
		}
	}
	if !m.mem64 {
		return nil, ErrNotMemory64
	}
	l := &lowering{full: m.maxPages == MaxPages}
	out := make([]byte, 0, len(wasm)+len(wasm)/2)
	out = append(out, wasm[:8]...)
	for _, s := range sections {
		var body []byte
		var err error
		switch s.id {
		case secMemory:
			body = m.memorySection()
		case secCode:
			body, err = l.codeSection(s.body, m)
		case secData:
			body, err = lowerData(s.body)
		default:
			out = append(out, s.raw...)
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, s.id)
		out = appendU32(out, uint32(len(body)))
		out = append(out, body...)
	}
	return out, nil
}

// module is what Lower learns of a module before rewriting its code.
type module struct {
	params    []uint32 // parameter count of each function type
	funcTypes []uint32 // type index of each function the module defines
	memories  int      // imported and defined
	mem64     bool
	minPages  uint64
	maxPages  uint64
}

func (m *module) readTypes(b []byte) error {
	r := reader{b: b}
	n, err := r.u32()
	if err != nil {
		return err
	}
	for i := uint32(0); i < n; i++ {
		form, err := r.byte()
		if err != nil {
			return err
		}
		if form != 0x60 {
			return unsupported("type %d has form 0x%02x (only function types)", i, form)
		}
		params, err := r.valTypes()
		if err != nil {
			return err
		}
		if _, err := r.valTypes(); err != nil {
			return err
		}
		m.params = append(m.params, params)
	}
	return r.end("type section")
}

func (m *module) readImports(b []byte) error {
	r := reader{b: b}
	n, err := r.u32()
	if err != nil {
		return err
	}
	for i := uint32(0); i < n; i++ {
		if _, err := r.name(); err != nil {
			return err
		}
		if _, err := r.name(); err != nil {
			return err
		}
		kind, err := r.byte()
		if err != nil {
			return err
		}
		switch kind {
		case 0x00:
			_, err = r.u32()
		case 0x01:
			err = r.table()
		case 0x02:
			var lim limits
			if lim, err = r.limits(); err == nil {
				m.memories++
				if lim.is64 {
					err = unsupported("imported 64-bit memory")
				}
			}
		case 0x03:
			if _, err = r.valType(); err == nil {
				_, err = r.byte()
			}
		case 0x04:
			err = unsupported("imported exception tag")
		default:
			err = malformed("import kind 0x%02x", kind)
		}
		if err != nil {
			return err
		}
	}
	return r.end("import section")
}

func (m *module) readFunctions(b []byte) error {
	r := reader{b: b}
	n, err := r.u32()
	if err != nil {
		return err
	}
	for i := uint32(0); i < n; i++ {
		t, err := r.u32()
		if err != nil {
			return err
		}
		if int(t) >= len(m.params) {
			return malformed("function %d has type %d of %d", i, t, len(m.params))
		}
		m.funcTypes = append(m.funcTypes, t)
	}
	return r.end("function section")
}

func (m *module) readTables(b []byte) error {
	r := reader{b: b}
	n, err := r.u32()
	if err != nil {
		return err
	}
	for i := uint32(0); i < n; i++ {
		if err := r.table(); err != nil {
			return err
		}
	}
	return r.end("table section")
}

func (m *module) readMemories(b []byte) error {
	r := reader{b: b}
	n, err := r.u32()
	if err != nil {
		return err
	}
	for i := uint32(0); i < n; i++ {
		lim, err := r.limits()
		if err != nil {
			return err
		}
		m.memories++
		if !lim.is64 {
			continue
		}
		switch {
		case lim.shared:
			return unsupported("shared 64-bit memory")
		case !lim.hasMax:
			return unsupported("64-bit memory without a maximum size (it could grow beyond 4 GiB)")
		case lim.max > MaxPages:
			return unsupported("maximum memory of %d pages (%s) exceeds 4 GiB", lim.max, pagesText(lim.max))
		case lim.min > lim.max:
			return malformed("memory minimum %d above its maximum %d", lim.min, lim.max)
		}
		m.mem64, m.minPages, m.maxPages = true, lim.min, lim.max
	}
	if m.memories > 1 {
		return unsupported("%d memories (multi-memory)", m.memories)
	}
	return r.end("memory section")
}

// memorySection is the memory section with the one memory made 32-bit.
func (m *module) memorySection() []byte {
	b := []byte{1, limitsHasMax}
	b = appendU32(b, uint32(m.minPages))
	return appendU32(b, uint32(m.maxPages))
}

func pagesText(pages uint64) string {
	if pages%(1<<14) == 0 {
		return fmt.Sprintf("%d GiB", pages>>14)
	}
	return fmt.Sprintf("%d MiB", pages>>4)
}

// lowerData gives every active data segment of memory 0 an i32 offset.
func lowerData(b []byte) ([]byte, error) {
	r := reader{b: b}
	n, err := r.u32()
	if err != nil {
		return nil, err
	}
	out := appendU32(make([]byte, 0, len(b)), n)
	for i := uint32(0); i < n; i++ {
		start := r.pos
		flags, err := r.u32()
		if err != nil {
			return nil, err
		}
		switch flags {
		case 0, 2:
			if flags == 2 {
				mem, err := r.u32()
				if err != nil {
					return nil, err
				}
				if mem != 0 {
					return nil, malformed("data segment %d targets memory %d", i, mem)
				}
			}
			out = append(out, b[start:r.pos]...)
			op, err := r.byte()
			if err != nil {
				return nil, err
			}
			if op != 0x42 {
				return nil, unsupported("data segment %d offset is not an i64.const (opcode 0x%02x)", i, op)
			}
			off, err := r.s64()
			if err != nil {
				return nil, err
			}
			if end, err := r.byte(); err != nil || end != 0x0b {
				return nil, unsupported("data segment %d offset is not a single i64.const", i)
			}
			if uint64(off) >= 1<<32 {
				return nil, unsupported("data segment %d at offset %d, beyond 4 GiB", i, uint64(off))
			}
			out = append(out, 0x41)
			out = appendS64(out, int64(int32(uint32(off))))
			out = append(out, 0x0b)
		case 1:
			out = append(out, b[start:r.pos]...)
		default:
			return nil, malformed("data segment %d has flags %d", i, flags)
		}
		start = r.pos
		size, err := r.u32()
		if err != nil {
			return nil, err
		}
		if _, err := r.bytes(int(size)); err != nil {
			return nil, err
		}
		out = append(out, b[start:r.pos]...)
	}
	if err := r.end("data section"); err != nil {
		return nil, err
	}
	return out, nil
}
