package utf8lossy

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// The Unicode §3.9 / WHATWG examples of maximal-subpart substitution, which Rust's
// from_utf8_lossy follows.
func TestMatchesRustAndWHATWG(t *testing.T) {
	cases := []struct{ in, want string }{
		{"plain", "plain"},
		{"", ""},
		{"\xF0\x90\x80", "\uFFFD"},
		{"\xE2\x82X", "\uFFFDX"},
		{"\xC0\x80", "\uFFFD\uFFFD"},
		{"\xED\xA0\x80", "\uFFFD\uFFFD\uFFFD"}, // surrogates are not UTF-8
		{"\xF4\x90\x80\x80", "\uFFFD\uFFFD\uFFFD\uFFFD"},
		{"a\x80b\xFFc", "a\uFFFDb\uFFFDc"},
		{"\x61\xF1\x80\x80\xE1\x80\xC2\x62\x80\x63\x80\xBF\x64", "a\uFFFD\uFFFD\uFFFDb\uFFFDc\uFFFD\uFFFDd"},
		{"ok \xE2\x82\xAC", "ok €"},
		{"\xff\xfeA", "\uFFFD\uFFFDA"},
		{"\xc3(\x80", "\uFFFD(\uFFFD"},
		{"\xf0\x9f\x9a", "\uFFFD"}, // cut at the end
		{"\xf0\x9f\x9a\x80 ok", "🚀 ok"},
	}
	for _, c := range cases {
		if got := String(c.in); got != c.want {
			t.Errorf("String(%q) = %q, want %q", c.in, got, c.want)
		}
		if got := Bytes([]byte(c.in)); got != c.want {
			t.Errorf("Bytes(%q) = %q, want %q", c.in, got, c.want)
		}
		if got := whatwg(c.in); got != c.want {
			t.Errorf("whatwg(%q) = %q, want %q (the oracle is wrong)", c.in, got, c.want)
		}
	}
}

func FuzzString(f *testing.F) {
	for _, s := range []string{"plain", "\xF0\x90\x80", "\xED\xA0\x80", "a\x80b\xFFc", "\xf0\x9f\x9a\x80"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := String(s)
		if !utf8.ValidString(got) {
			t.Fatalf("String(%q) = %q is not UTF-8", s, got)
		}
		if utf8.ValidString(s) && got != s {
			t.Fatalf("String changed valid %q to %q", s, got)
		}
		if want := whatwg(s); got != want {
			t.Fatalf("String(%q) = %q, the WHATWG decoder gives %q", s, got, want)
		}
	})
}

// whatwg is the WHATWG Encoding Standard's UTF-8 decoder, written from its state machine:
// an independent oracle for String, which works by maximal subparts.
func whatwg(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	var cp rune
	needed, seen := 0, 0
	lower, upper := byte(0x80), byte(0xbf)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if needed == 0 {
			switch {
			case c <= 0x7f:
				b.WriteByte(c)
			case c >= 0xc2 && c <= 0xdf:
				needed, cp = 1, rune(c&0x1f)
			case c >= 0xe0 && c <= 0xef:
				if c == 0xe0 {
					lower = 0xa0
				}
				if c == 0xed {
					upper = 0x9f
				}
				needed, cp = 2, rune(c&0x0f)
			case c >= 0xf0 && c <= 0xf4:
				if c == 0xf0 {
					lower = 0x90
				}
				if c == 0xf4 {
					upper = 0x8f
				}
				needed, cp = 3, rune(c&0x07)
			default:
				b.WriteRune(utf8.RuneError)
			}
			continue
		}
		if c < lower || c > upper {
			// The byte ends the bad sequence and is decoded afresh.
			needed, seen, cp = 0, 0, 0
			lower, upper = 0x80, 0xbf
			b.WriteRune(utf8.RuneError)
			i--
			continue
		}
		lower, upper = 0x80, 0xbf
		cp = cp<<6 | rune(c&0x3f)
		seen++
		if seen == needed {
			b.WriteRune(cp)
			needed, seen, cp = 0, 0, 0
		}
	}
	if needed != 0 {
		b.WriteRune(utf8.RuneError)
	}
	return b.String()
}
