package su

import (
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/aonode/aonode/dataitem"
	"github.com/aonode/aonode/store"
)

// The JSON shapes of the reference SU (ao-protocol §1.2). Field order follows the reference's
// structs so that the bytes match too.

type ownerJSON struct {
	Address string `json:"address"`
	Key     string `json:"key"`
}

type tagJSON struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

type messageInner struct {
	ID        string    `json:"id"`
	Owner     ownerJSON `json:"owner"`
	Data      *string   `json:"data"`
	Tags      []tagJSON `json:"tags"`
	Signature string    `json:"signature"`
	Anchor    *string   `json:"anchor"`
	Target    string    `json:"target"`
}

type assignmentInner struct {
	ID        string    `json:"id"`
	Owner     ownerJSON `json:"owner"`
	Tags      []tagJSON `json:"tags"`
	Signature string    `json:"signature"`
	Anchor    *string   `json:"anchor"`
	Target    string    `json:"target"`
}

type messageObject struct {
	Message    *messageInner   `json:"message"`
	Assignment assignmentInner `json:"assignment"`
}

type processObject struct {
	ProcessID string    `json:"process_id"`
	Block     string    `json:"block"`
	Owner     ownerJSON `json:"owner"`
	Tags      []tagJSON `json:"tags"`
	Timestamp int64     `json:"timestamp"`
	Data      *string   `json:"data"`
	Anchor    *string   `json:"anchor"`
	Signature string    `json:"signature"`
	Target    string    `json:"target"`
}

type pageInfo struct {
	HasNextPage bool `json:"has_next_page"`
}

type edge struct {
	Node   messageObject `json:"node"`
	Cursor string        `json:"cursor"`
}

type page struct {
	PageInfo pageInfo `json:"page_info"`
	Edges    []edge   `json:"edges"`
}

type infoJSON struct {
	Address   string `json:"address"`
	Timestamp string `json:"timestamp"`
}

type timestampJSON struct {
	Timestamp   string `json:"timestamp"`
	BlockHeight string `json:"block_height"`
}

type postJSON struct {
	ID        string `json:"id"`
	Timestamp int64  `json:"timestamp"`
}

type errorJSON struct {
	Error string `json:"error"`
}

func ownerOf(it *dataitem.Item) ownerJSON {
	return ownerJSON{Address: it.Address(), Key: dataitem.EncodeID(it.Owner)}
}

func tagsOf(it *dataitem.Item) []tagJSON {
	out := make([]tagJSON, len(it.Tags))
	for i, t := range it.Tags {
		out[i] = tagJSON{Name: lossyUTF8(t.Name), Value: lossyUTF8(t.Value)}
	}
	return out
}

func targetOf(it *dataitem.Item) string {
	if len(it.Target) == 0 {
		return ""
	}
	return dataitem.EncodeID(it.Target)
}

// anchorOf decodes an anchor as UTF-8; absent, empty or not UTF-8 is null, as in the
// reference. With b64 (show-anchor) a non-UTF-8 anchor is base64url instead, which is what a
// verifier needs to rebuild the signed item.
func anchorOf(it *dataitem.Item, b64 bool) *string {
	if len(it.Anchor) == 0 {
		return nil
	}
	if utf8.Valid(it.Anchor) {
		s := string(it.Anchor)
		return &s
	}
	if b64 {
		s := dataitem.EncodeID(it.Anchor)
		return &s
	}
	return nil
}

func newMessageInner(it *dataitem.Item) *messageInner {
	data := lossyUTF8(string(it.Data))
	return &messageInner{
		ID:        it.ID(),
		Owner:     ownerOf(it),
		Data:      &data,
		Tags:      tagsOf(it),
		Signature: dataitem.EncodeID(it.Signature),
		Anchor:    anchorOf(it, false),
		Target:    targetOf(it),
	}
}

func newAssignmentInner(a *dataitem.Item, showAnchor bool) assignmentInner {
	return assignmentInner{
		ID:        a.ID(),
		Owner:     ownerOf(a),
		Tags:      tagsOf(a),
		Signature: dataitem.EncodeID(a.Signature),
		Anchor:    anchorOf(a, showAnchor),
		Target:    "",
	}
}

func newProcessObject(p *dataitem.Item, s store.Slot) processObject {
	var data *string
	if utf8.Valid(p.Data) {
		d := string(p.Data)
		data = &d
	}
	return processObject{
		ProcessID: p.ID(),
		Block:     FormatBlockHeight(s.BlockHeight),
		Owner:     ownerOf(p),
		Tags:      tagsOf(p),
		Timestamp: s.Timestamp,
		Data:      data,
		Anchor:    anchorOf(p, false),
		Signature: dataitem.EncodeID(p.Signature),
		Target:    targetOf(p),
	}
}

func cursorOf(s store.Slot, nonceMode bool) string {
	if nonceMode {
		return strconv.FormatUint(s.Nonce, 10)
	}
	return strconv.FormatInt(s.Timestamp, 10)
}

// lossyUTF8 converts bytes to a string the way Rust's String::from_utf8_lossy does: each
// maximal ill-formed subsequence becomes one U+FFFD (Go's strings.ToValidUTF8 would merge a
// whole run into one, and utf8.DecodeRune would replace byte by byte).
func lossyUTF8(s string) string {
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

// maximalSubpart is the length of the ill-formed prefix of s that counts as one error: a lead
// byte followed by as many continuation bytes as are valid for it (Unicode §3.9, the
// "substitution of maximal subparts" practice that Rust follows).
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
