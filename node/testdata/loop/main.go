//go:build wasip1

// Command loop is the test process of the node's end-to-end tests, a WASI reactor of the
// wasm32-wasip1-aonode format. It exercises every path of the AO loop that a process can
// start: outbox messages to another process and their replies, spawns and the Spawned
// notice, and cron ticks whose outbox is cranked.
//
// Actions: Relay (tag Peer) sends Ping to Peer; Ping replies Pong to the sender; Pong is
// counted; Spawn (tag Name) spawns a child of the same module; Spawned is recorded; a cron
// tick (Action Tick) sends Tock to the process itself; Tock is counted; State answers the
// counters as Output; Add (tag N) adds N to a sum, for load tests; Spin never returns (a
// runaway message: the WASI format meters no gas, so only the CU's wall-clock caps end it).
package main

import (
	"fmt"
	"strconv"

	"github.com/aonode/aonode/cu/wasi/guest"
)

type state struct {
	Pings   int      `json:"pings"`
	Pongs   int      `json:"pongs"`
	Ticks   int      `json:"ticks"`
	Tocks   int      `json:"tocks"`
	Sum     int64    `json:"sum"`
	Spawned []string `json:"spawned"`
	Booted  bool     `json:"booted"`
	Ref     int      `json:"-"`
}

var st = &state{Spawned: []string{}}

func init() { guest.Handle(handle) }

func main() {}

// anchor is the next outbox anchor: 32 characters, as aos writes its reference counter.
func anchor() string {
	st.Ref++
	return fmt.Sprintf("%032d", st.Ref)
}

func msgTo(target, action string, tags ...guest.Tag) guest.OutMessage {
	return guest.OutMessage{Target: target, Anchor: anchor(), Tags: append([]guest.Tag{{Name: "Action", Value: action}}, tags...)}
}

func handle(msg *guest.Message, env *guest.Env) guest.Result {
	if msg.ID == env.Process.ID && !msg.Cron {
		st.Booted = true
		return guest.Result{Output: "booted"}
	}
	action, _ := msg.Tag("Action")
	switch action {
	case "Relay":
		peer, ok := msg.Tag("Peer")
		if !ok {
			return guest.Result{Error: "Relay: no Peer tag"}
		}
		return guest.Result{Messages: []guest.OutMessage{msgTo(peer, "Ping")}}
	case "Ping":
		st.Pings++
		return guest.Result{Messages: []guest.OutMessage{msgTo(msg.From, "Pong")}}
	case "Pong":
		st.Pongs++
		return guest.Result{Output: "pong " + strconv.Itoa(st.Pongs)}
	case "Spawn":
		name, _ := msg.Tag("Name")
		sp := guest.OutMessage{Anchor: anchor(), Data: "child", Tags: []guest.Tag{
			{Name: "Module", Value: env.Module.ID}, {Name: "Name", Value: name},
		}}
		return guest.Result{Spawns: []guest.OutMessage{sp}}
	case "Spawned":
		child, _ := msg.Tag("Process")
		st.Spawned = append(st.Spawned, child)
		return guest.Result{Output: "spawned " + child}
	case "Tick":
		if !msg.Cron {
			return guest.Result{Error: "Tick: not a cron message"}
		}
		st.Ticks++
		return guest.Result{Messages: []guest.OutMessage{msgTo(env.Process.ID, "Tock")}}
	case "Tock":
		st.Tocks++
		return guest.Result{Output: "tock"}
	case "Add":
		n, err := strconv.ParseInt(tagOr(msg, "N", "1"), 10, 64)
		if err != nil {
			return guest.Result{Error: "Add: " + err.Error()}
		}
		st.Sum += n
		return guest.Result{Output: strconv.FormatInt(st.Sum, 10)}
	case "State":
		return guest.Result{Output: st}
	case "Spin":
		spin()
	}
	return guest.Result{Error: fmt.Sprintf("unknown action %q", action)}
}

func tagOr(msg *guest.Message, name, def string) string {
	if v, ok := msg.Tag(name); ok {
		return v
	}
	return def
}

//go:noinline
func spin() {
	for {
	}
}
