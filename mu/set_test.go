package mu

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/aonode/aonode/dataitem"
	"github.com/aonode/aonode/dataitem/aoapi"
)

// TestSendsToAnyLiveMemberOfSet: a process names two SUs. The MU sends to the first member of
// the set in order; when that one answers 503, and then when its server is gone (connection
// refused), the item goes to the next member, for client messages and spawns alike.
func TestSendsToAnyLiveMemberOfSet(t *testing.T) {
	x, y := newFakeSU(t), newFakeSU(t)
	first, second := x, y
	if y.addr < x.addr {
		first, second = y, x
	}
	user := keyFromSeed("user")
	p := processItem(t, user, second.addr, "module-P", dataitem.Tag{Name: "Scheduler", Value: first.addr})
	first.install(t, p)
	second.install(t, p)
	cu := newFakeCU(t, func(string, *dataitem.Item) map[string]any { return nil }, first, second)
	db := openStore(t, "")
	defer db.Close()
	m := startMU(t, db, StaticRouter{ByAddress: map[string]string{x.addr: x.srv.URL, y.addr: y.srv.URL}}, cu, nil)

	// Both up: the first member of the set takes it.
	m0 := messageItem(t, user, p.ID())
	if status, body := post(t, m.srv.URL, m0.Raw()); status != 202 {
		t.Fatalf("POST = %d %s", status, body)
	}
	first.mu.Lock()
	firstGot := first.accepted[m0.ID()]
	first.mu.Unlock()
	second.mu.Lock()
	secondGot := second.accepted[m0.ID()]
	second.mu.Unlock()
	if firstGot != 1 || secondGot != 0 {
		t.Fatal("the first member of the set did not take the message")
	}
	// The first member fails on its side: the next one takes it.
	first.mu.Lock()
	first.failNext = 1
	first.mu.Unlock()
	m1 := messageItem(t, user, p.ID())
	if status, body := post(t, m.srv.URL, m1.Raw()); status != 202 {
		t.Fatalf("POST with a member answering 503 = %d %s", status, body)
	}
	// The first member is gone.
	first.srv.Close()
	m2 := messageItem(t, user, p.ID())
	if status, body := post(t, m.srv.URL, m2.Raw()); status != 202 {
		t.Fatalf("POST with a member down = %d %s", status, body)
	}
	child := processItem(t, user, first.addr, "module-C", dataitem.Tag{Name: "Scheduler", Value: second.addr})
	if status, body := post(t, m.srv.URL, child.Raw()); status != 202 {
		t.Fatalf("spawn with a member down = %d %s", status, body)
	}
	waitFor(t, "idle", func() bool { return m.Pending() == 0 })
	second.mu.Lock()
	got := []int{second.accepted[m1.ID()], second.accepted[m2.ID()], second.accepted[child.ID()]}
	second.mu.Unlock()
	if !slices.Equal(got, []int{1, 1, 1}) {
		t.Fatalf("the live member took %v of the three", got)
	}
	if f := testutil.ToFloat64(m.met.failover); f < 3 {
		t.Fatalf("failovers counted: %v", f)
	}
}

// TestOneSchedulerUnchanged: a process of one SU is sent to that SU alone, and when it is
// down the MU answers 502 as before (no member to fail over to).
func TestOneSchedulerUnchanged(t *testing.T) {
	w := newWorld(t, nil)
	w.su.srv.Close()
	if status, body := post(t, w.mu.srv.URL, messageItem(t, w.user, w.a.ID()).Raw()); status != 502 {
		t.Fatalf("got %d %s, want 502", status, body)
	}
	if f := testutil.ToFloat64(w.mu.met.failover); f != 0 {
		t.Fatalf("failovers with one SU: %v", f)
	}
}

// TestSpawnInheritsSchedulerSet: a Spawn without a Scheduler tag from a process of a set is
// sequenced by the same set; from a process of one SU, by that SU as before.
func TestSpawnInheritsSchedulerSet(t *testing.T) {
	raw, _ := json.Marshal(map[string]any{"Tags": []map[string]string{{"name": "Module", "value": "m"}}, "Anchor": anchorFor("x", 0)})
	s := keyFromSeed("mu")
	parent := testParent()
	sp, err := buildSpawn(s, raw, parent, "pf", DefaultMaxItemBytes)
	if err != nil {
		t.Fatal(err)
	}
	if got := aoapi.Schedulers(sp.process.Tags); !slices.Equal(got, []string{"sched"}) {
		t.Fatalf("one SU: %v", got)
	}
	parent.Schedulers = []string{"a", "b", "c"}
	sp, err = buildSpawn(s, raw, parent, "pf", DefaultMaxItemBytes)
	if err != nil {
		t.Fatal(err)
	}
	if got := aoapi.Schedulers(sp.process.Tags); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Fatalf("set: %v", got)
	}
}
