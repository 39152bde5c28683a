package gateway

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// This file is a strict recursive-descent parser for the part of GraphQL (October 2021 spec)
// that gateway clients send: one or more operations with variable definitions, fields with
// aliases, arguments and the @skip/@include directives, named and inline fragments, and every
// literal kind. Type references in variable definitions are parsed and otherwise ignored:
// values are checked where they are used. Limits keep a hostile document cheap to reject.

const (
	maxDepth    = 16   // nesting of selection sets, lists and objects
	maxTokens   = 8192 // tokens in one document
	maxDocBytes = 64 << 10
)

// syntaxError is a malformed document; its message is shown to the client.
type syntaxError struct {
	pos int
	msg string
}

func (e *syntaxError) Error() string {
	return fmt.Sprintf("Syntax Error: %s (at byte %d)", e.msg, e.pos)
}

type tokenKind uint8

const (
	tEOF tokenKind = iota
	tPunct
	tName
	tInt
	tFloat
	tString
)

type token struct {
	kind tokenKind
	text string // the punctuator, name, number text or decoded string
	pos  int
}

type lexer struct {
	src string
	pos int
	n   int
}

func (l *lexer) errorf(pos int, format string, args ...any) error {
	return &syntaxError{pos: pos, msg: fmt.Sprintf(format, args...)}
}

func (l *lexer) next() (token, error) {
	if l.n++; l.n > maxTokens {
		return token{}, l.errorf(l.pos, "document has more than %d tokens", maxTokens)
	}
	for l.pos < len(l.src) {
		c := l.src[l.pos]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == ',':
			l.pos++
		case c == '#':
			for l.pos < len(l.src) && l.src[l.pos] != '\n' && l.src[l.pos] != '\r' {
				l.pos++
			}
		case c == 0xEF && strings.HasPrefix(l.src[l.pos:], "\uFEFF"):
			l.pos += 3
		default:
			return l.token()
		}
	}
	return token{kind: tEOF, pos: l.pos}, nil
}

