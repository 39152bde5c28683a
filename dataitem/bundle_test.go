package dataitem

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
)

func TestBundleBuildParse(t *testing.T) {
	var items []*Item
	for id, s := range loadVectorSigners(t) {
		it, err := Sign(s, Fields{Tags: []Tag{{Name: "Key", Value: id}}, Data: []byte(id)})
		if err != nil {
			t.Fatal(err)
		}
		items = append(items, it)
	}
	raw := BuildBundle(items)
	got, err := ParseBundle(raw)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(items) {
		t.Fatalf("%d items, want %d", len(got), len(items))
	}
	for i := range items {
		if got[i].ID() != items[i].ID() {
			t.Fatalf("item %d id differs", i)
		}
	}
	// A bundle nests as the data of an item with the bundle tags.
	outer := testItem(t, Fields{Tags: []Tag{{Name: BundleFormatTag, Value: BundleFormatBinary}, {Name: BundleVersionTag, Value: BundleVersionANS104}}, Data: raw})
	if _, err := ParseBundle(outer.Data); err != nil {
		t.Fatal(err)
	}
}

func TestBundleRules(t *testing.T) {
	a := testItem(t, Fields{Data: []byte("a")})
	b := testItem(t, Fields{Data: []byte("bb")})
	good := BuildBundle([]*Item{a, b})
	set := func(raw []byte, off int, v uint64) []byte {
		raw = bytes.Clone(raw)
		binary.LittleEndian.PutUint64(raw[off:], v)
		return raw
	}
	corruptItem := bytes.Clone(good)
	corruptItem[len(corruptItem)-1] ^= 1
	badID := bytes.Clone(good)
	badID[32+64+32] ^= 1
	hugeCount := bytes.Clone(good)
	hugeCount[31] = 1
	hugeSize := bytes.Clone(good)
	hugeSize[32+31] = 1
	cases := []struct {
		name string
		raw  []byte
		want error
	}{
		{"empty bundle", make([]byte, 32), nil},
		{"good", good, nil},
		{"short", make([]byte, 31), ErrBundleTruncated},
		{"count beyond header", set(good, 0, 100), ErrBundleTruncated},
		{"count over 64 bits", hugeCount, ErrBundleTruncated},
		{"count max uint64", set(good, 0, 1<<64-1), ErrBundleTruncated},
		{"trailing byte", append(bytes.Clone(good), 0), ErrBundleSizeMismatch},
		{"cut item", good[:len(good)-1], ErrBundleSizeMismatch},
		{"size too large", set(good, 32, uint64(len(a.Raw())+1)), ErrBundleSizeMismatch},
		{"size over 64 bits", hugeSize, ErrBundleSizeMismatch},
		{"sizes overflow", set(set(good, 32, 1<<63-1), 96, 1<<63-1), ErrBundleSizeMismatch},
		{"empty with trailing", append(make([]byte, 32), 1), ErrBundleSizeMismatch},
		{"bad item", corruptItem, ErrBundleItemInvalid},
		{"bad id", badID, ErrBundleIDMismatch},
		{"zero-size item", set(set(good, 0, 1), 32, 0)[:96], ErrBundleItemInvalid},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseBundle(c.raw)
			if c.want == nil {
				if err != nil {
					t.Fatalf("rejected: %v", err)
				}
				return
			}
			if !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
		})
	}
	_, err := ParseBundle(corruptItem)
	if !errors.Is(err, ErrInvalidSignature) {
		t.Fatalf("bundle item error does not wrap the item's: %v", err)
	}
}
