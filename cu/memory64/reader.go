package memory64

// reader walks a byte slice of the binary format; every read is bounds-checked.
type reader struct {
	b   []byte
	pos int
}

func (r *reader) done() bool { return r.pos >= len(r.b) }

func (r *reader) end(what string) error {
	if r.pos != len(r.b) {
		return malformed("%d stray bytes at the end of the %s", len(r.b)-r.pos, what)
	}
	return nil
}

func (r *reader) byte() (byte, error) {
	if r.pos >= len(r.b) {
		return 0, malformed("unexpected end at byte %d", r.pos)
	}
	c := r.b[r.pos]
	r.pos++
	return c, nil
}

func (r *reader) bytes(n int) ([]byte, error) {
	if n < 0 || n > len(r.b)-r.pos {
		return nil, malformed("%d bytes wanted at byte %d, %d left", n, r.pos, len(r.b)-r.pos)
	}
	s := r.b[r.pos : r.pos+n]
	r.pos += n
	return s, nil
}

// uleb reads an unsigned LEB128 of at most bits bits.
func (r *reader) uleb(bits uint) (uint64, error) {
	var v uint64
	for shift := uint(0); ; shift += 7 {
		c, err := r.byte()
		if err != nil {
			return 0, err
		}
		if shift >= bits || (bits-shift < 7 && c&0x7f>>(bits-shift) != 0) {
			return 0, malformed("LEB128 overflows %d bits at byte %d", bits, r.pos-1)
		}
		v |= uint64(c&0x7f) << shift
		if c&0x80 == 0 {
			return v, nil
		}
	}
}

// sleb reads a signed LEB128 of at most bits bits.
func (r *reader) sleb(bits uint) (int64, error) {
	var v int64
	for shift := uint(0); ; shift += 7 {
		c, err := r.byte()
		if err != nil {
			return 0, err
		}
		if shift >= bits {
			return 0, malformed("signed LEB128 overflows %d bits at byte %d", bits, r.pos-1)
		}
		v |= int64(c&0x7f) << shift
		if left := bits - shift; left < 7 {
			// The bits of the last byte beyond the value must repeat its sign bit.
			if ext := c & 0x7f >> (left - 1); ext != 0 && ext != 0x7f>>(left-1) {
				return 0, malformed("signed LEB128 overflows %d bits at byte %d", bits, r.pos-1)
			}
		}
		if c&0x80 == 0 {
			if shift+7 < 64 && c&0x40 != 0 {
				v |= -1 << (shift + 7)
			}
			return v, nil
		}
	}
}

func (r *reader) u32() (uint32, error) {
	v, err := r.uleb(32)
	return uint32(v), err
}

func (r *reader) u64() (uint64, error) { return r.uleb(64) }

func (r *reader) s64() (int64, error) { return r.sleb(64) }

func (r *reader) name() ([]byte, error) {
	n, err := r.u32()
	if err != nil {
		return nil, err
	}
	return r.bytes(int(n))
}

func (r *reader) valType() (byte, error) {
	t, err := r.byte()
	if err != nil {
		return 0, err
	}
	switch t {
	case valI32, valI64, valF32, valF64, valV128, valFuncref, valExternref:
		return t, nil
	}
	return 0, unsupported("value type 0x%02x", t)
}

// valTypes reads a vector of value types and returns its length.
func (r *reader) valTypes() (uint32, error) {
	n, err := r.u32()
	if err != nil {
		return 0, err
	}
	for i := uint32(0); i < n; i++ {
		if _, err := r.valType(); err != nil {
			return 0, err
		}
	}
	return n, nil
}

type limits struct {
	min, max             uint64
	hasMax, shared, is64 bool
}

func (r *reader) limits() (limits, error) {
	flags, err := r.byte()
	if err != nil {
		return limits{}, err
	}
	if flags&^(limitsHasMax|limitsShared|limits64) != 0 {
		return limits{}, unsupported("limits flags 0x%02x (custom page sizes?)", flags)
	}
	l := limits{hasMax: flags&limitsHasMax != 0, shared: flags&limitsShared != 0, is64: flags&limits64 != 0}
	bits := uint(32)
	if l.is64 {
		bits = 64
	}
	if l.min, err = r.uleb(bits); err != nil {
		return limits{}, err
	}
	if l.hasMax {
		if l.max, err = r.uleb(bits); err != nil {
			return limits{}, err
		}
	}
	return l, nil
}

// table reads a table type and refuses a 64-bit one.
func (r *reader) table() error {
	t, err := r.valType()
	if err != nil {
		return err
	}
	if t != valFuncref && t != valExternref {
		return malformed("table of value type 0x%02x", t)
	}
	lim, err := r.limits()
	if err != nil {
		return err
	}
	if lim.is64 {
		return unsupported("64-bit table")
	}
	if lim.shared {
		return malformed("shared table")
	}
	return nil
}

func appendU32(b []byte, v uint32) []byte { return appendU64(b, uint64(v)) }

func appendU64(b []byte, v uint64) []byte {
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
