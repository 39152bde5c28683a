package mu

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aonode/aonode/dataitem"
	"github.com/aonode/aonode/node/clock"
	"github.com/aonode/aonode/store"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	if os.Getenv(crashChildEnv) == "1" {
		os.Exit(runCrashChild())
	}
	goleak.VerifyTestMain(m)
}

type testMU struct {
	*MU
	srv *httptest.Server
	reg *prometheus.Registry
	db  *store.DB
}

func openStore(t testing.TB, dir string) *store.DB {
	t.Helper()
	opts := store.DefaultOptions(dir)
	opts.InMemory = dir == ""
	opts.GCInterval = -1
	db, err := store.Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func startMU(t testing.TB, db *store.DB, router Router, cu *fakeCU, mod func(*Config)) *testMU {
	t.Helper()
	reg := prometheus.NewRegistry()
	cfg := Config{
		Store: db, Signer: keyFromSeed("mu"), Router: router, CUURL: cu.srv.URL,
		Registerer: reg, Workers: 3, RetryBase: time.Millisecond, RetryMax: 20 * time.Millisecond,
		MaxAttempts: 5, CronInterval: time.Hour, Logger: testLogger(),
	}
	if mod != nil {
		mod(&cfg)
	}
	m, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(m.Handler())
	tm := &testMU{MU: m, srv: srv, reg: reg, db: db}
	t.Cleanup(func() {
		srv.Close()
		_ = m.Close()
	})
	return tm
}

// world is one fake SU, one fake CU, an MU in front of them and two processes A and B.
type world struct {
	su     *fakeSU
	cu     *fakeCU
	mu     *testMU
	user   dataitem.Signer
	a, b   *dataitem.Item
	progFn program
}

func newWorld(t *testing.T, mod func(*Config)) *world {
	t.Helper()
	w := &world{user: keyFromSeed("user")}
	w.su = newFakeSU(t)
	w.cu = newFakeCU(t, func(pid string, it *dataitem.Item) map[string]any {
		if w.progFn == nil {
			return nil
		}
		return w.progFn(pid, it)
	}, w.su)
	w.a = processItem(t, w.user, w.su.addr, "module-A")
	w.b = processItem(t, w.user, w.su.addr, "module-B")
	w.su.install(t, w.a)
	w.su.install(t, w.b)
	db := openStore(t, "")
	t.Cleanup(func() { _ = db.Close() })
	w.mu = startMU(t, db, StaticRouter{Default: w.su.srv.URL}, w.cu, mod)
	return w
}

func post(t *testing.T, url string, body []byte) (int, string) {
	t.Helper()
	resp, err := http.Post(url, "application/octet-stream", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func (w *world) idle(t *testing.T) {
	t.Helper()
	waitFor(t, "the crank queue to drain", func() bool { return w.mu.Pending() == 0 })
}

// pushedTo returns the items the fake SU accepted for target whose Action tag is action.
func (w *world) pushedTo(target, action string) []*dataitem.Item {
	w.su.mu.Lock()
	defer w.su.mu.Unlock()
	var out []*dataitem.Item
	for _, id := range w.su.order {
		it := w.su.items[id]
		if a, _ := it.Tag("Action"); a == action && (target == "" || dataitem.EncodeID(it.Target) == target) {
			out = append(out, it)
		}
	}
	return out
}

func TestIntakeRefusesBadItems(t *testing.T) {
	w := newWorld(t, nil)
	good := messageItem(t, w.user, w.a.ID(), dataitem.Tag{Name: "Action", Value: "Ping"})

	tampered := append([]byte(nil), good.Raw()...)
	tampered[10] ^= 0xff // inside the signature
	noProtocol := mustSign(t, w.user, dataitem.Fields{Target: good.Target, Tags: []dataitem.Tag{{Name: "Type", Value: "Message"}}, Data: []byte("x")})
	wrongProtocol := mustSign(t, w.user, dataitem.Fields{Target: good.Target, Tags: []dataitem.Tag{{Name: "Data-Protocol", Value: "other"}, {Name: "Type", Value: "Message"}}, Data: []byte("x")})
	module := mustSign(t, w.user, dataitem.Fields{Tags: []dataitem.Tag{{Name: "Data-Protocol", Value: "ao"}, {Name: "Type", Value: "Module"}}, Data: []byte("x")})
	noTarget := mustSign(t, w.user, dataitem.Fields{Tags: []dataitem.Tag{{Name: "Data-Protocol", Value: "ao"}, {Name: "Type", Value: "Message"}}, Data: []byte("x")})
	unknown := messageItem(t, w.user, randomID(), dataitem.Tag{Name: "Action", Value: "Ping"})
	fromProcess := messageItem(t, w.user, w.a.ID(), dataitem.Tag{Name: "From-Process", Value: w.b.ID()})
	fromModule := messageItem(t, w.user, w.a.ID(), dataitem.Tag{Name: "From-Module", Value: "module-B"})
	spawnFrom := processItem(t, w.user, w.su.addr, "module-C", dataitem.Tag{Name: "from-process", Value: w.b.ID()})

	for _, tc := range []struct {
		name   string
		body   []byte
		status int
		text   string
	}{
		{"bad signature", tampered, 400, "Invalid data item"},
		{"garbage", []byte("not an item"), 400, "Invalid data item"},
		{"empty", nil, 400, "empty"},
		{"no Data-Protocol", noProtocol.Raw(), 400, "Data-Protocol"},
		{"wrong Data-Protocol", wrongProtocol.Raw(), 400, "Data-Protocol"},
		{"Type Module", module.Raw(), 400, "Type tag"},
		{"Message without target", noTarget.Raw(), 400, "target"},
		{"unknown target process", unknown.Raw(), 400, "not found"},
		{"From-Process from a client", fromProcess.Raw(), 400, "From-Process"},
		{"From-Module from a client", fromModule.Raw(), 400, "From-Module"},
		{"Process with From-Process", spawnFrom.Raw(), 400, "from-process"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := post(t, w.mu.srv.URL, tc.body)
			if status != tc.status || !strings.Contains(body, tc.text) || !strings.HasPrefix(body, `{"error":`) {
				t.Fatalf("got %d %s, want %d with %q", status, body, tc.status, tc.text)
			}
		})
	}
	if w.su.count() != 0 {
		t.Fatalf("refused items reached the SU: %d", w.su.count())
	}

	t.Run("too large", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPost, w.mu.srv.URL, bytes.NewReader(make([]byte, 11<<20)))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Fatalf("status %d, want 413", resp.StatusCode)
		}
	})
	t.Run("assign without process-id", func(t *testing.T) {
		status, body := post(t, w.mu.srv.URL+"/?assign="+good.ID(), nil)
		if status != 400 || !strings.Contains(body, "must send both") {
			t.Fatalf("got %d %s", status, body)
		}
	})
	t.Run("root", func(t *testing.T) {
		resp, err := http.Get(w.mu.srv.URL + "/")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(b) != "ao messenger unit" {
			t.Fatalf("GET / = %d %q", resp.StatusCode, b)
		}
	})
}

