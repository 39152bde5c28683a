package wasi

import (
	"errors"
	"fmt"
	"strconv"
)

// globalExportPrefix names the exports that Compile adds for the module's mutable globals,
// so that a snapshot can read and restore them through wazero's public API. A module whose
// own exports already use the prefix is rejected.
const globalExportPrefix = "aonode.global."

// Wasm binary section ids (WebAssembly core spec, 5.5.2).
const (
	secImport = 2
	secGlobal = 6
	secExport = 7
)

// Value types and import/export kinds of the binary format.
const (
	kindFunc   = 0x00
	kindTable  = 0x01
	kindMemory = 0x02
	kindGlobal = 0x03

	valI32  = 0x7f
	valI64  = 0x7e
	valF32  = 0x7d
	valF64  = 0x7c
	valV128 = 0x7b
)

// errMalformed reports a binary the rewriter cannot read; wazero would reject it as well.
var errMalformed = errors.New("malformed wasm binary")

// mutableGlobal is a module-defined mutable global that Compile exports for snapshots.
type mutableGlobal struct {
	index uint32 // index in the global index space (imports first)
	name  string // export name added by exportMutableGlobals
}

// exportMutableGlobals returns a copy of wasm whose export section additionally exports every
// mutable global the module defines, and the list of those globals in index order.
// Wasm globals live outside linear memory (a Go module keeps its stack pointer in one), so a
// snapshot of memory alone cannot restore a module; exporting them is the only way wazero's
// public API lets the host read and write them. Imported globals are rejected: this format
// provides none.
func exportMutableGlobals(wasm []byte) ([]byte, []mutableGlobal, error) {
	if len(wasm) < 8 || string(wasm[:4]) != "\x00asm" || string(wasm[4:8]) != "\x01\x00\x00\x00" {
		return nil, nil, fmt.Errorf("%w: not a wasm 1.0 binary", errMalformed)
	}
	type span struct{ start, end int } // a whole section, id byte included
	var exportSec, exportBody span
	haveExport := false
	var globals []mutableGlobal
	var exportNames []string
	importedGlobals := uint32(0)

	pos := 8
	for pos < len(wasm) {
		secStart := pos
		id := wasm[pos]
		pos++
		size, n, err := readU32(wasm[pos:])
		if err != nil {
			return nil, nil, err
		}
		pos += n
		if uint64(pos)+uint64(size) > uint64(len(wasm)) {
			return nil, nil, fmt.Errorf("%w: section %d overruns the binary", errMalformed, id)
		}
		body := wasm[pos : pos+int(size)]
		bodyStart := pos
		pos += int(size)
		switch id {
		case secImport:
			k, err := countImportedGlobals(body)
			if err != nil {
				return nil, nil, err
			}
			importedGlobals = k
		case secGlobal:
			g, err := readMutableGlobals(body, importedGlobals)
			if err != nil {
				return nil, nil, err
			}
			globals = g
		case secExport:
			names, err := readExportNames(body)
			if err != nil {
				return nil, nil, err
			}
			exportNames = names
			exportSec = span{secStart, pos}
			exportBody = span{bodyStart, pos}
			haveExport = true
		}
	}
	if importedGlobals > 0 {
		return nil, nil, fmt.Errorf("%w: the module imports globals; the %s format provides none", ErrInvalidModule, "wasm32-wasip1-aonode")
	}
	if !haveExport {
		return nil, nil, fmt.Errorf("%w: the module has no exports", ErrInvalidModule)
	}
	for _, name := range exportNames {
		if len(name) >= len(globalExportPrefix) && name[:len(globalExportPrefix)] == globalExportPrefix {
			return nil, nil, fmt.Errorf("%w: export %q uses the reserved prefix %q", ErrInvalidModule, name, globalExportPrefix)
		}
	}

	// New export section body: the old count replaced, old entries kept, ours appended.
	oldBody := wasm[exportBody.start:exportBody.end]
	_, cn, _ := readU32(oldBody) // validated by readExportNames
	newBody := appendU32(nil, uint32(len(exportNames)+len(globals)))
	newBody = append(newBody, oldBody[cn:]...)
	for _, g := range globals {
		newBody = appendU32(newBody, uint32(len(g.name)))
		newBody = append(newBody, g.name...)
		newBody = append(newBody, kindGlobal)
		newBody = appendU32(newBody, g.index)
	}
	out := make([]byte, 0, len(wasm)+len(newBody)-len(oldBody)+8)
	out = append(out, wasm[:exportSec.start]...)
	out = append(out, secExport)
	out = appendU32(out, uint32(len(newBody)))
	out = append(out, newBody...)
	out = append(out, wasm[exportSec.end:]...)
	return out, globals, nil
}

