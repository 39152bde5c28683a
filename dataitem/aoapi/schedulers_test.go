package aoapi

import (
	"slices"
	"testing"

	"github.com/aonode/aonode/dataitem"
)

func TestSchedulers(t *testing.T) {
	tag := func(v string) dataitem.Tag { return dataitem.Tag{Name: "Scheduler", Value: v} }
	cases := []struct {
		name string
		tags []dataitem.Tag
		want []string
	}{
		{"none", []dataitem.Tag{{Name: "Module", Value: "m"}}, nil},
		{"one", []dataitem.Tag{tag("b")}, []string{"b"}},
		{"repeated tags in any order", []dataitem.Tag{tag("c"), {Name: "Module", Value: "m"}, tag("a"), tag("b")}, []string{"a", "b", "c"}},
		{"comma list", []dataitem.Tag{tag(" c, a ,b")}, []string{"a", "b", "c"}},
		{"duplicates and empties", []dataitem.Tag{tag("a,,a"), tag("a"), tag(" ")}, []string{"a"}},
		{"other case is another tag", []dataitem.Tag{{Name: "scheduler", Value: "x"}, tag("y")}, []string{"y"}},
	}
	for _, c := range cases {
		if got := Schedulers(c.tags); !slices.Equal(got, c.want) {
			t.Errorf("%s: Schedulers = %q, want %q", c.name, got, c.want)
		}
	}
}
