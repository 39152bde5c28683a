package dataitem

import (
	"encoding/binary"
	"fmt"
	"math"
)

// Tag limits of ANS-104 (per tag and count) and of arbundles (the section).
const (
	MaxTags          = 128
	MaxTagNameBytes  = 1024
	MaxTagValueBytes = 3072
	MaxTagBytes      = 4096
)

// Tag is one name/value pair. Names and values are byte strings (Go strings
// may hold any bytes, including invalid UTF-8).
type Tag struct{ Name, Value string }

// EncodeTags returns the canonical Avro encoding of tags, the form arbundles
// writes: one block with the positive tag count, the tags, then a 0 count.
// No tags encode as no bytes at all (nil), not as a lone 0. The limits of
// ANS-104 and the 4096-byte section limit are enforced.
func EncodeTags(tags []Tag) ([]byte, error) {
	if err := checkTags(tags); err != nil {
		return nil, err
	}
	if len(tags) == 0 {
		return nil, nil
	}
	size := varintLen(int64(len(tags))) + 1
	for _, t := range tags {
		size += varintLen(int64(len(t.Name))) + len(t.Name) + varintLen(int64(len(t.Value))) + len(t.Value)
	}
	if size > MaxTagBytes {
		return nil, newError(ErrTagBytesTooLarge, "tags encode to %d bytes, the limit is %d", size, MaxTagBytes)
	}
	return appendTags(make([]byte, 0, size), tags), nil
}

// appendTags appends the canonical encoding of a non-empty tag list.
func appendTags(b []byte, tags []Tag) []byte {
	b = binary.AppendVarint(b, int64(len(tags)))
	for _, t := range tags {
		b = binary.AppendVarint(b, int64(len(t.Name)))
		b = append(b, t.Name...)
		b = binary.AppendVarint(b, int64(len(t.Value)))
		b = append(b, t.Value...)
	}
	return append(b, 0)
}

// varintLen is the length of the zigzag varint of n (binary.AppendVarint is
// exactly Avro's long encoding).
func varintLen(n int64) int {
	var buf [binary.MaxVarintLen64]byte
	return len(binary.AppendVarint(buf[:0], n))
}

// checkTags applies rules 8 and 9 (count, empty, name and value lengths).
func checkTags(tags []Tag) error {
	if len(tags) > MaxTags {
		return newError(ErrTagCountExceeded, "%d tags, the limit is %d", len(tags), MaxTags)
	}
	for i, t := range tags {
		switch {
		case t.Name == "":
			return newError(ErrEmptyTag, "tag %d has an empty name", i)
		case t.Value == "":
			return newError(ErrEmptyTag, "tag %d (%.64q) has an empty value", i, t.Name)
		case len(t.Name) > MaxTagNameBytes:
			return newError(ErrTagNameTooLong, "tag %d name is %d bytes, the limit is %d", i, len(t.Name), MaxTagNameBytes)
		case len(t.Value) > MaxTagValueBytes:
			return newError(ErrTagValueTooLong, "tag %d (%.64q) value is %d bytes, the limit is %d", i, t.Name, len(t.Value), MaxTagValueBytes)
		}
	}
	return nil
}

// DecodeTags decodes a tag section. It accepts every valid Avro encoding of
// one array of {name: bytes, value: bytes} records (several blocks, negative
// block counts with their byte size, non-minimal varints) and nothing else:
// a missing terminator, bytes after it, a bad varint, a negative or overlong
// length, or a block size that does not match its block are
// invalid_tags_encoding errors. Zero bytes mean no tags (nil). Limits are not
// checked here; Parse checks them.
func DecodeTags(b []byte) ([]Tag, error) {
	if len(b) == 0 {
		return nil, nil
	}
	// One string holds the whole section so that names and values are
	// substrings of it rather than one allocation each.
	s := string(b)
	d := avroDecoder{b: b}
	var tags []Tag
	for {
		count, err := d.long("block count")
		if err != nil {
			return nil, err
		}
		if count == 0 {
			break
		}
		blockEnd := -1
		if count < 0 {
			if count == math.MinInt64 {
				return nil, d.fail("block count out of range")
			}
			count = -count
			size, err := d.long("block size")
			if err != nil {
				return nil, err
			}
			if size < 0 || size > int64(len(b)-d.off) {
				return nil, d.fail("block size %d out of range", size)
			}
			blockEnd = d.off + int(size)
		}
		// Every record takes at least two bytes, which bounds both the loop
		// and the allocation by the input length.
		if count > int64(len(b)-d.off)/2 {
			return nil, d.fail("block count %d exceeds the remaining %d bytes", count, len(b)-d.off)
		}
		if tags == nil {
			tags = make([]Tag, 0, count)
		}
		for range count {
			name, err := d.bytes(s, "tag name")
			if err != nil {
				return nil, err
			}
			value, err := d.bytes(s, "tag value")
			if err != nil {
				return nil, err
			}
			tags = append(tags, Tag{Name: name, Value: value})
		}
		if blockEnd >= 0 && d.off != blockEnd {
			return nil, d.fail("block size does not match its %d records", count)
		}
	}
	if d.off != len(b) {
		return nil, &Error{Class: ErrInvalidTagsEncoding.Class, Msg: fmt.Sprintf("%d bytes after the array terminator", len(b)-d.off)}
	}
	return tags, nil
}

type avroDecoder struct {
	b   []byte
	off int
}

func (d *avroDecoder) fail(format string, args ...any) error {
	return &Error{Class: ErrInvalidTagsEncoding.Class, Msg: fmt.Sprintf("at byte %d: ", d.off) + fmt.Sprintf(format, args...)}
}

// long reads a zigzag base-128 varint of at most 10 bytes.
func (d *avroDecoder) long(what string) (int64, error) {
	var u uint64
	for i := 0; ; i++ {
		if d.off >= len(d.b) {
			return 0, d.fail("input ends inside the %s", what)
		}
		c := d.b[d.off]
		d.off++
		if i == 9 && c > 1 {
			return 0, d.fail("%s overflows 64 bits", what)
		}
		u |= uint64(c&0x7f) << (7 * i)
		if c < 0x80 {
			break
		}
	}
	return int64(u>>1) ^ -int64(u&1), nil
}

func (d *avroDecoder) bytes(s, what string) (string, error) {
	n, err := d.long(what + " length")
	if err != nil {
		return "", err
	}
	if n < 0 {
		return "", d.fail("negative %s length %d", what, n)
	}
	if n > int64(len(d.b)-d.off) {
		return "", d.fail("%s length %d exceeds the remaining %d bytes", what, n, len(d.b)-d.off)
	}
	v := s[d.off : d.off+int(n)]
	d.off += int(n)
	return v, nil
}
