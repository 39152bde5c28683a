package dataitem

import (
	"errors"
	"testing"
)

func TestCheckTagsUTF8(t *testing.T) {
	ok := &Item{Tags: []Tag{{Name: "Action", Value: "Eval"}, {Name: "Näme", Value: "✓"}}}
	if err := ok.CheckTagsUTF8(); err != nil {
		t.Fatal(err)
	}
	for _, it := range []*Item{
		{Tags: []Tag{{Name: "A", Value: "b"}, {Name: "bad\xff", Value: "x"}}},
		{Tags: []Tag{{Name: "A", Value: "\xed\xa0\x80"}}}, // a surrogate's encoding
	} {
		if err := it.CheckTagsUTF8(); !errors.Is(err, ErrTagNotUTF8) {
			t.Errorf("%q: %v", it.Tags, err)
		}
	}
}
