// Package wasmcheck refuses a WebAssembly binary whose declared counts and lengths do not fit
// in the bytes that follow them, or exceed the limits V8 puts on a module, before the binary
// reaches wazero. wazero's decoder allocates what a module declares before reading it: a
// name length of 4 GiB (five bytes) becomes a 4 GiB allocation, an export count of 2^32 a map
// of that size, a function's local count a slice of it. A module of a few bytes from the
// network could exhaust the node's memory; after Check, what wazero allocates stays within
// a small multiple of the module's size and V8's limits.
//
// Every module V8 (the reference CU's engine) accepts passes Check, since the limits are V8's
// (src/wasm/wasm-limits.h): what Check refuses would not compile there either. Check reads
// only the structure it bounds; validation is wazero's.
package wasmcheck

import (
	"errors"
	"fmt"
)

// ErrRejected reports a module refused by Check.
var ErrRejected = errors.New("wasm module rejected")

// V8's module limits.
const (
	maxTypes        = 1_000_000
	maxFunctions    = 1_000_000
	maxImports      = 100_000
	maxExports      = 100_000
	maxGlobals      = 1_000_000
	maxTags         = 1_000_000
	maxDataSegments = 100_000
	maxElemSegments = 10_000_000
	maxTables       = 100_000
	maxMemories     = 100
	maxStringBytes  = 100_000
	maxModuleBytes  = 1 << 30
	maxFunctionSize = 7_654_321
	maxLocals       = 50_000
	maxParams       = 1_000
	maxReturns      = 1_000
)

func rejectf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrRejected, fmt.Sprintf(format, args...))
}

// Check returns nil when every count and length in wasm is bounded (see the package
// documentation), or an error wrapping ErrRejected.
func Check(wasm []byte) error {
	if len(wasm) > maxModuleBytes {
		return rejectf("module of %d bytes, above %d", len(wasm), maxModuleBytes)
	}
	if len(wasm) < 8 || string(wasm[:4]) != "\x00asm" {
		return rejectf("no wasm magic number")
	}
	r := &reader{b: wasm, pos: 8}
	for !r.done() {
		id, err := r.byte()
		if err != nil {
			return err
		}
		size, err := r.u32()
		if err != nil {
			return err
		}
		body, err := r.bytes(size)
		if err != nil {
			return fmt.Errorf("section %d: %w", id, err)
		}
		if err := section(id, &reader{b: body}); err != nil {
			return fmt.Errorf("section %d: %w", id, err)
		}
	}
	return nil
}

func section(id byte, r *reader) error {
	switch id {
	case 0:
		name, err := r.name()
		if err != nil || string(name) != "name" {
			return err
		}
		return nameSection(r)
	case 1:
		return r.each(maxTypes, "types", func() error {
			if _, err := r.byte(); err != nil {
				return err
			}
			if err := r.skipVec(maxParams, "parameters"); err != nil {
				return err
			}
			return r.skipVec(maxReturns, "results")
		})
	case 2:
		return r.each(maxImports, "imports", func() error {
			if _, err := r.name(); err != nil {
				return err
			}
			if _, err := r.name(); err != nil {
				return err
			}
			return r.importDesc()
		})
	case 3:
		return r.each(maxFunctions, "functions", func() error { _, err := r.u32(); return err })
	case 4:
		return r.count(maxTables, "tables")
	case 5:
		return r.count(maxMemories, "memories")
	case 6:
		return r.count(maxGlobals, "globals")
	case 7:
		return r.each(maxExports, "exports", func() error {
			if _, err := r.name(); err != nil {
				return err
			}
			if _, err := r.byte(); err != nil {
				return err
			}
			_, err := r.u32()
			return err
		})
	case 9:
		return r.each(maxElemSegments, "element segments", r.elemSegment)
	case 10:
		return r.each(maxFunctions, "function bodies", r.functionBody)
	case 11:
		return r.each(maxDataSegments, "data segments", r.dataSegment)
	case 12:
		_, err := r.u32()
		return err
	case 13:
		return r.count(maxTags, "tags")
	}
	return nil // start, and ids wazero refuses itself
}

