package su

import (
	"strconv"
	"unicode/utf8"

	"github.com/aonode/aonode/dataitem"
	"github.com/aonode/aonode/dataitem/aoapi"
	"github.com/aonode/aonode/dataitem/utf8lossy"
	"github.com/aonode/aonode/store"
)

// The reference SU's JSON (ao-protocol §1.2) is defined once, in aoapi; these build it from
// stored items.

func ownerOf(it *dataitem.Item) aoapi.Owner {
	return aoapi.Owner{Address: it.Address(), Key: dataitem.EncodeID(it.Owner)}
}

func tagsOf(it *dataitem.Item) []aoapi.Tag {
	out := make([]aoapi.Tag, len(it.Tags))
	for i, t := range it.Tags {
		out[i] = aoapi.Tag{Name: utf8lossy.String(t.Name), Value: utf8lossy.String(t.Value)}
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

func newMessage(it *dataitem.Item) *aoapi.Message {
	data := utf8lossy.Bytes(it.Data)
	return &aoapi.Message{
		ID:        it.ID(),
		Owner:     ownerOf(it),
		Data:      &data,
		Tags:      tagsOf(it),
		Signature: dataitem.EncodeID(it.Signature),
		Anchor:    anchorOf(it, false),
		Target:    targetOf(it),
	}
}

func newAssignment(a *dataitem.Item, showAnchor bool) *aoapi.Assignment {
	return &aoapi.Assignment{
		ID:        a.ID(),
		Owner:     ownerOf(a),
		Tags:      tagsOf(a),
		Signature: dataitem.EncodeID(a.Signature),
		Anchor:    anchorOf(a, showAnchor),
		Target:    "",
	}
}

func newProcess(p *dataitem.Item, s store.Slot) aoapi.Process {
	var data *string
	if utf8.Valid(p.Data) {
		d := string(p.Data)
		data = &d
	}
	return aoapi.Process{
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