func TestIntakeSUUnavailable(t *testing.T) {
	w := newWorld(t, nil)
	w.su.mu.Lock()
	w.su.failNext = 1
	w.su.mu.Unlock()
	m := messageItem(t, w.user, w.a.ID())
	if status, body := post(t, w.mu.srv.URL, m.Raw()); status != 503 {
		t.Fatalf("got %d %s, want 503", status, body)
	}
	w.idle(t) // the refused intake left nothing queued
	if status, body := post(t, w.mu.srv.URL, m.Raw()); status != 202 {
		t.Fatalf("retry: got %d %s", status, body)
	}
	w.idle(t)
	if w.su.count() != 1 {
		t.Fatalf("SU holds %d items, want 1", w.su.count())
	}
}

func TestCrankMessageTagsAndRecursion(t *testing.T) {
	w := newWorld(t, nil)
	var user *dataitem.Item
	w.progFn = func(pid string, it *dataitem.Item) map[string]any {
		action, _ := it.Tag("Action")
		switch {
		case pid == w.a.ID() && action == "Ping":
			res := emptyResult()
			res["Messages"] = []any{
				outMsg(w.b.ID(), anchorFor(it.ID(), 0),
					Tag{Name: "Data-Protocol", Value: "ao"}, Tag{Name: "Variant", Value: "ao.TN.1"}, Tag{Name: "Type", Value: "Message"},
					Tag{Name: "From-Process", Value: "forged"}, Tag{Name: "From-Module", Value: "forged"}, Tag{Name: "Ref_", Value: "1"}, Tag{Name: "Action", Value: "Pong"}),
				// Dropped: no Anchor (§8.7).
				map[string]any{"Target": w.b.ID(), "Tags": []Tag{{Name: "Action", Value: "NoAnchor"}}},
			}
			return res
		case pid == w.b.ID() && action == "Pong":
			res := emptyResult()
			res["Messages"] = []any{outMsg(w.a.ID(), anchorFor(it.ID(), 0), Tag{Name: "Action", Value: "Done"}, Tag{Name: "Data-Protocol", Value: "ao"})}
			return res
		}
		return nil
	}
	user = messageItem(t, w.user, w.a.ID(), dataitem.Tag{Name: "Action", Value: "Ping"})
	status, body := post(t, w.mu.srv.URL, user.Raw())
	if status != 202 {
		t.Fatalf("POST = %d %s", status, body)
	}
	var reply map[string]string
	if err := json.Unmarshal([]byte(body), &reply); err != nil || reply["message"] != "Processing DataItem" || reply["id"] != user.ID() || len(reply) != 2 {
		t.Fatalf("reply %s", body)
	}
	waitFor(t, "Done to reach A", func() bool { return len(w.pushedTo(w.a.ID(), "Done")) == 1 })
	w.idle(t)

	pong := w.pushedTo(w.b.ID(), "Pong")
	if len(pong) != 1 {
		t.Fatalf("%d Pong items", len(pong))
	}
	p := pong[0]
	want := "Variant=ao.TN.1;Ref_=1;Action=Pong;Data-Protocol=ao;Type=Message;From-Process=" + w.a.ID() +
		";From-Module=module-A;Pushed-For=" + user.ID() + ";"
	if got := tagsOf(p); got != want {
		t.Fatalf("pushed tags\n got %s\nwant %s", got, want)
	}
	if string(p.Anchor) != anchorFor(user.ID(), 0) || string(p.Data) != "data" || p.Address() != dataitem.OwnerAddress(keyFromSeed("mu").Owner()) {
		t.Fatalf("pushed item: anchor %q data %q owner %s", p.Anchor, p.Data, p.Address())
	}
	done := w.pushedTo(w.a.ID(), "Done")[0]
	if v, _ := done.Tag("Pushed-For"); v != user.ID() {
		t.Fatalf("second hop Pushed-For = %q, want the user's message", v)
	}
	if w.cu.calls(w.a.ID(), done.ID()) != 1 {
		t.Fatalf("result of the second hop pulled %d times", w.cu.calls(w.a.ID(), done.ID()))
	}
	if n := len(w.pushedTo("", "NoAnchor")); n != 0 {
		t.Fatalf("message without Anchor delivered %d times", n)
	}
	if v := counterValue(t, w.mu.met.dropped.WithLabelValues("invalid_message")); v != 1 {
		t.Fatalf("dropped = %v", v)
	}
	// Posting the same item again is accepted and cranks nothing twice.
	if status, _ := post(t, w.mu.srv.URL, user.Raw()); status != 202 {
		t.Fatalf("re-POST = %d", status)
	}
	w.idle(t)
	if n := w.su.count(); n != 3 {
		t.Fatalf("SU holds %d items after a re-POST, want 3", n)
	}
	if c := w.cu.calls(w.a.ID(), user.ID()); c != 1 {
		t.Fatalf("user result pulled %d times", c)
	}
}