// nameSection bounds the subsections wazero decodes: module, function and local names.
func nameSection(r *reader) error {
	for !r.done() {
		id, err := r.byte()
		if err != nil {
			return err
		}
		size, err := r.u32()
		if err != nil {
			return err
		}
		body, err := r.bytes(size)
		if err != nil {
			return err
		}
		s := &reader{b: body}
		nameMap := func() error {
			return s.each(maxFunctions, "names", func() error {
				if _, err := s.u32(); err != nil {
					return err
				}
				_, err := s.name()
				return err
			})
		}
		switch id {
		case 0:
			_, err = s.name()
		case 1:
			err = nameMap()
		case 2:
			err = s.each(maxFunctions, "local name maps", func() error {
				if _, err := s.u32(); err != nil {
					return err
				}
				return nameMap()
			})
		}
		if err != nil {
			return fmt.Errorf("name subsection %d: %w", id, err)
		}
	}
	return nil
}

func (r *reader) importDesc() error {
	kind, err := r.byte()
	if err != nil {
		return err
	}
	switch kind {
	case 0x00: // function
		_, err = r.u32()
	case 0x01: // table: reference type, limits
		if _, err = r.byte(); err == nil {
			err = r.limits()
		}
	case 0x02:
		err = r.limits()
	case 0x03: // global: value type, mutability
		_, err = r.bytes(2)
	case 0x04: // tag: attribute, type
		if _, err = r.byte(); err == nil {
			_, err = r.u32()
		}
	default:
		err = rejectf("import kind 0x%02x", kind)
	}
	return err
}

func (r *reader) limits() error {
	flags, err := r.byte()
	if err != nil {
		return err
	}
	if _, err := r.u64(); err != nil {
		return err
	}
	if flags&1 != 0 {
		_, err = r.u64()
	}
	return err
}

// functionBody bounds the body's size and its locals.
func (r *reader) functionBody() error {
	size, err := r.u32()
	if err != nil {
		return err
	}
	if size > maxFunctionSize {
		return rejectf("function body of %d bytes, above %d", size, maxFunctionSize)
	}
	body, err := r.bytes(size)
	if err != nil {
		return err
	}
	b := &reader{b: body}
	locals := uint64(0)
	return b.skipEach(maxLocals, "local declarations", func() error {
		n, err := b.u32()
		if err != nil {
			return err
		}
		if locals += uint64(n); locals > maxLocals {
			return rejectf("%d locals in a function, above %d", locals, maxLocals)
		}
		_, err = b.byte()
		return err
	})
}

func (r *reader) dataSegment() error {
	flags, err := r.u32()
	if err != nil {
		return err
	}
	switch flags {
	case 0:
		err = r.constExpr()
	case 1:
	case 2:
		if _, err = r.u32(); err == nil {
			err = r.constExpr()
		}
	default:
		return rejectf("data segment flags %d", flags)
	}
	if err != nil {
		return err
	}
	n, err := r.u32()
	if err != nil {
		return err
	}
	_, err = r.bytes(n)
	return err
}

func (r *reader) elemSegment() error {
	flags, err := r.u32()
	if err != nil {
		return err
	}
	if flags > 7 {
		return rejectf("element segment flags %d", flags)
	}
	if flags&3 == 2 { // explicit table index
		if _, err := r.u32(); err != nil {
			return err
		}
	}
	if flags&1 == 0 { // active: offset
		if err := r.constExpr(); err != nil {
			return err
		}
	}
	if flags&3 != 0 { // element kind or reference type
		if _, err := r.byte(); err != nil {
			return err
		}
	}
	if flags&4 == 0 {
		return r.skipEach(maxElemSegments, "function indices", func() error { _, err := r.u32(); return err })
	}
	return r.skipEach(maxElemSegments, "element expressions", r.constExpr)
}

