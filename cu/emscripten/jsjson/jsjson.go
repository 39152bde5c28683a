// Package jsjson re-serialises JSON text exactly as JavaScript's JSON.stringify(JSON.parse(text))
// does, so that a Go host hands a process module the same bytes the reference Node loader would.
//
// The differences from encoding/json that matter: object keys that are array indices come first
// in ascending order and the other keys keep their first-seen position (a repeated key keeps the
// last value); numbers are IEEE doubles printed the way Number.prototype.toString prints them
// (1e21, 0.000001, 1e-7, and out-of-range literals become null); strings escape only '"', '\\'
// and control characters, and unpaired surrogates survive as \udxxx escapes.
package jsjson

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// MaxDepth bounds nesting so that hostile input cannot exhaust the Go stack.
const MaxDepth = 10000

// ErrSyntax reports text that JSON.parse would reject.
var ErrSyntax = errors.New("jsjson: invalid JSON")

// Stringify returns JSON.stringify(JSON.parse(text)) for UTF-8 JSON text.
func Stringify(text []byte) ([]byte, error) {
	if !utf8.Valid(text) {
		return nil, fmt.Errorf("%w: text is not valid UTF-8", ErrSyntax)
	}
	p := parser{s: text}
	p.skipSpace()
	v, err := p.value(0)
	if err != nil {
		return nil, err
	}
	p.skipSpace()
	if p.i != len(p.s) {
		return nil, p.errorf("unexpected data after the value")
	}
	out := make([]byte, 0, len(text))
	return v.appendTo(out), nil
}

type kind uint8

const (
	kindLiteral kind = iota // null, true, false, or a number already in JS form
	kindString
	kindArray
	kindObject
)

type value struct {
	kind  kind
	lit   string
	units []uint16 // kindString: UTF-16 code units, as JS holds them
	elems []value  // kindArray
	keys  []member // kindObject, in JS property order after finish()
}

type member struct {
	name  []uint16
	index int64 // >= 0 when the key is an array index
	val   value
}

type parser struct {
	s []byte
	i int
}

func (p *parser) errorf(format string, args ...any) error {
	return fmt.Errorf("%w at offset %d: %s", ErrSyntax, p.i, fmt.Sprintf(format, args...))
}

