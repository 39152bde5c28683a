// Package utf8lossy decodes bytes that should be UTF-8 the way Rust's String::from_utf8_lossy
// and the WHATWG TextDecoder both do: each maximal ill-formed subsequence becomes one U+FFFD
// (Unicode §3.9, "substitution of maximal subparts"). The SU serves item data and tags so,
// the emscripten loader reads module strings so, and the CLI shows tags so; Go's
// strings.ToValidUTF8 would merge a whole run into one U+FFFD and utf8.DecodeRune would replace
// byte by byte, and either would change the bytes a reference client sees.
package utf8lossy

import (
	"strings"
	"unicode/utf8"
)

// String is s with every maximal ill-formed subsequence replaced by one U+FFFD.
func String(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r != utf8.RuneError || n > 1 {
			b.WriteString(s[i : i+n])
			i += n
			continue
		}
		i += maximalSubpart(s[i:])
		b.WriteRune(utf8.RuneError)
	}
	return b.String()
}

// Bytes is String of b.
func Bytes(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	return String(string(b))
}

// maximalSubpart is the length of the ill-formed prefix of s that counts as one error: a lead
// byte followed by as many continuation bytes as are valid for it.
func maximalSubpart(s string) int {
	c := s[0]
	var need int
	lo, hi := byte(0x80), byte(0xBF)
	switch {
	case c >= 0xC2 && c <= 0xDF:
		need = 1
	case c == 0xE0:
		need, lo = 2, 0xA0
	case c >= 0xE1 && c <= 0xEC, c == 0xEE, c == 0xEF:
		need = 2
	case c == 0xED:
		need, hi = 2, 0x9F
	case c == 0xF0:
		need, lo = 3, 0x90
	case c >= 0xF1 && c <= 0xF3:
		need = 3
	case c == 0xF4:
		need, hi = 3, 0x8F
	default:
		return 1
	}
	n := 1
	for k := 0; k < need && n < len(s); k++ {
		b := s[n]
		if b < lo || b > hi {
			break
		}
		lo, hi = 0x80, 0xBF
		n++
	}
	return n
}