func TestCastIsSentNotFollowed(t *testing.T) {
	w := newWorld(t, nil)
	w.progFn = func(pid string, it *dataitem.Item) map[string]any {
		if a, _ := it.Tag("Action"); a == "Go" {
			res := emptyResult()
			res["Messages"] = []any{outMsg(w.b.ID(), anchorFor(it.ID(), 0), Tag{Name: "Action", Value: "Fire"}, Tag{Name: "Cast", Value: "true"})}
			return res
		}
		return nil
	}
	user := messageItem(t, w.user, w.a.ID(), dataitem.Tag{Name: "Action", Value: "Go"})
	if status, body := post(t, w.mu.srv.URL, user.Raw()); status != 202 {
		t.Fatalf("POST = %d %s", status, body)
	}
	waitFor(t, "the cast", func() bool { return len(w.pushedTo(w.b.ID(), "Fire")) == 1 })
	w.idle(t)
	cast := w.pushedTo(w.b.ID(), "Fire")[0]
	if n := w.cu.calls(w.b.ID(), cast.ID()); n != 0 {
		t.Fatalf("cast result pulled %d times", n)
	}
}

// A client's message tagged Cast: true (aonode send --cast) reaches the SU and its result
// is not pulled; the same message without the tag is followed.
func TestUserCastIsNotFollowed(t *testing.T) {
	w := newWorld(t, nil)
	cast := messageItem(t, w.user, w.a.ID(), dataitem.Tag{Name: "Action", Value: "Fire"}, dataitem.Tag{Name: "Cast", Value: "true"})
	plain := messageItem(t, w.user, w.a.ID(), dataitem.Tag{Name: "Action", Value: "Fire"})
	for _, it := range []*dataitem.Item{cast, plain} {
		if status, body := post(t, w.mu.srv.URL, it.Raw()); status != 202 {
			t.Fatalf("POST = %d %s", status, body)
		}
	}
	waitFor(t, "the plain message's result", func() bool { return w.cu.calls(w.a.ID(), plain.ID()) == 1 })
	w.idle(t)
	if n := len(w.pushedTo(w.a.ID(), "Fire")); n != 2 {
		t.Fatalf("%d messages reached the SU", n)
	}
	if n := w.cu.calls(w.a.ID(), cast.ID()); n != 0 {
		t.Fatalf("cast result pulled %d times", n)
	}
}

