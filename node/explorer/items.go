package explorer

import (
	"encoding/json"
	"errors"
	"net/http"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/aonode/aonode/dataitem"
	"github.com/aonode/aonode/dataitem/aoapi"
	"github.com/aonode/aonode/store"
)

// Tag is an item tag as the explorer shows it.
type Tag struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// ItemView is a data item as the explorer shows it: everything but the signature, with the
// data cut to a preview.
type ItemView struct {
	ID            string `json:"id"`
	SignatureType int    `json:"signature_type"`
	SignatureName string `json:"signature_name"`
	// Owner is the signer's Arweave-style address; From is who AO says sent it: the
	// From-Process tag of a pushed message, else the Ethereum address of an Ethereum signer,
	// else Owner.
	Owner  string `json:"owner"`
	From   string `json:"from"`
	Target string `json:"target,omitempty"`
	Anchor string `json:"anchor,omitempty"`
	Tags   []Tag  `json:"tags"`
	// DataSize is the length of the data; DataPreview its first maxDataPreview bytes, as text
	// when DataText, else as hexadecimal.
	DataSize      int    `json:"data_size"`
	DataPreview   string `json:"data_preview"`
	DataText      bool   `json:"data_text"`
	DataTruncated bool   `json:"data_truncated,omitempty"`
	// Verified is whether the signature verifies (only checked where it says so).
	Verified *bool `json:"verified,omitempty"`
}

func viewItem(it *dataitem.Item, verify bool) ItemView {
	v := ItemView{
		ID:            it.ID(),
		SignatureType: int(it.SignatureType),
		SignatureName: it.SignatureType.String(),
		Owner:         it.Address(),
		From:          fromOf(it),
		Tags:          make([]Tag, len(it.Tags)),
		DataSize:      len(it.Data),
	}
	if len(it.Target) > 0 {
		v.Target = dataitem.EncodeID(it.Target)
	}
	if len(it.Anchor) > 0 {
		if utf8.Valid(it.Anchor) {
			v.Anchor = string(it.Anchor)
		} else {
			v.Anchor = dataitem.EncodeID(it.Anchor)
		}
	}
	for i, t := range it.Tags {
		v.Tags[i] = Tag{Name: t.Name, Value: t.Value}
	}
	data := it.Data
	if len(data) > maxDataPreview {
		data, v.DataTruncated = data[:maxDataPreview], true
	}
	// A cut may split a character: the text test ignores an incomplete last rune.
	text := data
	for i := 0; i < 3 && len(text) > 0 && !utf8.Valid(text) && v.DataTruncated; i++ {
		text = text[:len(text)-1]
	}
	if utf8.Valid(text) {
		v.DataText, v.DataPreview = true, string(text)
	} else {
		v.DataPreview = hexDump(data[:min(len(data), 512)])
	}
	if verify {
		ok := it.Verify() == nil
		v.Verified = &ok
	}
	return v
}

// hexDump renders b as rows of 16 hexadecimal bytes.
func hexDump(b []byte) string {
	const digits = "0123456789abcdef"
	var sb strings.Builder
	for i, c := range b {
		switch {
		case i > 0 && i%16 == 0:
			sb.WriteByte('\n')
		case i > 0:
			sb.WriteByte(' ')
		}
		sb.WriteByte(digits[c>>4])
		sb.WriteByte(digits[c&15])
	}
	return sb.String()
}

// ownerOf is the signer as AO names it: the Ethereum address of an Ethereum signer, else the
// Arweave-style address.
func ownerOf(it *dataitem.Item) string {
	if a := it.EthAddress(); a != "" {
		return a
	}
	return it.Address()
}

// fromOf is the sender AO sees: From-Process, else the Ethereum address, else the owner.
func fromOf(it *dataitem.Item) string {
	if v, ok := it.Tag("From-Process"); ok && v != "" {
		return v
	}
	if a := it.EthAddress(); a != "" {
		return a
	}
	return it.Address()
}

func tagOf(it *dataitem.Item, name string) string {
	v, _ := it.Tag(name)
	return v
}

