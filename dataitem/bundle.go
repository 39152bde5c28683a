package dataitem

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"math"
)

// The tags that mark a data item (or transaction) whose data is a bundle.
// Tag names are compared as bytes; HyperBEAM writes them in lowercase.
const (
	BundleFormatTag     = "Bundle-Format"
	BundleFormatBinary  = "binary"
	BundleVersionTag    = "Bundle-Version"
	BundleVersionANS104 = "2.0.0"
)

const (
	bundleCountSize = 32
	bundleEntrySize = 64 // 32-byte size, 32-byte id
)

// ParseBundle reads an ANS-104 binary bundle and verifies it completely: the
// header table fits the buffer, the sizes add up to exactly the bytes after
// it, every item passes ParseVerified, and every header id is the id of its
// item. An empty bundle (32 zero bytes) is valid and yields no items. Items
// alias raw.
func ParseBundle(raw []byte) ([]*Item, error) {
	if len(raw) < bundleCountSize {
		return nil, newError(ErrBundleTruncated, "%d bytes, a bundle has at least %d", len(raw), bundleCountSize)
	}
	count, ok := le256(raw[:bundleCountSize])
	maxCount := uint64(len(raw)-bundleCountSize) / bundleEntrySize
	if !ok || count > maxCount {
		return nil, newError(ErrBundleTruncated, "%d-byte bundle cannot hold the header table of %s items", len(raw), le256String(raw[:bundleCountSize]))
	}
	n := int(count)
	bodyStart := bundleCountSize + n*bundleEntrySize
	body := uint64(len(raw) - bodyStart)
	sizes := make([]int, n)
	var total uint64
	for i := range n {
		e := raw[bundleCountSize+i*bundleEntrySize:]
		size, ok := le256(e[:32])
		if !ok || size > body || total+size > body {
			return nil, newError(ErrBundleSizeMismatch, "item %d's size %s runs past the end of the %d-byte body", i, le256String(e[:32]), body)
		}
		sizes[i] = int(size)
		total += size
	}
	if total != body {
		return nil, newError(ErrBundleSizeMismatch, "item sizes add up to %d bytes, the body has %d", total, body)
	}
	items := make([]*Item, n)
	off := bodyStart
	for i, size := range sizes {
		it, err := ParseVerified(raw[off : off+size : off+size])
		if err != nil {
			return nil, &Error{Class: ErrBundleItemInvalid.Class, Msg: "item " + itoa(i) + " at offset " + itoa(off), Err: err}
		}
		items[i] = it
		off += size
	}
	for i, it := range items {
		id := it.RawID()
		header := raw[bundleCountSize+i*bundleEntrySize+32 : bundleCountSize+(i+1)*bundleEntrySize]
		if !bytes.Equal(header, id[:]) {
			return nil, newError(ErrBundleIDMismatch, "header id %d is %s, the item's id is %s", i, EncodeID(header), it.ID())
		}
	}
	return items, nil
}

// le256 reads a 256-bit little-endian integer, reporting false when it does
// not fit 63 bits (no buffer is that large).
func le256(b []byte) (uint64, bool) {
	for _, c := range b[8:] {
		if c != 0 {
			return 0, false
		}
	}
	v := binary.LittleEndian.Uint64(b)
	return v, v <= math.MaxInt64
}

func le256String(b []byte) string {
	if v, ok := le256(b); ok {
		return itoa64(v)
	}
	return "0x" + reverseHex(b)
}

func reverseHex(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for i := len(b) - 1; i >= 0; i-- {
		out = append(out, digits[b[i]>>4], digits[b[i]&0x0f])
	}
	return string(out)
}

// BuildBundle serialises items as an ANS-104 binary bundle, in order.
func BuildBundle(items []*Item) []byte {
	size := bundleCountSize + len(items)*bundleEntrySize
	for _, it := range items {
		size += len(it.raw)
	}
	b := make([]byte, size)
	binary.LittleEndian.PutUint64(b, uint64(len(items)))
	off := bundleCountSize + len(items)*bundleEntrySize
	for i, it := range items {
		e := b[bundleCountSize+i*bundleEntrySize:]
		binary.LittleEndian.PutUint64(e, uint64(len(it.raw)))
		id := sha256.Sum256(it.Signature)
		copy(e[32:64], id[:])
		off += copy(b[off:], it.raw)
	}
	return b
}