func TestCrankSpawnAndAssignment(t *testing.T) {
	w := newWorld(t, nil)
	var user *dataitem.Item
	w.progFn = func(pid string, it *dataitem.Item) map[string]any {
		if a, _ := it.Tag("Action"); a == "Spawn" && pid == w.a.ID() {
			res := emptyResult()
			res["Spawns"] = []any{map[string]any{
				"Target": w.a.ID(), "Anchor": anchorFor(it.ID(), 9), "Data": "boot",
				"Tags": []Tag{{Name: "Data-Protocol", Value: "ao"}, {Name: "Type", Value: "Process"}, {Name: "Module", Value: "module-C"}, {Name: "From-Module", Value: "x"}, {Name: "Name", Value: "child"}},
			}}
			res["Assignments"] = []any{map[string]any{"Processes": []string{w.b.ID()}, "Message": it.ID()}}
			return res
		}
		return nil
	}
	user = messageItem(t, w.user, w.a.ID(), dataitem.Tag{Name: "Action", Value: "Spawn"})
	if status, body := post(t, w.mu.srv.URL, user.Raw()); status != 202 {
		t.Fatalf("POST = %d %s", status, body)
	}
	waitFor(t, "the Spawned notice", func() bool { return len(w.pushedTo(w.a.ID(), "Spawned")) == 1 })
	waitFor(t, "the assignment", func() bool {
		w.su.mu.Lock()
		defer w.su.mu.Unlock()
		return w.su.assigns[w.b.ID()+"|"+user.ID()] == 1
	})
	w.idle(t)

	w.su.mu.Lock()
	var child *dataitem.Item
	for id, p := range w.su.procs {
		if id != w.a.ID() && id != w.b.ID() {
			child = p
		}
	}
	w.su.mu.Unlock()
	if child == nil {
		t.Fatal("no process spawned")
	}
	want := "Module=module-C;From-Module=module-A;Name=child;Data-Protocol=ao;Type=Process;Variant=ao.TN.1;From-Process=" +
		w.a.ID() + ";Pushed-For=" + user.ID() + ";Scheduler=" + w.su.addr + ";"
	if got := tagsOf(child); got != want {
		t.Fatalf("spawned tags\n got %s\nwant %s", got, want)
	}
	if len(child.Target) != 0 || string(child.Data) != "boot" {
		t.Fatalf("spawned item target %x data %q", child.Target, child.Data)
	}
	notice := w.pushedTo(w.a.ID(), "Spawned")[0]
	wantN := "Module=module-C;From-Module=x;Name=child;Data-Protocol=ao;Type=Message;Process=" + child.ID() + ";Action=Spawned;Variant=ao.TN.1;"
	if got := tagsOf(notice); got != wantN {
		t.Fatalf("notice tags\n got %s\nwant %s", got, wantN)
	}
	if w.cu.calls(child.ID(), child.ID()) != 1 {
		t.Fatal("boot result of the spawned process not pulled")
	}
	if w.cu.calls(w.a.ID(), notice.ID()) != 1 {
		t.Fatal("result of the Spawned notice not pulled")
	}
	w.su.mu.Lock()
	var aid string
	for _, s := range w.su.sched[w.b.ID()] {
		if s.pure {
			aid = s.aid
		}
	}
	w.su.mu.Unlock()
	if w.cu.calls(w.b.ID(), aid) != 1 {
		t.Fatal("result of the assignment not pulled by its id")
	}
}

