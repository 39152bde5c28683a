package node

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/aonode/aonode/dataitem"
)

// aosLua is evaluated in every aos process of the test: Ping answers Pong to the sender,
// Pong and cron Ticks are counted, Spawned is recorded, State prints the counters.
const aosLua = `
Pongs = Pongs or 0
Ticks = Ticks or 0
Handlers.add("ping", Handlers.utils.hasMatchingTag("Action", "Ping"), function(msg)
  Send({Target = msg.From, Action = "Pong", Data = "pong"})
end)
Handlers.add("pong", Handlers.utils.hasMatchingTag("Action", "Pong"), function(msg)
  Pongs = Pongs + 1
end)
Handlers.add("tick", Handlers.utils.hasMatchingTag("Action", "Tick"), function(msg)
  Ticks = Ticks + 1
end)
Handlers.add("spawned", Handlers.utils.hasMatchingTag("Action", "Spawned"), function(msg)
  Child = msg.Process
end)
Handlers.add("state", Handlers.utils.hasMatchingTag("Action", "State"), function(msg)
  print("pongs=" .. Pongs .. " ticks=" .. Ticks .. " child=" .. tostring(Child))
end)
return "ready"`

// TestAOSLoopOnOneNode runs the reference aos module through every role of one node: publish,
// spawn, Eval of Lua that adds handlers, a message that triggers one and its result, an
// outbox message to a second process whose reply comes back, a Lua Spawn whose parent gets
// Spawned, and a cron tick. It skips when the fixture is absent and under -race.
func TestAOSLoopOnOneNode(t *testing.T) {
	wasm := aosModule(t)
	if testing.Short() || raceEnabled {
		t.Skip("runs aos (skipped with -short and under -race; the loop runs under -race in TestLoopOnOneNode)")
	}
	cfg := diskConfig(t)
	cfg.CronInterval = 100 * time.Millisecond
	// Generous: the caps are checked at the end, and a loaded machine slows every dry-run.
	cfg.Limits.DryRunTimeout, cfg.Limits.EvalTimeout = 15*time.Second, 30*time.Second
	n := startNode(t, cfg)
	c := newClient(t, n.URL(), seedSigner(4))
	node := n.SU().Address() // the SU's, MU's and CU's key: the processes' Authority

	mod := c.publish(wasm, "wasm32-unknown-emscripten2")
	p := c.spawn(mod, node, "Name", "p", "Authority", node, "Cron-Interval", "1-second", "Cron-Tag-Action", "Tick")
	q := c.spawn(mod, node, "Name", "q", "Authority", node)
	for _, pid := range []string{p, q} {
		if res := c.result(pid, pid); res["Error"] != nil {
			t.Fatalf("boot of %s: %v", pid, res)
		}
		ev := c.send(pid, aosLua, "Action", "Eval")
		if res := c.result(pid, ev); !contains(res["Output"], "ready") {
			t.Fatalf("Eval in %s: %s", pid, jsonOf(res))
		}
	}

	// A message that triggers a handler, and its result: Pong to the sender.
	ping := c.send(p, "", "Action", "Ping")
	if res := c.result(p, ping); !contains(res["Messages"], `{"name":"Action","value":"Pong"}`) {
		t.Fatalf("Ping result: %s", jsonOf(res))
	}

	state := func(pid string) string {
		res := c.dryrun(pid, "Action", "State")
		var out struct{ Data string }
		if err := json.Unmarshal(res["Output"], &out); err != nil {
			t.Fatalf("State of %s: %s", pid, jsonOf(res))
		}
		return out.Data
	}

	// An outbox message from p to q, and q's reply back in p.
	send := c.send(p, `Send({Target = "`+q+`", Action = "Ping"})`, "Action", "Eval")
	if res := c.result(p, send); !contains(res["Messages"], `"Target":"`+q+`"`) {
		t.Fatalf("Send to q: %s", jsonOf(res))
	}
	waitFor(t, "q's Pong back in p", time.Minute, func() string {
		s := state(p)
		return unless(strings.Contains(s, "pongs=1 "), "pongs=1 in p's state %q", s)
	})

	// A Lua Spawn: the child boots and the parent receives Spawned.
	c.send(p, `Spawn(ao.env.Module.Id, {Data = "", Tags = {Name = "kid", Authority = "`+node+`"}})`, "Action", "Eval")
	var child string
	waitFor(t, "Spawned in p", time.Minute, func() string {
		s := state(p)
		if i := strings.Index(s, "child="); i >= 0 && !strings.HasSuffix(s, "child=nil") {
			child = strings.TrimSpace(s[i+len("child="):])
		}
		return unless(child != "", "a child in p's state %q", s)
	})
	if res := c.result(child, child); res["Error"] != nil {
		t.Fatalf("boot of the child %s: %s", child, jsonOf(res))
	}

	// A cron tick, through the MU's monitor.
	mon := c.sign(fieldsTo(t, p))
	if r := c.do("POST", "/mu/monitor/"+p, "application/octet-stream", mon.Raw()); r.code != 200 {
		t.Fatalf("monitor: %d %s", r.code, r.body)
	}
	waitFor(t, "a cron tick in p", time.Minute, func() string {
		s := state(p)
		return unless(!strings.Contains(s, "ticks=0 "), "a tick in p's state %q", s)
	})
	waitFor(t, "the crank queue to drain", time.Minute, func() string { return pending(n) })
	if dead, err := n.MU().DeadLetters(); err != nil || dead != 0 {
		t.Fatalf("%d dead letters (%v)", dead, err)
	}
	s := state(p)
	t.Logf("p: %s", s)
	if !strings.Contains(s, "pongs=1 ") {
		t.Fatalf("p ends as %q", s)
	}

	// The wall-clock caps on the emscripten runtime: "while true do end" with aos's gas
	// limit would run for minutes. A dry-run of it stops at its cap; a message of it stops
	// at the evaluation cap, is not recorded, and pauses q.
	owner := dataitem.OwnerAddress(seedSigner(4).Owner())
	body, _ := json.Marshal(map[string]any{"Id": "1234", "Owner": owner, "From": owner, "Target": q, "Data": "while true do end",
		"Tags": tagMaps("Action", "Eval", "Data-Protocol", "ao", "Type", "Message", "Variant", "ao.TN.1")})
	if r := c.do("POST", "/cu/dry-run?process-id="+q, "application/json", body); r.code != 413 || !contains(r.body, "wall-clock") {
		t.Fatalf("runaway dry-run: %d %s", r.code, r.body)
	}
	loop := c.send(q, "while true do end", "Action", "Eval")
	if r := c.do("GET", "/cu/result/"+loop+"?process-id="+q, "", nil); r.code != 503 || !contains(r.body, "paused") {
		t.Fatalf("runaway message: %d %s", r.code, r.body)
	}
	if _, err := n.Store().EvalResultByMessage(q, loop); err == nil {
		t.Fatal("the stopped evaluation was recorded")
	}
}

func jsonOf(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