func (p *parser) skipSpace() {
	for p.i < len(p.s) {
		switch p.s[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *parser) value(depth int) (value, error) {
	if depth > MaxDepth {
		return value{}, p.errorf("nesting deeper than %d", MaxDepth)
	}
	if p.i >= len(p.s) {
		return value{}, p.errorf("unexpected end of input")
	}
	switch c := p.s[p.i]; {
	case c == '{':
		return p.object(depth)
	case c == '[':
		return p.array(depth)
	case c == '"':
		u, err := p.str()
		return value{kind: kindString, units: u}, err
	case c == 't':
		return p.word("true")
	case c == 'f':
		return p.word("false")
	case c == 'n':
		return p.word("null")
	case c == '-' || (c >= '0' && c <= '9'):
		return p.number()
	default:
		return value{}, p.errorf("unexpected character %q", c)
	}
}

func (p *parser) word(w string) (value, error) {
	if !strings.HasPrefix(string(p.s[p.i:min(len(p.s), p.i+len(w))]), w) {
		return value{}, p.errorf("invalid literal")
	}
	p.i += len(w)
	return value{kind: kindLiteral, lit: w}, nil
}

func (p *parser) number() (value, error) {
	start := p.i
	if p.s[p.i] == '-' {
		p.i++
	}
	digits := func() int {
		n := 0
		for p.i < len(p.s) && p.s[p.i] >= '0' && p.s[p.i] <= '9' {
			p.i++
			n++
		}
		return n
	}
	if p.i < len(p.s) && p.s[p.i] == '0' {
		p.i++
	} else if digits() == 0 {
		return value{}, p.errorf("invalid number")
	}
	if p.i < len(p.s) && p.s[p.i] == '.' {
		p.i++
		if digits() == 0 {
			return value{}, p.errorf("invalid number")
		}
	}
	if p.i < len(p.s) && (p.s[p.i] == 'e' || p.s[p.i] == 'E') {
		p.i++
		if p.i < len(p.s) && (p.s[p.i] == '+' || p.s[p.i] == '-') {
			p.i++
		}
		if digits() == 0 {
			return value{}, p.errorf("invalid number")
		}
	}
	f, err := strconv.ParseFloat(string(p.s[start:p.i]), 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return value{}, p.errorf("invalid number")
	}
	return value{kind: kindLiteral, lit: FormatNumber(f)}, nil
}

func (p *parser) str() ([]uint16, error) {
	p.i++ // opening quote
	var u []uint16
	for {
		if p.i >= len(p.s) {
			return nil, p.errorf("unterminated string")
		}
		c := p.s[p.i]
		switch {
		case c == '"':
			p.i++
			return u, nil
		case c < 0x20:
			return nil, p.errorf("control character in string")
		case c == '\\':
			if p.i+1 >= len(p.s) {
				return nil, p.errorf("unterminated escape")
			}
			e := p.s[p.i+1]
			p.i += 2
			switch e {
			case '"', '\\', '/':
				u = append(u, uint16(e))
			case 'b':
				u = append(u, '\b')
			case 'f':
				u = append(u, '\f')
			case 'n':
				u = append(u, '\n')
			case 'r':
				u = append(u, '\r')
			case 't':
				u = append(u, '\t')
			case 'u':
				if p.i+4 > len(p.s) {
					return nil, p.errorf("short \\u escape")
				}
				n, err := strconv.ParseUint(string(p.s[p.i:p.i+4]), 16, 16)
				if err != nil {
					return nil, p.errorf("invalid \\u escape")
				}
				p.i += 4
				u = append(u, uint16(n))
			default:
				return nil, p.errorf("invalid escape")
			}
		default:
			r, size := utf8.DecodeRune(p.s[p.i:])
			p.i += size
			if r >= 0x10000 {
				a, b := utf16.EncodeRune(r)
				u = append(u, uint16(a), uint16(b))
			} else {
				u = append(u, uint16(r))
			}
		}
	}
}

func (p *parser) array(depth int) (value, error) {
	p.i++
	v := value{kind: kindArray}
	p.skipSpace()
	if p.i < len(p.s) && p.s[p.i] == ']' {
		p.i++
		return v, nil
	}
	for {
		p.skipSpace()
		e, err := p.value(depth + 1)
		if err != nil {
			return value{}, err
		}
		v.elems = append(v.elems, e)
		p.skipSpace()
		if p.i >= len(p.s) {
			return value{}, p.errorf("unterminated array")
		}
		switch p.s[p.i] {
		case ',':
			p.i++
		case ']':
			p.i++
			return v, nil
		default:
			return value{}, p.errorf("expected ',' or ']'")
		}
	}
}

func (p *parser) object(depth int) (value, error) {
	p.i++
	v := value{kind: kindObject}
	seen := map[string]int{}
	p.skipSpace()
	if p.i < len(p.s) && p.s[p.i] == '}' {
		p.i++
		return v, nil
	}
	for {
		p.skipSpace()
		if p.i >= len(p.s) || p.s[p.i] != '"' {
			return value{}, p.errorf("expected a key")
		}
		k, err := p.str()
		if err != nil {
			return value{}, err
		}
		p.skipSpace()
		if p.i >= len(p.s) || p.s[p.i] != ':' {
			return value{}, p.errorf("expected ':'")
		}
		p.i++
		p.skipSpace()
		e, err := p.value(depth + 1)
		if err != nil {
			return value{}, err
		}
		ks := unitsKey(k)
		if j, ok := seen[ks]; ok {
			v.keys[j].val = e
		} else {
			seen[ks] = len(v.keys)
			v.keys = append(v.keys, member{name: k, index: arrayIndex(k), val: e})
		}
		p.skipSpace()
		if p.i >= len(p.s) {
			return value{}, p.errorf("unterminated object")
		}
		switch p.s[p.i] {
		case ',':
			p.i++
		case '}':
			p.i++
			orderKeys(v.keys)
			return v, nil
		default:
			return value{}, p.errorf("expected ',' or '}'")
		}
	}
}

// unitsKey is an exact map key for a UTF-16 string, lone surrogates included.
func unitsKey(u []uint16) string {
	b := make([]byte, 2*len(u))
	for i, c := range u {
		b[2*i], b[2*i+1] = byte(c), byte(c>>8)
	}
	return string(b)
}

// arrayIndex returns the numeric value of a canonical array-index key, or -1.
func arrayIndex(k []uint16) int64 {
	if len(k) == 0 || len(k) > 10 || (k[0] == '0' && len(k) > 1) {
		return -1
	}
	var n int64
	for _, c := range k {
		if c < '0' || c > '9' {
			return -1
		}
		n = n*10 + int64(c-'0')
	}
	if n >= 1<<32-1 {
		return -1
	}
	return n
}

// orderKeys puts array-index keys first, ascending, keeping the others in insertion order.
func orderKeys(ms []member) {
	var idx, rest []member
	for _, m := range ms {
		if m.index >= 0 {
			idx = append(idx, m)
		} else {
			rest = append(rest, m)
		}
	}
	if len(idx) == 0 {
		return
	}
	for i := 1; i < len(idx); i++ { // insertion sort: index keys are rare and few
		for j := i; j > 0 && idx[j].index < idx[j-1].index; j-- {
			idx[j], idx[j-1] = idx[j-1], idx[j]
		}
	}
	copy(ms, idx)
	copy(ms[len(idx):], rest)
}

func (v value) appendTo(b []byte) []byte {
	switch v.kind {
	case kindLiteral:
		return append(b, v.lit...)
	case kindString:
		return AppendString(b, v.units)
	case kindArray:
		b = append(b, '[')
		for i, e := range v.elems {
			if i > 0 {
				b = append(b, ',')
			}
			b = e.appendTo(b)
		}
		return append(b, ']')
	default:
		b = append(b, '{')
		for i, m := range v.keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = AppendString(b, m.name)
			b = append(b, ':')
			b = m.val.appendTo(b)
		}
		return append(b, '}')
	}
}

// AppendString appends the JSON.stringify form of a JS string given as UTF-16 code units.
func AppendString(b []byte, u []uint16) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(u); i++ {
		c := u[i]
		switch {
		case c == '"':
			b = append(b, '\\', '"')
		case c == '\\':
			b = append(b, '\\', '\\')
		case c == '\b':
			b = append(b, '\\', 'b')
		case c == '\f':
			b = append(b, '\\', 'f')
		case c == '\n':
			b = append(b, '\\', 'n')
		case c == '\r':
			b = append(b, '\\', 'r')
		case c == '\t':
			b = append(b, '\\', 't')
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&15])
		case c >= 0xd800 && c <= 0xdbff && i+1 < len(u) && u[i+1] >= 0xdc00 && u[i+1] <= 0xdfff:
			b = utf8.AppendRune(b, utf16.DecodeRune(rune(c), rune(u[i+1])))
			i++
		case c >= 0xd800 && c <= 0xdfff:
			b = append(b, '\\', 'u', hex[c>>12], hex[(c>>8)&15], hex[(c>>4)&15], hex[c&15])
		default:
			b = utf8.AppendRune(b, rune(c))
		}
	}
	return append(b, '"')
}

// FormatNumber prints a double as JSON.stringify does (Number::toString; non-finite → null).
func FormatNumber(f float64) string {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return "null"
	}
	if f == 0 {
		return "0"
	}
	sign := ""
	if f < 0 {
		sign, f = "-", -f
	}
	e := strconv.FormatFloat(f, 'e', -1, 64) // d.ddde±xx, shortest round-trip digits
	mant, expPart, _ := strings.Cut(e, "e")
	digits := strings.Replace(mant, ".", "", 1)
	exp, _ := strconv.Atoi(expPart)
	k, n := len(digits), exp+1
	switch {
	case k <= n && n <= 21:
		return sign + digits + strings.Repeat("0", n-k)
	case 0 < n && n <= 21:
		return sign + digits[:n] + "." + digits[n:]
	case -6 < n && n <= 0:
		return sign + "0." + strings.Repeat("0", -n) + digits
	}
	es := "+"
	if n-1 < 0 {
		es = "-"
	}
	ev := strconv.Itoa(abs(n - 1))
	if k == 1 {
		return sign + digits + "e" + es + ev
	}
	return sign + digits[:1] + "." + digits[1:] + "e" + es + ev
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}