func TestAssignIntake(t *testing.T) {
	w := newWorld(t, nil)
	m := messageItem(t, w.user, w.a.ID())
	if status, _ := post(t, w.mu.srv.URL, m.Raw()); status != 202 {
		t.Fatal("message intake failed")
	}
	status, body := post(t, w.mu.srv.URL+"/?process-id="+w.b.ID()+"&assign="+m.ID(), nil)
	var reply map[string]string
	_ = json.Unmarshal([]byte(body), &reply)
	if status != 202 || reply["message"] != "Processing Assignment" || len(reply["id"]) != 43 {
		t.Fatalf("assign = %d %s", status, body)
	}
	w.idle(t)
	if w.cu.calls(w.b.ID(), reply["id"]) != 1 {
		t.Fatal("assignment result not pulled")
	}
	// Again: the SU refuses a second assignment; the MU finds the first one.
	status, body = post(t, w.mu.srv.URL+"/?process-id="+w.b.ID()+"&assign="+m.ID(), nil)
	_ = json.Unmarshal([]byte(body), &reply)
	if status != 202 {
		t.Fatalf("re-assign = %d %s", status, body)
	}
	w.idle(t)
	if w.cu.calls(w.b.ID(), reply["id"]) != 1 {
		t.Fatal("assignment result cranked twice")
	}
	if status, body := post(t, w.mu.srv.URL+"/?process-id="+randomID()+"&assign="+m.ID(), nil); status != 400 {
		t.Fatalf("assign to unknown process = %d %s", status, body)
	}
}

func TestRoutesBySchedulerTag(t *testing.T) {
	su1, su2 := newFakeSU(t), newFakeSU(t)
	user := keyFromSeed("user")
	a := processItem(t, user, su1.addr, "module-A")
	b := processItem(t, user, su2.addr, "module-B")
	su1.install(t, a)
	su2.install(t, b)
	cu := newFakeCU(t, func(pid string, it *dataitem.Item) map[string]any {
		if act, _ := it.Tag("Action"); act == "Hop" {
			res := emptyResult()
			res["Messages"] = []any{outMsg(b.ID(), anchorFor(it.ID(), 0), Tag{Name: "Action", Value: "Arrived"})}
			return res
		}
		return nil
	}, su1, su2)
	db := openStore(t, "")
	defer db.Close()
	m := startMU(t, db, StaticRouter{Default: su1.srv.URL, ByAddress: map[string]string{su2.addr: su2.srv.URL}}, cu, nil)
	msg := messageItem(t, user, a.ID(), dataitem.Tag{Name: "Action", Value: "Hop"})
	if status, body := post(t, m.srv.URL, msg.Raw()); status != 202 {
		t.Fatalf("POST = %d %s", status, body)
	}
	waitFor(t, "delivery to su2", func() bool { return su2.count() == 1 })
	waitFor(t, "idle", func() bool { return m.Pending() == 0 })
	if su1.count() != 1 {
		t.Fatalf("su1 holds %d items, want the user's message only", su1.count())
	}
}

