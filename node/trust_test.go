package node

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aonode/aonode/dataitem"
)

// TestForgedFromProcess is the third abuse of issue 10: an item signed by a stranger that
// carries From-Process (or From-Module) must not reach a process as if another process had
// sent it. The MU refuses such client items; the SU takes them only from this node's key,
// an MU it trusts, or a key the target names as an Authority. The node's own pushes still
// flow.
func TestForgedFromProcess(t *testing.T) {
	n := startNode(t, diskConfig(t))
	owner := newClient(t, n.URL(), seedSigner(2))
	stranger := newClient(t, n.URL(), seedSigner(3))
	strangerAddr := dataitem.OwnerAddress(seedSigner(3).Owner())
	ownerAddr := dataitem.OwnerAddress(seedSigner(2).Owner())
	sched := n.SU().Address()
	mod := owner.publish(loopModule(t), "wasm32-wasip1-aonode")
	p := owner.spawn(mod, sched, "Name", "p")
	q := owner.spawn(mod, sched, "Name", "q", "Authority", strangerAddr)
	owner.result(p, p)

	for _, tag := range []string{"From-Process", "From-Module"} {
		forged := stranger.sign(dataitem.Fields{Target: mustID(t, p), Data: []byte(" "), Tags: tags(
			"Data-Protocol", "ao", "Variant", "ao.TN.1", "Type", "Message", "Action", "Add", "N", "5", tag, ownerAddr)})
		r := stranger.do("POST", "/mu", "application/octet-stream", forged.Raw())
		if r.code != 400 || !contains(r.body, tag) {
			t.Fatalf("MU took a client item with %s: %d %s", tag, r.code, r.body)
		}
		r = stranger.do("POST", "/su", "application/octet-stream", forged.Raw())
		if r.code != 400 || !contains(r.body, "not trusted") {
			t.Fatalf("SU took a stranger's %s: %d %s", tag, r.code, r.body)
		}
	}
	// The process never saw it.
	if s := loopStateOf(t, owner, p); s.Sum != 0 {
		t.Fatalf("the forged Add ran: sum %d", s.Sum)
	}
	// A key q names as its Authority may set From-Process on messages to q.
	ok := stranger.sign(dataitem.Fields{Target: mustID(t, q), Data: []byte(" "), Tags: tags(
		"Data-Protocol", "ao", "Variant", "ao.TN.1", "Type", "Message", "Action", "Add", "N", "2", "From-Process", ownerAddr)})
	if r := stranger.do("POST", "/su", "application/octet-stream", ok.Raw()); r.code != 200 {
		t.Fatalf("SU refused an Authority's From-Process: %d %s", r.code, r.body)
	}
	// The node's own MU pushes (Ping, then the Pong back) are still taken.
	owner.send(p, "", "Action", "Relay", "Peer", p)
	waitFor(t, "the pushed Ping and Pong", 30*time.Second, func() string {
		if s := loopStateOf(t, owner, p); s.Pings != 1 || s.Pongs != 1 {
			return fmt.Sprintf("pings %d, pongs %d", s.Pings, s.Pongs)
		}
		return ""
	})
}

// TestMonitorAuth is the fourth abuse of issue 10: only the owner of a process (or a key in
// its Authority tags) may start or stop its cron monitor.
func TestMonitorAuth(t *testing.T) {
	n := startNode(t, diskConfig(t))
	owner := newClient(t, n.URL(), seedSigner(2))
	stranger := newClient(t, n.URL(), seedSigner(3))
	mod := owner.publish(loopModule(t), "wasm32-wasip1-aonode")
	p := owner.spawn(mod, n.SU().Address(), "Name", "p", "Cron-Interval", "1-second", "Cron-Tag-Action", "Tick")
	owner.result(p, p)
	monitor := func(c *aoClient, method string) reply {
		return c.do(method, "/mu/monitor/"+p, "application/octet-stream", c.sign(fieldsTo(t, p)).Raw())
	}
	for _, method := range []string{"POST", "DELETE"} {
		if r := monitor(stranger, method); r.code != 403 || !strings.Contains(string(r.body), "owner") {
			t.Fatalf("%s by a stranger: %d %s", method, r.code, r.body)
		}
	}
	if r := monitor(owner, "POST"); r.code != 200 {
		t.Fatalf("monitor by the owner: %d %s", r.code, r.body)
	}
	if r := monitor(stranger, "DELETE"); r.code != 403 {
		t.Fatalf("unmonitor by a stranger: %d %s", r.code, r.body)
	}
	waitFor(t, "a cron tick while monitored", 30*time.Second, func() string {
		if loopStateOf(t, owner, p).Ticks < 1 {
			return "a tick"
		}
		return ""
	})
	if r := monitor(owner, "DELETE"); r.code != 200 {
		t.Fatalf("unmonitor by the owner: %d %s", r.code, r.body)
	}
}