// constExpr skips a constant expression of the instructions WebAssembly 2.0 allows there.
func (r *reader) constExpr() error {
	for {
		op, err := r.byte()
		if err != nil {
			return err
		}
		switch op {
		case 0x0b:
			return nil
		case 0x41, 0x42, 0x23, 0xd2: // i32.const, i64.const, global.get, ref.func
			_, err = r.u64()
		case 0x43:
			_, err = r.bytes(4)
		case 0x44:
			_, err = r.bytes(8)
		case 0xd0:
			_, err = r.byte()
		case 0xfd: // v128.const
			var sub uint64
			if sub, err = r.u64(); err == nil && sub != 12 {
				err = rejectf("opcode 0xfd %d in a constant expression", sub)
			} else if err == nil {
				_, err = r.bytes(16)
			}
		default:
			err = rejectf("opcode 0x%02x in a constant expression", op)
		}
		if err != nil {
			return err
		}
	}
}

// reader reads the binary format with every length bounded by what is left.
type reader struct {
	b   []byte
	pos int
}

func (r *reader) done() bool { return r.pos >= len(r.b) }

func (r *reader) byte() (byte, error) {
	if r.pos >= len(r.b) {
		return 0, rejectf("truncated")
	}
	c := r.b[r.pos]
	r.pos++
	return c, nil
}

func (r *reader) bytes(n uint32) ([]byte, error) {
	if uint64(n) > uint64(len(r.b)-r.pos) {
		return nil, rejectf("%d bytes declared, %d left", n, len(r.b)-r.pos)
	}
	s := r.b[r.pos : r.pos+int(n)]
	r.pos += int(n)
	return s, nil
}

func (r *reader) u64() (uint64, error) {
	var v uint64
	for shift := uint(0); shift < 70; shift += 7 {
		c, err := r.byte()
		if err != nil {
			return 0, err
		}
		v |= uint64(c&0x7f) << shift
		if c&0x80 == 0 {
			return v, nil
		}
	}
	return 0, rejectf("LEB128 longer than 10 bytes")
}

func (r *reader) u32() (uint32, error) {
	v, err := r.u64()
	if err == nil && v > 0xffffffff {
		err = rejectf("LEB128 beyond 32 bits")
	}
	return uint32(v), err
}

func (r *reader) name() ([]byte, error) {
	n, err := r.u32()
	if err != nil {
		return nil, err
	}
	if n > maxStringBytes {
		return nil, rejectf("name of %d bytes, above %d", n, maxStringBytes)
	}
	return r.bytes(n)
}

// count reads a vector length: at most limit, and at most one element per byte left.
func (r *reader) count(limit uint32, what string) error {
	_, err := r.vecLen(limit, what)
	return err
}

func (r *reader) vecLen(limit uint32, what string) (uint32, error) {
	n, err := r.u32()
	if err != nil {
		return 0, err
	}
	if n > limit {
		return 0, rejectf("%d %s, above %d", n, what, limit)
	}
	if uint64(n) > uint64(len(r.b)-r.pos) {
		return 0, rejectf("%d %s declared in %d bytes", n, what, len(r.b)-r.pos)
	}
	return n, nil
}

// each reads a vector of elements, each read by f, and requires the reader to end there.
func (r *reader) each(limit uint32, what string, f func() error) error {
	if err := r.skipEach(limit, what, f); err != nil {
		return err
	}
	if !r.done() {
		return rejectf("%d bytes after the %s", len(r.b)-r.pos, what)
	}
	return nil
}

func (r *reader) skipEach(limit uint32, what string, f func() error) error {
	n, err := r.vecLen(limit, what)
	if err != nil {
		return err
	}
	for i := uint32(0); i < n; i++ {
		if err := f(); err != nil {
			return err
		}
	}
	return nil
}

func (r *reader) skipVec(limit uint32, what string) error {
	n, err := r.vecLen(limit, what)
	if err != nil {
		return err
	}
	_, err = r.bytes(n)
	return err
}