func TestWalletTargetIsNotDelivered(t *testing.T) {
	w := newWorld(t, nil)
	wallet := randomID()
	w.progFn = func(pid string, it *dataitem.Item) map[string]any {
		if a, _ := it.Tag("Action"); a == "Pay" {
			res := emptyResult()
			res["Messages"] = []any{outMsg(wallet, anchorFor(it.ID(), 0), Tag{Name: "Action", Value: "Credit-Notice"})}
			return res
		}
		return nil
	}
	if status, _ := post(t, w.mu.srv.URL, messageItem(t, w.user, w.a.ID(), dataitem.Tag{Name: "Action", Value: "Pay"}).Raw()); status != 202 {
		t.Fatal("intake failed")
	}
	waitFor(t, "the drop", func() bool {
		return counterValue(t, w.mu.met.dropped.WithLabelValues("target_not_a_process")) == 1
	})
	w.idle(t)
	if n, _ := w.mu.DeadLetters(); n != 0 {
		t.Fatalf("%d dead letters", n)
	}
}

func TestRetriesThenDeadLetters(t *testing.T) {
	w := newWorld(t, nil)
	user := messageItem(t, w.user, w.a.ID())
	w.cu.mu.Lock()
	w.cu.fail[w.a.ID()+"|"+user.ID()] = http.StatusInternalServerError
	w.cu.mu.Unlock()
	if status, _ := post(t, w.mu.srv.URL, user.Raw()); status != 202 {
		t.Fatal("intake failed")
	}
	w.idle(t)
	if n := w.cu.calls(w.a.ID(), user.ID()); n != 5 {
		t.Fatalf("result tried %d times, want MaxAttempts=5", n)
	}
	if n, err := w.mu.DeadLetters(); err != nil || n != 1 {
		t.Fatalf("dead letters = %d, %v", n, err)
	}
	if v := counterValue(t, w.mu.met.dead); v != 1 {
		t.Fatalf("dead metric = %v", v)
	}
}

func TestMonitorCron(t *testing.T) {
	w := newWorld(t, func(c *Config) { c.CronInterval = 5 * time.Millisecond })
	edge := func(cursor string, i int) map[string]any {
		node := emptyResult()
		node["Messages"] = []any{outMsg(w.b.ID(), anchorFor(cursor, i), Tag{Name: "Action", Value: "Tick"})}
		return map[string]any{"cursor": cursor, "node": node}
	}
	w.cu.mu.Lock()
	w.cu.cron[w.a.ID()] = []map[string]any{edge("c1", 1), edge("c2", 2)}
	w.cu.mu.Unlock()

	sig := messageItem(t, w.user, w.a.ID())
	status, body := post(t, w.mu.srv.URL+"/monitor/"+w.a.ID(), sig.Raw())
	if status != 200 || body != "Monitoring process" {
		t.Fatalf("monitor = %d %q", status, body)
	}
	waitFor(t, "two cron ticks", func() bool { return len(w.pushedTo(w.b.ID(), "Tick")) == 2 })
	tick := w.pushedTo(w.b.ID(), "Tick")[0]
	if v, _ := tick.Tag("From-Process"); v != w.a.ID() {
		t.Fatalf("cron message From-Process = %q", v)
	}
	if _, ok := tick.Tag("Pushed-For"); ok {
		t.Fatal("cron message carries Pushed-For")
	}
	waitFor(t, "a poll from the stored cursor", func() bool {
		w.cu.mu.Lock()
		defer w.cu.mu.Unlock()
		return w.cu.cronFrom[len(w.cu.cronFrom)-1] == "c2"
	})
	w.cu.mu.Lock()
	w.cu.cron[w.a.ID()] = append(w.cu.cron[w.a.ID()], edge("c3", 3))
	w.cu.mu.Unlock()
	waitFor(t, "the third tick", func() bool { return len(w.pushedTo(w.b.ID(), "Tick")) == 3 })

	req, _ := http.NewRequest(http.MethodDelete, w.mu.srv.URL+"/monitor/"+w.a.ID(), bytes.NewReader(sig.Raw()))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != "Process deleted" {
		t.Fatalf("unmonitor = %d %q", resp.StatusCode, b)
	}
	if _, err := w.mu.db.MUMonitor(w.a.ID()); err == nil {
		t.Fatal("monitor record survived DELETE")
	}
	w.idle(t)
	if n := len(w.pushedTo(w.b.ID(), "Tick")); n != 3 {
		t.Fatalf("%d ticks delivered, want 3", n)
	}

	other := messageItem(t, w.user, w.b.ID())
	if status, _ := post(t, w.mu.srv.URL+"/monitor/"+w.a.ID(), other.Raw()); status != 400 {
		t.Fatalf("monitor with an item for another process = %d", status)
	}
}

