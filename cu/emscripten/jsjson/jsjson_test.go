package jsjson

import (
	"errors"
	"testing"
)

func TestStringify(t *testing.T) {
	cases := []struct{ in, want string }{
		{`{"b":1,"a":2}`, `{"b":1,"a":2}`},
		{`{"b":1,"10":2,"2":3,"a":4,"01":5}`, `{"2":3,"10":2,"b":1,"a":4,"01":5}`},
		{`{"a":1,"b":2,"a":3}`, `{"a":3,"b":2}`},
		{` [1.0, -0, 1e21, 1e20, 0.000001, 1e-7, 123.456, 1e400, 5e-324] `, `[1,0,1e+21,100000000000000000000,0.000001,1e-7,123.456,null,5e-324]`},
		{`"\u00e9\/<>&\u2028\ud83d\ude80\ud800x\u001f\u007f"`, "\"é/<>&\u2028🚀\\ud800x\\u001f\u007f\""},
		{`"h\u00e9llo ✓ 日本"`, `"héllo ✓ 日本"`},
		{`{"Tags":[{"name":"Action","value":"Eval"}],"Block-Height":1000,"Timestamp":1700000001000}`, `{"Tags":[{"name":"Action","value":"Eval"}],"Block-Height":1000,"Timestamp":1700000001000}`},
		{`[true,false,null,{},[]]`, `[true,false,null,{},[]]`},
		{`{"\ud800":1,"\ufffd":2,"\ud800":3}`, "{\"\\ud800\":3,\"\ufffd\":2}"},
	}
	for _, c := range cases {
		got, err := Stringify([]byte(c.in))
		if err != nil {
			t.Fatalf("Stringify(%s): %v", c.in, err)
		}
		if string(got) != c.want {
			t.Errorf("Stringify(%s) = %s, want %s", c.in, got, c.want)
		}
	}
}

func TestStringifyRejects(t *testing.T) {
	for _, in := range []string{``, `{`, `[1,]`, `01`, `"\x01"`, `{"a" 1}`, `tru`, `1 2`, "\"\xff\"", `"\u12"`, `-`, `1.`, `1e`} {
		if _, err := Stringify([]byte(in)); !errors.Is(err, ErrSyntax) {
			t.Errorf("Stringify(%q) error = %v, want ErrSyntax", in, err)
		}
	}
}

func TestFormatNumber(t *testing.T) {
	for f, want := range map[float64]string{0.1: "0.1", 1.5e300: "1.5e+300", -2.5e-8: "-2.5e-8", 123e18: "123000000000000000000", 1.2345e21: "1.2345e+21"} {
		if got := FormatNumber(f); got != want {
			t.Errorf("FormatNumber(%v) = %s, want %s", f, got, want)
		}
	}
}

// FuzzStringify checks that any input either fails with ErrSyntax or yields JSON that
// Stringify leaves unchanged (JSON.stringify output is a fixed point).
func FuzzStringify(f *testing.F) {
	for _, s := range []string{`{"a":[1,2.5e-9,"\ud800"],"1":null}`, `"x"`, `[[[]]]`, `{"b":{"a":1},"b":2}`, `-0.0`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		out, err := Stringify(in)
		if err != nil {
			if !errors.Is(err, ErrSyntax) {
				t.Fatalf("error %v is not ErrSyntax", err)
			}
			return
		}
		again, err := Stringify(out)
		if err != nil || string(again) != string(out) {
			t.Fatalf("not a fixed point: %s -> %s (%v)", out, again, err)
		}
	})
}