// tagsOf are all values of the tags called name.
func tagsOf(it *dataitem.Item, name string) []string {
	var out []string
	for _, t := range it.Tags {
		if t.Name == name && t.Value != "" {
			out = append(out, t.Value)
		}
	}
	return out
}

// schedulersOf reads a process's Scheduler tags; a comma-separated value names several.
func schedulersOf(it *dataitem.Item) []string {
	out := []string{}
	for _, v := range tagsOf(it, "Scheduler") {
		for _, s := range strings.Split(v, ",") {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, s)
			}
		}
	}
	return out
}

// loadItem reads and parses a stored item; nil, nil when the store does not hold it.
func (e *Explorer) loadItem(id string) (*dataitem.Item, error) {
	raw, err := e.opts.Store.Item(id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	it, err := dataitem.Parse(raw)
	if err != nil {
		// Stored items were parsed before they were stored; one that no longer parses is
		// shown as missing rather than failing the page.
		e.log.Warn("explorer: a stored item does not parse", "id", id, "err", err)
		return nil, nil
	}
	return it, nil
}

// pathID reads an id path value and checks it is one.
func pathID(r *http.Request, name string) (string, error) {
	id := r.PathValue(name)
	if _, err := dataitem.DecodeID(id); err != nil {
		return "", errorf(http.StatusBadRequest, "%s %q is not an id (43 base64url characters)", name, clip(id, 64))
	}
	return id, nil
}

// ansi matches the terminal escapes aos puts in its output.
var ansi = regexp.MustCompile(`\x1b\[[0-9;?]*[ -/]*[@-~]`)

// ResultSummary is what a slot row shows of its evaluation.
type ResultSummary struct {
	Evaluated   bool   `json:"evaluated"`
	Error       bool   `json:"error,omitempty"`
	ErrorText   string `json:"error_text,omitempty"`
	Output      string `json:"output,omitempty"`
	Messages    int    `json:"messages"`
	Spawns      int    `json:"spawns"`
	Assignments int    `json:"assignments"`
	GasUsed     int64  `json:"gas_used,omitempty"`
	Attested    bool   `json:"attested,omitempty"`
}

// resultBody is the part of a CU result the explorer reads: the outbox as aoapi reads it,
// and what a person reads besides.
type resultBody struct {
	aoapi.Result
	Output  json.RawMessage `json:"Output"`
	Error   json.RawMessage `json:"Error"`
	GasUsed json.Number     `json:"GasUsed"`
}

func summarize(rec store.EvalResult) ResultSummary {
	s := ResultSummary{Evaluated: true, Error: rec.HasError, Attested: len(rec.Attestation) > 0}
	var body resultBody
	if err := json.Unmarshal(rec.Result, &body); err != nil {
		s.ErrorText = "the stored result is not JSON"
		return s
	}
	s.Messages, s.Spawns, s.Assignments = len(body.Messages), len(body.Spawns), len(body.Assignments)
	s.GasUsed, _ = body.GasUsed.Int64()
	if t := textOf(body.Error); t != "" {
		s.Error, s.ErrorText = true, preview(t, maxOutputPreview)
	}
	s.Output = preview(textOf(body.Output), maxOutputPreview)
	return s
}

// textOf is what a person reads of an Output or Error: a string as it is, aos's
// {"data": ...} and {"output": ...} by their content, anything else as compact JSON; null and
// "" are nothing.
func textOf(raw json.RawMessage) string {
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var obj struct {
		Data   json.RawMessage `json:"data"`
		Output json.RawMessage `json:"output"`
	}
	if json.Unmarshal(raw, &obj) == nil {
		for _, v := range []json.RawMessage{obj.Data, obj.Output} {
			if len(v) > 0 && string(v) != "null" {
				return textOf(v)
			}
		}
	}
	if string(raw) == "{}" || string(raw) == "[]" {
		return ""
	}
	return string(raw)
}

// preview strips terminal escapes and cuts s to n bytes on a character boundary.
func preview(s string, n int) string {
	s = strings.TrimSpace(ansi.ReplaceAllString(s, ""))
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