// TestMonitorNeedsOwnerOrAuthority: only the process's owner, or a key its Authority tags
// name, may start or stop its cron monitor.
func TestMonitorNeedsOwnerOrAuthority(t *testing.T) {
	w := newWorld(t, nil)
	stranger, authority := keyFromSeed("stranger"), keyFromSeed("authority")
	c := processItem(t, w.user, w.su.addr, "module-C", dataitem.Tag{Name: "Authority", Value: "x, " + dataitem.OwnerAddress(authority.Owner())})
	w.su.install(t, c)
	send := func(method, pid string, s dataitem.Signer) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, w.mu.srv.URL+"/monitor/"+pid, bytes.NewReader(messageItem(t, s, pid).Raw()))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, method := range []string{http.MethodPost, http.MethodDelete} {
		if status, body := send(method, w.a.ID(), stranger); status != 403 || !strings.Contains(body, "owner") {
			t.Fatalf("%s by a stranger: %d %s", method, status, body)
		}
	}
	if status, _ := send(http.MethodPost, w.a.ID(), w.user); status != 200 {
		t.Fatalf("monitor by the owner: %d", status)
	}
	if status, _ := send(http.MethodDelete, w.a.ID(), stranger); status != 403 {
		t.Fatalf("unmonitor by a stranger: %d", status)
	}
	if _, err := w.mu.db.MUMonitor(w.a.ID()); err != nil {
		t.Fatalf("a stranger's DELETE removed the monitor: %v", err)
	}
	if status, _ := send(http.MethodDelete, w.a.ID(), w.user); status != 200 {
		t.Fatalf("unmonitor by the owner: %d", status)
	}
	for _, method := range []string{http.MethodPost, http.MethodDelete} {
		if status, body := send(method, c.ID(), authority); status != 200 {
			t.Fatalf("%s by an Authority: %d %s", method, status, body)
		}
	}
}

