package mu

import (
	"encoding/json"
	"errors"
	"testing"
)

func testParent() Process {
	return Process{ID: "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", Scheduler: "sched", Module: "mod"}
}

func TestBuildMessageAssignmentsAndData(t *testing.T) {
	s := keyFromSeed("mu")
	a, b := randomID(), randomID()
	anchor := anchorFor("x", 0)
	for _, tc := range []struct {
		name    string
		msg     map[string]any
		assigns int
		data    string
		drop    bool
	}{
		{"json assignments", map[string]any{"Target": a, "Anchor": anchor, "Tags": []Tag{{Name: "Assignments", Value: `["` + a + `","` + b + `"]`}}}, 2, " ", false},
		{"csv assignments", map[string]any{"Target": a, "Anchor": anchor, "Data": "", "Tags": []Tag{{Name: "Assignments", Value: a + ", " + b}}}, 2, " ", false},
		{"bad assignment", map[string]any{"Target": a, "Anchor": anchor, "Tags": []Tag{{Name: "Assignments", Value: "nope"}}}, 0, "", true},
		{"object data", map[string]any{"Target": a, "Anchor": anchor, "Data": map[string]int{"x": 1}, "Tags": []Tag{}}, 0, `{"x":1}`, false},
		{"numeric tag", map[string]any{"Target": a, "Anchor": anchor, "Data": "d", "Tags": []map[string]any{{"name": "N", "value": 5}}}, 0, "d", false},
		{"short anchor", map[string]any{"Target": a, "Anchor": "1", "Tags": []Tag{}}, 0, "", true},
		{"bad target", map[string]any{"Target": "wallet", "Anchor": anchor, "Tags": []Tag{}}, 0, "", true},
		{"no tags", map[string]any{"Target": a, "Anchor": anchor}, 0, "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw, _ := json.Marshal(tc.msg)
			p, err := buildMessage(s, raw, testParent(), "", DefaultMaxItemBytes)
			if tc.drop {
				if !errors.Is(err, errDrop) {
					t.Fatalf("want a drop, got %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(p.assigns) != tc.assigns || string(p.item.Data) != tc.data {
				t.Fatalf("assigns %v data %q", p.assigns, p.item.Data)
			}
			if _, ok := p.item.Tag("Assignments"); ok {
				t.Fatal("Assignments tag kept on the pushed item")
			}
			if err := p.item.Verify(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestBuiltItemsAreDeterministic(t *testing.T) {
	raw, _ := json.Marshal(outMsg(randomID(), anchorFor("y", 1), Tag{Name: "Action", Value: "A"}))
	p1, err1 := buildMessage(keyFromSeed("mu"), raw, testParent(), "pf", DefaultMaxItemBytes)
	p2, err2 := buildMessage(keyFromSeed("mu"), raw, testParent(), "pf", DefaultMaxItemBytes)
	if err1 != nil || err2 != nil || p1.item.ID() != p2.item.ID() {
		t.Fatalf("rebuilt item differs: %v %v", err1, err2)
	}
}

func FuzzOutbox(f *testing.F) {
	a := randomID()
	for _, seed := range []any{
		outMsg(a, anchorFor("z", 0), Tag{Name: "Action", Value: "Ping"}, Tag{Name: "Cast", Value: "true"}),
		map[string]any{"Tags": []Tag{{Name: "Module", Value: "m"}}, "Data": "d"},
		map[string]any{"Processes": []string{a}, "Message": a, "Exclude": []string{"Data"}},
	} {
		b, _ := json.Marshal(seed)
		f.Add(b)
	}
	f.Add([]byte(`{"Target":null,"Tags":[{"name":1}]}`))
	s := keyFromSeed("mu")
	f.Fuzz(func(t *testing.T, raw []byte) {
		if p, err := buildMessage(s, raw, testParent(), "pf", DefaultMaxItemBytes); err == nil {
			if err := p.item.Verify(); err != nil {
				t.Fatal(err)
			}
		} else if !errors.Is(err, errDrop) {
			t.Fatalf("message: error that is not a drop: %v", err)
		}
		if sp, err := buildSpawn(s, raw, testParent(), "pf", DefaultMaxItemBytes); err == nil {
			if err := sp.process.Verify(); err != nil {
				t.Fatal(err)
			}
			if err := sp.notice.Verify(); err != nil {
				t.Fatal(err)
			}
		} else if !errors.Is(err, errDrop) {
			t.Fatalf("spawn: error that is not a drop: %v", err)
		}
		_, _ = parseAssignment(raw)
	})
}

func BenchmarkBuildMessage(b *testing.B) {
	raw, _ := json.Marshal(outMsg(randomID(), anchorFor("b", 0), Tag{Name: "Action", Value: "Transfer"}, Tag{Name: "Quantity", Value: "100"}))
	s := keyFromSeed("mu")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := buildMessage(s, raw, testParent(), "pf", DefaultMaxItemBytes); err != nil {
			b.Fatal(err)
		}
	}
}
