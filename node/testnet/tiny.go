package testnet

// TinyModule returns the smallest useful module of the wasm32-wasip1-aonode format
// (cu/wasi/ABI.md): two pages of memory, a bump allocator reset by every message, and a
// constant result. It measures what the node costs per message when the module costs
// nearly nothing (no JSON parsing, 128 KiB of memory to hash and checkpoint). Messages and
// env together must fit in the 127 KiB above address 1024, which the bench's do.
func TinyModule() []byte {
	result := []byte(`{"Output":"ok","Messages":[],"Spawns":[],"Assignments":[]}`)
	const resultAt, heapAt = 16, 1024
	var b []byte
	b = append(b, 0x00, 'a', 's', 'm', 0x01, 0x00, 0x00, 0x00)
	section := func(id byte, content []byte) {
		b = append(b, id)
		b = appendU32(b, uint32(len(content)))
		b = append(b, content...)
	}
	// Types: 0 = (i32) -> i32 (aonode_alloc); 1 = (i32 i32 i32 i32) -> i64 (aonode_handle).
	section(1, []byte{0x02, 0x60, 0x01, 0x7f, 0x01, 0x7f, 0x60, 0x04, 0x7f, 0x7f, 0x7f, 0x7f, 0x01, 0x7e})
	section(3, []byte{0x02, 0x00, 0x01})
	section(5, []byte{0x01, 0x00, 0x02}) // one memory, minimum 2 pages
	// Global 0: mutable i32, the bump pointer.
	section(6, append(appendS64([]byte{0x01, 0x7f, 0x01, 0x41}, heapAt), 0x0b))
	var exp []byte
	exp = append(exp, 0x03)
	for _, e := range []struct {
		name string
		kind byte
		idx  byte
	}{{"memory", 0x02, 0}, {"aonode_alloc", 0x00, 0}, {"aonode_handle", 0x00, 1}} {
		exp = appendU32(exp, uint32(len(e.name)))
		exp = append(append(exp, e.name...), e.kind, e.idx)
	}
	section(7, exp)
	// alloc(size): p = g; g += size; return p.
	alloc := []byte{0x00, 0x23, 0x00, 0x23, 0x00, 0x20, 0x00, 0x6a, 0x24, 0x00, 0x0b}
	// handle: g = heapAt; return resultAt<<32 | len(result).
	handle := append(appendS64([]byte{0x00, 0x41}, heapAt), 0x24, 0x00, 0x42)
	handle = append(appendS64(handle, resultAt<<32|int64(len(result))), 0x0b)
	code := []byte{0x02}
	for _, body := range [][]byte{alloc, handle} {
		code = appendU32(code, uint32(len(body)))
		code = append(code, body...)
	}
	section(10, code)
	data := appendS64([]byte{0x01, 0x00, 0x41}, resultAt)
	data = appendU32(append(data, 0x0b), uint32(len(result)))
	section(11, append(data, result...))
	return b
}

func appendU32(b []byte, v uint32) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if v == 0 {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}

func appendS64(b []byte, v int64) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if (v == 0 && c&0x40 == 0) || (v == -1 && c&0x40 != 0) {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}