func (l *lexer) token() (token, error) {
	start := l.pos
	c := l.src[l.pos]
	switch {
	case strings.IndexByte("!$&():=@[]{}|", c) >= 0:
		l.pos++
		return token{kind: tPunct, text: string(c), pos: start}, nil
	case c == '.':
		if strings.HasPrefix(l.src[l.pos:], "...") {
			l.pos += 3
			return token{kind: tPunct, text: "...", pos: start}, nil
		}
		return token{}, l.errorf(start, "unexpected %q", c)
	case c == '_' || isLetter(c):
		for l.pos < len(l.src) && (l.src[l.pos] == '_' || isLetter(l.src[l.pos]) || isDigit(l.src[l.pos])) {
			l.pos++
		}
		return token{kind: tName, text: l.src[start:l.pos], pos: start}, nil
	case c == '-' || isDigit(c):
		return l.number()
	case c == '"':
		if strings.HasPrefix(l.src[l.pos:], `"""`) {
			return l.blockString()
		}
		return l.str()
	}
	return token{}, l.errorf(start, "unexpected character %q", c)
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
func isDigit(c byte) bool  { return c >= '0' && c <= '9' }

func (l *lexer) digits() int {
	s := l.pos
	for l.pos < len(l.src) && isDigit(l.src[l.pos]) {
		l.pos++
	}
	return l.pos - s
}

func (l *lexer) number() (token, error) {
	start := l.pos
	if l.src[l.pos] == '-' {
		l.pos++
	}
	intStart := l.pos
	if l.digits() == 0 {
		return token{}, l.errorf(start, "invalid number")
	}
	if l.src[intStart] == '0' && l.pos-intStart > 1 {
		return token{}, l.errorf(start, "invalid number: leading zero")
	}
	kind := tInt
	if l.pos < len(l.src) && l.src[l.pos] == '.' {
		l.pos++
		if l.digits() == 0 {
			return token{}, l.errorf(start, "invalid number")
		}
		kind = tFloat
	}
	if l.pos < len(l.src) && (l.src[l.pos] == 'e' || l.src[l.pos] == 'E') {
		l.pos++
		if l.pos < len(l.src) && (l.src[l.pos] == '+' || l.src[l.pos] == '-') {
			l.pos++
		}
		if l.digits() == 0 {
			return token{}, l.errorf(start, "invalid number")
		}
		kind = tFloat
	}
	if l.pos < len(l.src) && (l.src[l.pos] == '_' || l.src[l.pos] == '.' || isLetter(l.src[l.pos])) {
		return token{}, l.errorf(start, "invalid number")
	}
	return token{kind: kind, text: l.src[start:l.pos], pos: start}, nil
}

func (l *lexer) str() (token, error) {
	start := l.pos
	l.pos++
	var b strings.Builder
	for {
		if l.pos >= len(l.src) {
			return token{}, l.errorf(start, "unterminated string")
		}
		c := l.src[l.pos]
		switch {
		case c == '"':
			l.pos++
			return token{kind: tString, text: b.String(), pos: start}, nil
		case c == '\n' || c == '\r':
			return token{}, l.errorf(l.pos, "unterminated string")
		case c < 0x20 && c != '\t':
			return token{}, l.errorf(l.pos, "invalid character in string")
		case c == '\\':
			if l.pos+1 >= len(l.src) {
				return token{}, l.errorf(l.pos, "unterminated string")
			}
			e := l.src[l.pos+1]
			l.pos += 2
			switch e {
			case '"', '\\', '/':
				b.WriteByte(e)
			case 'b':
				b.WriteByte('\b')
			case 'f':
				b.WriteByte('\f')
			case 'n':
				b.WriteByte('\n')
			case 'r':
				b.WriteByte('\r')
			case 't':
				b.WriteByte('\t')
			case 'u':
				r, err := l.unicodeEscape()
				if err != nil {
					return token{}, err
				}
				b.WriteRune(r)
			default:
				return token{}, l.errorf(l.pos-2, "invalid escape \\%c", e)
			}
		default:
			r, size := utf8.DecodeRuneInString(l.src[l.pos:])
			if r == utf8.RuneError && size == 1 {
				return token{}, l.errorf(l.pos, "invalid UTF-8 in string")
			}
			b.WriteString(l.src[l.pos : l.pos+size])
			l.pos += size
		}
	}
}

// unicodeEscape reads the hex digits after \u, joining a UTF-16 surrogate pair.
func (l *lexer) unicodeEscape() (rune, error) {
	hex4 := func() (rune, bool) {
		if l.pos+4 > len(l.src) {
			return 0, false
		}
		v, err := strconv.ParseUint(l.src[l.pos:l.pos+4], 16, 32)
		if err != nil {
			return 0, false
		}
		l.pos += 4
		return rune(v), true
	}
	at := l.pos - 2
	r, ok := hex4()
	if !ok {
		return 0, l.errorf(at, "invalid \\u escape")
	}
	if r >= 0xD800 && r <= 0xDBFF {
		if !strings.HasPrefix(l.src[l.pos:], `\u`) {
			return 0, l.errorf(at, "unpaired surrogate")
		}
		l.pos += 2
		lo, ok := hex4()
		if !ok || lo < 0xDC00 || lo > 0xDFFF {
			return 0, l.errorf(at, "unpaired surrogate")
		}
		return (r-0xD800)<<10 + (lo - 0xDC00) + 0x10000, nil
	}
	if r >= 0xDC00 && r <= 0xDFFF {
		return 0, l.errorf(at, "unpaired surrogate")
	}
	return r, nil
}

// blockString reads a """block string""", applying the spec's indentation removal.
func (l *lexer) blockString() (token, error) {
	start := l.pos
	l.pos += 3
	var raw strings.Builder
	for {
		if l.pos >= len(l.src) {
			return token{}, l.errorf(start, "unterminated block string")
		}
		switch {
		case strings.HasPrefix(l.src[l.pos:], `"""`):
			l.pos += 3
			return token{kind: tString, text: blockValue(raw.String()), pos: start}, nil
		case strings.HasPrefix(l.src[l.pos:], `\"""`):
			raw.WriteString(`"""`)
			l.pos += 4
		default:
			c := l.src[l.pos]
			if c < 0x20 && c != '\t' && c != '\n' && c != '\r' {
				return token{}, l.errorf(l.pos, "invalid character in block string")
			}
			raw.WriteByte(c)
			l.pos++
		}
	}
}

func blockValue(raw string) string {
	lines := strings.Split(strings.ReplaceAll(strings.ReplaceAll(raw, "\r\n", "\n"), "\r", "\n"), "\n")
	common := -1
	for _, line := range lines[1:] {
		indent := len(line) - len(strings.TrimLeft(line, " \t"))
		if indent < len(line) && (common < 0 || indent < common) {
			common = indent
		}
	}
	if common > 0 {
		for i := 1; i < len(lines); i++ {
			if len(lines[i]) >= common {
				lines[i] = lines[i][common:]
			} else {
				lines[i] = ""
			}
		}
	}
	blank := func(s string) bool { return strings.TrimLeft(s, " \t") == "" }
	for len(lines) > 0 && blank(lines[0]) {
		lines = lines[1:]
	}
	for len(lines) > 0 && blank(lines[len(lines)-1]) {
		lines = lines[:len(lines)-1]
	}
	return strings.Join(lines, "\n")
}

// AST

type valueKind uint8

const (
	vNull valueKind = iota
	vInt
	vFloat
	vString
	vBool
	vEnum
	vList
	vObject
	vVar
)

type value struct {
	kind   valueKind
	text   string // number text, string, enum name, variable name
	b      bool
	list   []value
	fields []objectField
}

type objectField struct {
	name string
	val  value
}

type argument struct {
	name string
	val  value
}

type directive struct {
	name string
	args []argument
}

type selKind uint8

const (
	selField selKind = iota
	selSpread
	selInline
)

type selection struct {
	kind  selKind
	alias string // response key (the name when no alias)
	name  string // field name or fragment name
	typ   string // inline fragment type condition ("" when absent)
	args  []argument
	dirs  []directive
	sel   []selection
}

type varDef struct {
	name string
	def  *value
}

type operation struct {
	kind string // query, mutation or subscription
	name string
	vars []varDef
	sel  []selection
}

type fragment struct {
	typ string
	sel []selection
}

type document struct {
	ops       []*operation
	fragments map[string]*fragment
}

type parser struct {
	lex lexer
	tok token
}

// parseDocument parses src, which must be at most maxDocBytes long.
func parseDocument(src string) (*document, error) {
	if len(src) > maxDocBytes {
		return nil, &syntaxError{msg: fmt.Sprintf("document longer than %d bytes", maxDocBytes)}
	}
	if !utf8.ValidString(src) {
		return nil, &syntaxError{msg: "document is not valid UTF-8"}
	}
	p := &parser{lex: lexer{src: src}}
	if err := p.advance(); err != nil {
		return nil, err
	}
	doc := &document{fragments: map[string]*fragment{}}
	for p.tok.kind != tEOF {
		switch {
		case p.isPunct("{"):
			sel, err := p.selectionSet(1)
			if err != nil {
				return nil, err
			}
			doc.ops = append(doc.ops, &operation{kind: "query", sel: sel})
		case p.tok.kind == tName && (p.tok.text == "query" || p.tok.text == "mutation" || p.tok.text == "subscription"):
			op, err := p.operation()
			if err != nil {
				return nil, err
			}
			doc.ops = append(doc.ops, op)
		case p.tok.kind == tName && p.tok.text == "fragment":
			if err := p.fragmentDef(doc); err != nil {
				return nil, err
			}
		default:
			return nil, p.unexpected()
		}
	}
	if len(doc.ops) == 0 {
		return nil, &syntaxError{msg: "document has no operation"}
	}
	return doc, nil
}

func (p *parser) advance() error {
	t, err := p.lex.next()
	if err != nil {
		return err
	}
	p.tok = t
	return nil
}

func (p *parser) isPunct(s string) bool { return p.tok.kind == tPunct && p.tok.text == s }

func (p *parser) unexpected() error {
	if p.tok.kind == tEOF {
		return p.lex.errorf(p.tok.pos, "unexpected end of document")
	}
	return p.lex.errorf(p.tok.pos, "unexpected %q", p.tok.text)
}

func (p *parser) expect(s string) error {
	if !p.isPunct(s) {
		return p.unexpected()
	}
	return p.advance()
}

func (p *parser) name() (string, error) {
	if p.tok.kind != tName {
		return "", p.unexpected()
	}
	n := p.tok.text
	return n, p.advance()
}

func (p *parser) operation() (*operation, error) {
	op := &operation{kind: p.tok.text}
	if err := p.advance(); err != nil {
		return nil, err
	}
	if p.tok.kind == tName {
		op.name = p.tok.text
		if err := p.advance(); err != nil {
			return nil, err
		}
	}
	if p.isPunct("(") {
		if err := p.advance(); err != nil {
			return nil, err
		}
		for !p.isPunct(")") {
			v, err := p.varDef()
			if err != nil {
				return nil, err
			}
			for _, o := range op.vars {
				if o.name == v.name {
					return nil, p.lex.errorf(p.tok.pos, "variable $%s defined twice", v.name)
				}
			}
			op.vars = append(op.vars, v)
		}
		if len(op.vars) == 0 {
			return nil, p.unexpected()
		}
		if err := p.advance(); err != nil {
			return nil, err
		}
	}
	if _, err := p.directives(1); err != nil {
		return nil, err
	}
	sel, err := p.selectionSet(1)
	if err != nil {
		return nil, err
	}
	op.sel = sel
	return op, nil
}

func (p *parser) varDef() (varDef, error) {
	if err := p.expect("$"); err != nil {
		return varDef{}, err
	}
	n, err := p.name()
	if err != nil {
		return varDef{}, err
	}
	if err := p.expect(":"); err != nil {
		return varDef{}, err
	}
	if err := p.typeRef(1); err != nil {
		return varDef{}, err
	}
	v := varDef{name: n}
	if p.isPunct("=") {
		if err := p.advance(); err != nil {
			return varDef{}, err
		}
		d, err := p.value(true, 1)
		if err != nil {
			return varDef{}, err
		}
		v.def = &d
	}
	if _, err := p.directives(1); err != nil {
		return varDef{}, err
	}
	return v, nil
}

func (p *parser) typeRef(depth int) error {
	if depth > maxDepth {
		return p.lex.errorf(p.tok.pos, "type nested deeper than %d", maxDepth)
	}
	if p.isPunct("[") {
		if err := p.advance(); err != nil {
			return err
		}
		if err := p.typeRef(depth + 1); err != nil {
			return err
		}
		if err := p.expect("]"); err != nil {
			return err
		}
	} else if _, err := p.name(); err != nil {
		return err
	}
	if p.isPunct("!") {
		return p.advance()
	}
	return nil
}

func (p *parser) fragmentDef(doc *document) error {
	if err := p.advance(); err != nil {
		return err
	}
	n, err := p.name()
	if err != nil {
		return err
	}
	if n == "on" {
		return p.lex.errorf(p.tok.pos, "a fragment cannot be named \"on\"")
	}
	if _, dup := doc.fragments[n]; dup {
		return p.lex.errorf(p.tok.pos, "fragment %q defined twice", n)
	}
	if p.tok.kind != tName || p.tok.text != "on" {
		return p.unexpected()
	}
	if err := p.advance(); err != nil {
		return err
	}
	typ, err := p.name()
	if err != nil {
		return err
	}
	if _, err := p.directives(1); err != nil {
		return err
	}
	sel, err := p.selectionSet(1)
	if err != nil {
		return err
	}
	doc.fragments[n] = &fragment{typ: typ, sel: sel}
	return nil
}

func (p *parser) selectionSet(depth int) ([]selection, error) {
	if depth > maxDepth {
		return nil, p.lex.errorf(p.tok.pos, "selections nested deeper than %d", maxDepth)
	}
	if err := p.expect("{"); err != nil {
		return nil, err
	}
	var out []selection
	for !p.isPunct("}") {
		s, err := p.selection(depth)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	if len(out) == 0 {
		return nil, p.unexpected()
	}
	return out, p.advance()
}

func (p *parser) selection(depth int) (selection, error) {
	if p.isPunct("...") {
		if err := p.advance(); err != nil {
			return selection{}, err
		}
		if p.tok.kind == tName && p.tok.text != "on" {
			s := selection{kind: selSpread, name: p.tok.text}
			if err := p.advance(); err != nil {
				return selection{}, err
			}
			dirs, err := p.directives(depth)
			s.dirs = dirs
			return s, err
		}
		s := selection{kind: selInline}
		if p.tok.kind == tName {
			if err := p.advance(); err != nil {
				return selection{}, err
			}
			t, err := p.name()
			if err != nil {
				return selection{}, err
			}
			s.typ = t
		}
		dirs, err := p.directives(depth)
		if err != nil {
			return selection{}, err
		}
		s.dirs = dirs
		s.sel, err = p.selectionSet(depth + 1)
		return s, err
	}
	n, err := p.name()
	if err != nil {
		return selection{}, err
	}
	s := selection{kind: selField, alias: n, name: n}
	if p.isPunct(":") {
		if err := p.advance(); err != nil {
			return selection{}, err
		}
		if s.name, err = p.name(); err != nil {
			return selection{}, err
		}
	}
	if p.isPunct("(") {
		if s.args, err = p.arguments(false, depth); err != nil {
			return selection{}, err
		}
	}
	if s.dirs, err = p.directives(depth); err != nil {
		return selection{}, err
	}
	if p.isPunct("{") {
		if s.sel, err = p.selectionSet(depth + 1); err != nil {
			return selection{}, err
		}
	}
	return s, nil
}

func (p *parser) arguments(constant bool, depth int) ([]argument, error) {
	if err := p.advance(); err != nil {
		return nil, err
	}
	var out []argument
	for !p.isPunct(")") {
		n, err := p.name()
		if err != nil {
			return nil, err
		}
		for _, a := range out {
			if a.name == n {
				return nil, p.lex.errorf(p.tok.pos, "argument %q given twice", n)
			}
		}
		if err := p.expect(":"); err != nil {
			return nil, err
		}
		v, err := p.value(constant, depth)
		if err != nil {
			return nil, err
		}
		out = append(out, argument{name: n, val: v})
	}
	if len(out) == 0 {
		return nil, p.unexpected()
	}
	return out, p.advance()
}

func (p *parser) directives(depth int) ([]directive, error) {
	var out []directive
	for p.isPunct("@") {
		if err := p.advance(); err != nil {
			return nil, err
		}
		n, err := p.name()
		if err != nil {
			return nil, err
		}
		d := directive{name: n}
		if p.isPunct("(") {
			if d.args, err = p.arguments(false, depth); err != nil {
				return nil, err
			}
		}
		out = append(out, d)
	}
	return out, nil
}

func (p *parser) value(constant bool, depth int) (value, error) {
	if depth > maxDepth {
		return value{}, p.lex.errorf(p.tok.pos, "value nested deeper than %d", maxDepth)
	}
	t := p.tok
	switch t.kind {
	case tInt:
		return value{kind: vInt, text: t.text}, p.advance()
	case tFloat:
		return value{kind: vFloat, text: t.text}, p.advance()
	case tString:
		return value{kind: vString, text: t.text}, p.advance()
	case tName:
		v := value{kind: vEnum, text: t.text}
		switch t.text {
		case "true", "false":
			v = value{kind: vBool, b: t.text == "true"}
		case "null":
			v = value{kind: vNull}
		}
		return v, p.advance()
	}
	switch {
	case p.isPunct("$"):
		if constant {
			return value{}, p.lex.errorf(t.pos, "variable in a constant value")
		}
		if err := p.advance(); err != nil {
			return value{}, err
		}
		n, err := p.name()
		return value{kind: vVar, text: n}, err
	case p.isPunct("["):
		if err := p.advance(); err != nil {
			return value{}, err
		}
		v := value{kind: vList}
		for !p.isPunct("]") {
			e, err := p.value(constant, depth+1)
			if err != nil {
				return value{}, err
			}
			v.list = append(v.list, e)
		}
		return v, p.advance()
	case p.isPunct("{"):
		if err := p.advance(); err != nil {
			return value{}, err
		}
		v := value{kind: vObject}
		for !p.isPunct("}") {
			n, err := p.name()
			if err != nil {
				return value{}, err
			}
			for _, f := range v.fields {
				if f.name == n {
					return value{}, p.lex.errorf(p.tok.pos, "field %q given twice", n)
				}
			}
			if err := p.expect(":"); err != nil {
				return value{}, err
			}
			e, err := p.value(constant, depth+1)
			if err != nil {
				return value{}, err
			}
			v.fields = append(v.fields, objectField{name: n, val: e})
		}
		return v, p.advance()
	}
	return value{}, p.unexpected()
}