func countImportedGlobals(b []byte) (uint32, error) {
	count, pos, err := readU32(b)
	if err != nil {
		return 0, err
	}
	var globals uint32
	for i := uint32(0); i < count; i++ {
		for j := 0; j < 2; j++ { // module name, field name
			n, err := skipName(b[pos:])
			if err != nil {
				return 0, err
			}
			pos += n
		}
		if pos >= len(b) {
			return 0, fmt.Errorf("%w: truncated import", errMalformed)
		}
		kind := b[pos]
		pos++
		switch kind {
		case kindFunc:
			_, n, err := readU32(b[pos:])
			if err != nil {
				return 0, err
			}
			pos += n
		case kindTable:
			if pos >= len(b) {
				return 0, fmt.Errorf("%w: truncated table import", errMalformed)
			}
			pos++ // reftype
			n, err := skipLimits(b[pos:])
			if err != nil {
				return 0, err
			}
			pos += n
		case kindMemory:
			n, err := skipLimits(b[pos:])
			if err != nil {
				return 0, err
			}
			pos += n
		case kindGlobal:
			if pos+2 > len(b) {
				return 0, fmt.Errorf("%w: truncated global import", errMalformed)
			}
			pos += 2
			globals++
		default:
			return 0, fmt.Errorf("%w: unknown import kind %#x", errMalformed, kind)
		}
	}
	return globals, nil
}

func readMutableGlobals(b []byte, firstIndex uint32) ([]mutableGlobal, error) {
	count, pos, err := readU32(b)
	if err != nil {
		return nil, err
	}
	var out []mutableGlobal
	for i := uint32(0); i < count; i++ {
		if pos+2 > len(b) {
			return nil, fmt.Errorf("%w: truncated global", errMalformed)
		}
		valType, mut := b[pos], b[pos+1]
		pos += 2
		n, err := skipConstExpr(b[pos:])
		if err != nil {
			return nil, err
		}
		pos += n
		if mut == 0 {
			continue
		}
		switch valType {
		case valI32, valI64, valF32, valF64:
		default:
			// A mutable v128 or reference global cannot be read as one uint64 through
			// wazero's API, so its value could not be snapshotted.
			return nil, fmt.Errorf("%w: mutable global %d has type %#x; only i32, i64, f32 and f64 can be snapshotted",
				ErrInvalidModule, firstIndex+i, valType)
		}
		idx := firstIndex + i
		out = append(out, mutableGlobal{index: idx, name: globalExportPrefix + strconv.FormatUint(uint64(idx), 10)})
	}
	return out, nil
}