func TestResumesQueueAfterRestart(t *testing.T) {
	dir := t.TempDir()
	w := &world{user: keyFromSeed("user")}
	w.su = newFakeSU(t)
	w.cu = newFakeCU(t, func(pid string, it *dataitem.Item) map[string]any {
		if a, _ := it.Tag("Action"); a == "Go" {
			res := emptyResult()
			res["Messages"] = []any{outMsg(w.b.ID(), anchorFor(it.ID(), 0), Tag{Name: "Action", Value: "Went"})}
			return res
		}
		return nil
	}, w.su)
	w.a = processItem(t, w.user, w.su.addr, "module-A")
	w.b = processItem(t, w.user, w.su.addr, "module-B")
	w.su.install(t, w.a)
	w.su.install(t, w.b)
	user := messageItem(t, w.user, w.a.ID(), dataitem.Tag{Name: "Action", Value: "Go"})

	// First life: the CU is down, so the crank cannot finish.
	w.cu.mu.Lock()
	w.cu.fail[w.a.ID()+"|"+user.ID()] = http.StatusServiceUnavailable
	w.cu.mu.Unlock()
	db := openStore(t, dir)
	m := startMU(t, db, StaticRouter{Default: w.su.srv.URL}, w.cu, func(c *Config) { c.MaxAttempts = 1000 })
	if status, _ := post(t, m.srv.URL, user.Raw()); status != 202 {
		t.Fatal("intake failed")
	}
	waitFor(t, "a failed pull", func() bool { return w.cu.calls(w.a.ID(), user.ID()) > 0 })
	m.srv.Close()
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	// Second life: the CU is back and the queued pull resumes.
	w.cu.mu.Lock()
	delete(w.cu.fail, w.a.ID()+"|"+user.ID())
	w.cu.mu.Unlock()
	db2 := openStore(t, dir)
	defer db2.Close()
	m2 := startMU(t, db2, StaticRouter{Default: w.su.srv.URL}, w.cu, nil)
	waitFor(t, "the resumed crank", func() bool { return len(w.pushedTo(w.b.ID(), "Went")) == 1 })
	waitFor(t, "idle", func() bool { return m2.Pending() == 0 })
	if w.su.count() != 2 {
		t.Fatalf("SU holds %d items, want 2", w.su.count())
	}
}

func TestConfigValidate(t *testing.T) {
	if _, err := New(Config{}); err == nil {
		t.Fatal("empty config accepted")
	}
	db := openStore(t, "")
	defer db.Close()
	if _, err := New(Config{Store: db, Signer: keyFromSeed("x"), Router: StaticRouter{}}); err == nil {
		t.Fatal("config without a CU accepted")
	}
}

func counterValue(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

func testLogger() *slog.Logger {
	if testing.Verbose() {
		return slog.Default()
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// A failed step waits RetryBase, then twice that, on the MU's clock: driven by a manual clock,
// nothing is retried a moment early and the retry comes when the clock says so, no sleeping.
func TestRetriesWaitOnTheClock(t *testing.T) {
	clk := clock.NewManual(time.Now())
	w := newWorld(t, func(c *Config) {
		c.Clock = clk
		c.RetryBase, c.RetryMax, c.MaxAttempts = time.Second, 4*time.Second, 10
	})
	m := messageItem(t, w.user, w.a.ID())
	key := w.a.ID() + "|" + m.ID()
	w.cu.mu.Lock()
	w.cu.fail[key] = http.StatusServiceUnavailable
	w.cu.mu.Unlock()
	if status, body := post(t, w.mu.srv.URL, m.Raw()); status != 202 {
		t.Fatalf("POST = %d %s", status, body)
	}
	calls := func(n int) func() bool { return func() bool { return w.cu.calls(w.a.ID(), m.ID()) == n } }
	// waits: the cron loop's, and the dispatcher's for the retry once it is queued.
	ready := func() {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if err := clk.WaitFor(ctx, 2); err != nil {
			t.Fatalf("the retry is not waiting on the clock: %v (%d waits)", err, clk.Waiting())
		}
	}
	for attempt, delay := range []time.Duration{time.Second, 2 * time.Second} {
		waitFor(t, fmt.Sprintf("result request %d", attempt+1), calls(attempt+1))
		ready()
		clk.Advance(delay - time.Millisecond)
		if n := clk.Waiting(); n != 2 || w.cu.calls(w.a.ID(), m.ID()) != attempt+1 {
			t.Fatalf("attempt %d: retried before %v had passed (%d waits)", attempt+1, delay, n)
		}
		if attempt == 1 {
			w.cu.mu.Lock()
			delete(w.cu.fail, key)
			w.cu.mu.Unlock()
		}
		clk.Advance(time.Millisecond)
	}
	waitFor(t, "the third result request", calls(3))
	w.idle(t)
}
