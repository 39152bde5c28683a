package dataitem

import (
	"bytes"
	"testing"
)

// seedItems adds the vectors (except the 1 MiB one) to a fuzz corpus.
func seedItems(f *testing.F) [][]byte {
	var seeds [][]byte
	for _, v := range loadItemVectors(f, "items.json", "invalid.json") {
		seeds = append(seeds, mustStd64(f, v.RawBase64))
	}
	return seeds
}

// FuzzParse: no input panics, and whatever parses re-serialises to the same
// bytes and can be verified.
func FuzzParse(f *testing.F) {
	for _, s := range seedItems(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		it, err := Parse(raw)
		if err != nil {
			if ErrorClass(err) == "" {
				t.Fatalf("error without class: %v", err)
			}
			return
		}
		re := serialise(it.SignatureType, it.Signature, it.Owner, it.Target, it.Anchor, len(it.Tags), it.TagBytes(), it.Data)
		if !bytes.Equal(re, raw) {
			t.Fatalf("re-serialised item differs")
		}
		if err := it.Verify(); err != nil && ErrorClass(err) != "invalid_signature" {
			t.Fatalf("Verify error of class %q: %v", ErrorClass(err), err)
		}
		_ = it.ID()
		_ = it.Address()
		_ = it.EthAddress()
	})
}

// FuzzParseBundle: no input panics; whatever parses rebuilds to the same bytes.
func FuzzParseBundle(f *testing.F) {
	var bf vectorFile[bundleVector]
	loadJSON(f, "bundles.json", &bf)
	for _, v := range bf.Vectors {
		f.Add(mustStd64(f, v.RawBase64))
	}
	f.Add(make([]byte, 32))
	seeds := seedItems(f)
	for i := 0; i+1 < len(seeds); i += 2 {
		a, errA := Parse(seeds[i])
		b, errB := Parse(seeds[i+1])
		if errA == nil && errB == nil {
			f.Add(BuildBundle([]*Item{a, b}))
		}
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		items, err := ParseBundle(raw)
		if err != nil {
			if ErrorClass(err) == "" {
				t.Fatalf("error without class: %v", err)
			}
			return
		}
		if !bytes.Equal(BuildBundle(items), raw) {
			t.Fatal("rebuilt bundle differs")
		}
	})
}

// FuzzDecodeTags: decoding never panics, and tags that decode and fit the
// limits encode canonically to bytes that decode to the same tags.
func FuzzDecodeTags(f *testing.F) {
	for _, s := range [][]byte{{}, {0}, {0x02, 0x02, 'a', 0x02, 'b', 0x00}, {0x01, 0x08, 0x02, 'a', 0x02, 'b', 0x00}} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		tags, err := DecodeTags(b)
		if err != nil {
			if ErrorClass(err) != "invalid_tags_encoding" {
				t.Fatalf("error of class %q: %v", ErrorClass(err), err)
			}
			return
		}
		enc, err := EncodeTags(tags)
		if err != nil {
			return
		}
		back, err := DecodeTags(enc)
		if err != nil || len(back) != len(tags) {
			t.Fatalf("canonical form does not decode: %v", err)
		}
		for i := range back {
			if back[i] != tags[i] {
				t.Fatalf("tag %d changed", i)
			}
		}
	})
}