func readExportNames(b []byte) ([]string, error) {
	count, pos, err := readU32(b)
	if err != nil {
		return nil, err
	}
	if uint64(count) > uint64(len(b)) {
		return nil, fmt.Errorf("%w: export count %d exceeds the section", errMalformed, count)
	}
	names := make([]string, 0, count)
	for i := uint32(0); i < count; i++ {
		l, n, err := readU32(b[pos:])
		if err != nil {
			return nil, err
		}
		pos += n
		if uint64(pos)+uint64(l) > uint64(len(b)) {
			return nil, fmt.Errorf("%w: truncated export name", errMalformed)
		}
		names = append(names, string(b[pos:pos+int(l)]))
		pos += int(l)
		if pos >= len(b) {
			return nil, fmt.Errorf("%w: truncated export", errMalformed)
		}
		pos++ // kind
		_, n, err = readU32(b[pos:])
		if err != nil {
			return nil, err
		}
		pos += n
	}
	if pos != len(b) {
		return nil, fmt.Errorf("%w: trailing bytes in the export section", errMalformed)
	}
	return names, nil
}

func skipName(b []byte) (int, error) {
	l, n, err := readU32(b)
	if err != nil {
		return 0, err
	}
	if uint64(n)+uint64(l) > uint64(len(b)) {
		return 0, fmt.Errorf("%w: truncated name", errMalformed)
	}
	return n + int(l), nil
}

func skipLimits(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, fmt.Errorf("%w: truncated limits", errMalformed)
	}
	flag := b[0]
	pos := 1
	values := 1
	if flag&0x01 != 0 { // a maximum follows
		values = 2
	}
	if flag&^0x03 != 0 { // memory64 (0x04) and unknown flags
		return 0, fmt.Errorf("%w: unsupported limits flag %#x", ErrInvalidModule, flag)
	}
	for i := 0; i < values; i++ {
		_, n, err := readU32(b[pos:])
		if err != nil {
			return 0, err
		}
		pos += n
	}
	return pos, nil
}

// skipConstExpr skips a constant expression including its end opcode.
func skipConstExpr(b []byte) (int, error) {
	pos := 0
	for pos < len(b) {
		op := b[pos]
		pos++
		switch op {
		case 0x0b: // end
			return pos, nil
		case 0x41, 0x42, 0x23, 0xd2: // i32.const, i64.const, global.get, ref.func: one LEB128
			n, err := skipLEB(b[pos:])
			if err != nil {
				return 0, err
			}
			pos += n
		case 0x43: // f32.const
			pos += 4
		case 0x44: // f64.const
			pos += 8
		case 0xd0: // ref.null reftype
			pos++
		case 0xfd: // v128.const: subopcode 12, 16 bytes
			n, err := skipLEB(b[pos:])
			if err != nil {
				return 0, err
			}
			pos += n + 16
		case 0x6a, 0x6b, 0x6c, 0x7c, 0x7d, 0x7e: // extended-const add/sub/mul
		default:
			return 0, fmt.Errorf("%w: unsupported opcode %#x in a constant expression", errMalformed, op)
		}
	}
	return 0, fmt.Errorf("%w: unterminated constant expression", errMalformed)
}

// readU32 reads an unsigned LEB128 value of at most 32 bits.
func readU32(b []byte) (uint32, int, error) {
	var v uint64
	for i := 0; i < 5; i++ {
		if i >= len(b) {
			return 0, 0, fmt.Errorf("%w: truncated LEB128", errMalformed)
		}
		c := b[i]
		v |= uint64(c&0x7f) << (7 * i)
		if c&0x80 == 0 {
			if v > 0xffffffff {
				return 0, 0, fmt.Errorf("%w: LEB128 overflows 32 bits", errMalformed)
			}
			return uint32(v), i + 1, nil
		}
	}
	return 0, 0, fmt.Errorf("%w: LEB128 longer than 5 bytes", errMalformed)
}

// skipLEB skips a signed or unsigned LEB128 of at most 64 bits.
func skipLEB(b []byte) (int, error) {
	for i := 0; i < 10 && i < len(b); i++ {
		if b[i]&0x80 == 0 {
			return i + 1, nil
		}
	}
	return 0, fmt.Errorf("%w: bad LEB128", errMalformed)
}

func appendU32(b []byte, v uint32) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if v != 0 {
			b = append(b, c|0x80)
			continue
		}
		return append(b, c)
	}
}
