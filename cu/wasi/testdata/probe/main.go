//go:build wasip1

// Command probe is the test module of package wasi: each Action exercises one host rule
// (clock, entropy, sleeping, output capture, traps, exits, memory growth, deadlines).
package main

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"strconv"
	"time"

	"github.com/aonode/aonode/cu/wasi/guest"
)

var (
	counter int
	hoard   [][]byte
)

func init() {
	guest.Handle(handle)
}

func handle(msg *guest.Message, env *guest.Env) guest.Result {
	action, _ := msg.Tag("Action")
	n, _ := strconv.Atoi(msg.Data)
	switch action {
	case "Echo":
		return guest.Result{Output: map[string]any{"msg": msg, "env": env}}
	case "Count":
		counter++
		return guest.Result{Output: counter}
	case "Fail":
		counter++
		hoard = append(hoard, make([]byte, n<<20))
		return guest.Result{Output: counter, Error: "failed on purpose"}
	case "Panic":
		counter++
		var m map[string]int
		m["x"] = 1
		return guest.Result{}
	case "Exit":
		counter++
		fmt.Fprintln(os.Stderr, "exiting")
		os.Exit(3)
	case "Crash":
		counter++
		done := make(chan struct{})
		go func() {
			defer close(done)
			panic("crash in a goroutine")
		}()
		<-done
	case "Alloc":
		hoard = append(hoard, make([]byte, n<<20))
		return guest.Result{Output: len(hoard)}
	case "Spin":
		for {
			counter++
		}
	case "Chatter":
		line := make([]byte, 1024)
		for i := range n {
			fmt.Fprintf(os.Stdout, "%d %s\n", i, line)
			fmt.Fprintf(os.Stderr, "%d %s\n", i, line)
		}
		return guest.Result{Output: "ok"}
	case "Clock":
		before := time.Now()
		time.Sleep(time.Duration(n) * time.Millisecond)
		after := time.Now()
		return guest.Result{Output: map[string]int64{
			"UnixMilli": before.UnixMilli(),
			"UnixNano":  before.UnixNano(),
			"SleptNano": after.Sub(before).Nanoseconds(),
		}}
	case "Random":
		b := make([]byte, 48)
		if _, err := rand.Read(b); err != nil {
			return guest.Result{Error: err.Error()}
		}
		return guest.Result{Output: map[string]any{"crypto": hex.EncodeToString(b), "math": mrand.Uint64()}}
	}
	return guest.Result{Error: "unknown action " + action}
}

func main() {}
