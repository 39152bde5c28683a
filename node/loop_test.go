package node

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/aonode/aonode/dataitem"
)

type loopState struct {
	Pings, Pongs, Ticks, Tocks int
	Sum                        int64
	Spawned                    []string
	Booted                     bool
}

func loopStateOf(t testing.TB, c *aoClient, pid string) loopState {
	t.Helper()
	out := c.dryrun(pid, "Action", "State")
	var s loopState
	if err := json.Unmarshal(out["Output"], &s); err != nil {
		t.Fatalf("State of %s: %v: %s", pid, err, out["Output"])
	}
	return s
}

// TestLoopOnOneNode runs the whole AO loop on one node with a small WASI process: publish,
// spawn, a message and its result, an outbox message to a second process whose reply comes
// back, a spawn from a process and the Spawned notice, and cron ticks whose outbox is cranked.
func TestLoopOnOneNode(t *testing.T) {
	wasm := loopModule(t)
	cfg := diskConfig(t)
	cfg.CronInterval = 100 * time.Millisecond
	n := startNode(t, cfg)
	c := newClient(t, n.URL(), seedSigner(2))
	sched := n.SU().Address()

	mod := c.publish(wasm, "wasm32-wasip1-aonode")
	a := c.spawn(mod, sched, "Name", "a", "Cron-Interval", "1-second", "Cron-Tag-Action", "Tick")
	b := c.spawn(mod, sched, "Name", "b")
	for _, pid := range []string{a, b} {
		if res := c.result(pid, pid); !contains(res["Output"], "booted") {
			t.Fatalf("boot of %s: %v", pid, res)
		}
	}

	// A message and its result.
	add := c.send(a, "", "Action", "Add", "N", "5")
	if res := c.result(a, add); string(res["Output"]) != `"5"` {
		t.Fatalf("Add: %s", res["Output"])
	}

	// Relay: a sends Ping to b, b answers Pong to a.
	relay := c.send(a, "", "Action", "Relay", "Peer", b)
	if res := c.result(a, relay); !contains(res["Messages"], `"Target":"`+b+`"`) {
		t.Fatalf("Relay outbox: %s", res["Messages"])
	}
	waitFor(t, "the Pong back in a", 30*time.Second, func() string {
		s := loopStateOf(t, c, a)
		return unless(s.Pongs == 1, "a Pong in a (state %+v)", s)
	})

	// Spawn from a process: the child boots and the parent gets Spawned.
	c.send(a, "", "Action", "Spawn", "Name", "child")
	var child string
	waitFor(t, "Spawned in a", 30*time.Second, func() string {
		s := loopStateOf(t, c, a)
		if len(s.Spawned) == 1 {
			child = s.Spawned[0]
		}
		return unless(child != "", "a Spawned notice in a (state %+v)", s)
	})
	if _, err := dataitem.DecodeID(child); err != nil {
		t.Fatalf("Spawned names %q", child)
	}
	if res := c.result(child, child); !contains(res["Output"], "booted") {
		t.Fatalf("boot of the child: %v", res)
	}

	// Cron: monitor a; its ticks send Tock to itself through the MU.
	mon := c.sign(dataitem.Fields{Target: mustID(t, a), Data: []byte(" ")})
	if r := c.do("POST", "/mu/monitor/"+a, "application/octet-stream", mon.Raw(), "Accept", "application/json"); r.code != 200 {
		t.Fatalf("monitor: %d %s", r.code, r.body)
	}
	waitFor(t, "a cron tick cranked into a Tock", 30*time.Second, func() string {
		s := loopStateOf(t, c, a)
		return unless(s.Ticks >= 1 && s.Tocks >= 1, "a tick and a Tock in a (%d ticks, %d tocks)", s.Ticks, s.Tocks)
	})
	if r := c.do("DELETE", "/mu/monitor/"+a, "application/octet-stream", mon.Raw(), "Accept", "application/json"); r.code != 200 {
		t.Fatalf("unmonitor: %d %s", r.code, r.body)
	}

	// Once the queue drains nothing was sent twice.
	waitFor(t, "the crank queue to drain", 30*time.Second, func() string { return pending(n) })
	if s := loopStateOf(t, c, b); s.Pings != 1 {
		t.Fatalf("b got %d pings", s.Pings)
	}
	if s := loopStateOf(t, c, a); s.Pongs != 1 || len(s.Spawned) != 1 || s.Sum != 5 {
		t.Fatalf("a ends as %+v", s)
	}
	if dead, err := n.MU().DeadLetters(); err != nil || dead != 0 {
		t.Fatalf("%d dead letters (%v)", dead, err)
	}
}

func mustID(t testing.TB, id string) []byte {
	t.Helper()
	b, err := dataitem.DecodeID(id)
	if err != nil {
		t.Fatal(err)
	}
	return b[:]
}
