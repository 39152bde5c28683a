package consensus

import (
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/aonode/aonode/su"
)

// appendIn is an append of one message to a process's schedule.
type appendIn struct{ Msg string }

// appendOut is its outcome: the slot it was answered with, or unknown (an error or timeout:
// the append may or may not have happened).
type appendOut struct {
	Nonce   uint64
	Unknown bool
}

// scheduleModel is the specification of one process's schedule: a log of distinct messages
// (nonce 0 is the process). An append answered with slot n is legal only if n is the log's
// length and the message is new, or if the message already sits at n (a retry answered with
// its slot: exactly once). An unknown outcome is legal either way.
var scheduleModel = porcupine.Model{
	Init: func() interface{} { return []string{} },
	Step: func(state, input, output interface{}) (bool, interface{}) {
		log := state.([]string)
		in, out := input.(appendIn), output.(appendOut)
		at := slices.Index(log, in.Msg)
		switch {
		case out.Unknown && at >= 0:
			return true, log
		case out.Unknown:
			return true, append(slices.Clip(log), in.Msg)
		case at >= 0:
			return uint64(at) == out.Nonce, log
		case out.Nonce == uint64(len(log)):
			return true, append(slices.Clip(log), in.Msg)
		}
		return false, log
	},
	Equal: func(a, b interface{}) bool { return slices.Equal(a.([]string), b.([]string)) },
	DescribeOperation: func(input, output interface{}) string {
		out := output.(appendOut)
		if out.Unknown {
			return fmt.Sprintf("append(%s) -> ?", input.(appendIn).Msg[:6])
		}
		return fmt.Sprintf("append(%s) -> %d", input.(appendIn).Msg[:6], out.Nonce)
	},
}

// history records the operations of a run.
type history struct {
	mu    sync.Mutex
	ops   []porcupine.Operation
	acked map[string]uint64
}

func (h *history) add(client int, msg string, call, ret int64, res su.Scheduled, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	op := porcupine.Operation{ClientId: client, Input: appendIn{Msg: msg}, Call: call, Return: ret}
	if err != nil {
		op.Output = appendOut{Unknown: true}
		op.Return = 1 << 62 // may take effect at any time after the call
	} else {
		op.Output = appendOut{Nonce: res.Slot.Nonce}
		h.acked[msg] = res.Slot.Nonce
	}
	h.ops = append(h.ops, op)
}

// faults is what a fault run may do to a cluster besides killing and restarting members.
type faults struct {
	partition func(sides ...[]string)
	heal      func()
}

// runFaults drives clients against every member of c while a nemesis kills the leader,
// restarts it, and (with f.partition) cuts off a minority or the leader's side; then it checks
// the history with porcupine and the members' stores.
func runFaults(t *testing.T, c *cluster, f faults, rounds int, clients int) {
	owner := newKey(t)
	pid := c.spawn(0, owner)
	h := &history{acked: map[string]uint64{}}
	h.add(-1, pid, 0, 1, su.Scheduled{}, nil) // nonce 0
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var seq atomic.Int64
	for cl := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(cl), 1))
			for {
				select {
				case <-stop:
					return
				default:
				}
				i := rng.IntN(len(c.members))
				c.mu.Lock()
				up := c.running(i)
				c.mu.Unlock()
				if !up {
					time.Sleep(5 * time.Millisecond)
					continue
				}
				msg := messageItem(t, owner, pid, fmt.Sprint("op ", seq.Add(1)))
				call := time.Now().UnixNano()
				res, err := c.scheduleLocked(i, su.Request{Process: pid, Item: msg}, 3*time.Second)
				if err == errMemberDown {
					continue
				}
				h.add(cl, msg.ID(), call, time.Now().UnixNano(), res, err)
				// Sometimes retry an answered message on another member: same slot expected.
				if err == nil && rng.IntN(8) == 0 {
					j := rng.IntN(len(c.members))
					call := time.Now().UnixNano()
					res, err := c.scheduleLocked(j, su.Request{Process: pid, Item: msg}, 3*time.Second)
					if err != errMemberDown {
						h.add(cl, msg.ID(), call, time.Now().UnixNano(), res, err)
					}
				}
			}
		}()
	}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 2))
	for r := range rounds {
		time.Sleep(300 * time.Millisecond)
		l := c.leader(c.set, 10*time.Second)
		if l < 0 {
			t.Fatal("no leader")
		}
		kind := r % 3
		if f.partition == nil {
			kind = 0
		}
		switch kind {
		case 0: // kill the leader, restart it later
			c.mu.Lock()
			c.stop(l)
			c.mu.Unlock()
			time.Sleep(time.Duration(300+rng.IntN(500)) * time.Millisecond)
			c.mu.Lock()
			c.start(l)
			c.mu.Unlock()
		case 1: // the leader alone on the minority side
			var rest []string
			for i, m := range c.members {
				if i != l {
					rest = append(rest, m.addr)
				}
			}
			f.partition([]string{c.members[l].addr}, rest)
			time.Sleep(time.Duration(500+rng.IntN(500)) * time.Millisecond)
			f.heal()
		case 2: // a follower cut off
			fl := (l + 1 + rng.IntN(len(c.members)-1)) % len(c.members)
			var rest []string
			for i, m := range c.members {
				if i != fl {
					rest = append(rest, m.addr)
				}
			}
			f.partition(rest, []string{c.members[fl].addr})
			time.Sleep(time.Duration(300+rng.IntN(500)) * time.Millisecond)
			f.heal()
		}
	}
	time.Sleep(300 * time.Millisecond)
	close(stop)
	wg.Wait()
	if f.heal != nil {
		f.heal()
	}
	// Every member up again: the group settles and the stores converge.
	if c.leader(c.set, 10*time.Second) < 0 {
		t.Fatal("no leader after the run")
	}
	log := c.converge(pid, len(h.acked), 20*time.Second)
	checkHistory(t, h, log, pid)
}

func checkHistory(t *testing.T, h *history, log []string, pid string) {
	t.Helper()
	// Exactly once and at the slot it was acknowledged with.
	at := map[string]int{}
	for i, l := range log {
		mid := strings.Split(l, "|")[1]
		if _, dup := at[mid]; dup {
			t.Fatalf("message %s scheduled twice", mid)
		}
		at[mid] = i
	}
	for msg, nonce := range h.acked {
		if i, ok := at[msg]; !ok || uint64(i) != nonce {
			t.Fatalf("acknowledged message %s (slot %d) found at %d (present %v)", msg, nonce, i, ok)
		}
	}
	if at[pid] != 0 {
		t.Fatal("nonce 0 is not the process")
	}
	// An operation whose answer was lost either never took effect (it is not in the final
	// log: drop it) or took effect at the position the final log shows, at some time after
	// its call (its return stays open). Resolving them from the outcome keeps the search
	// small; what is checked is unchanged: every slot answered or found must fit one order
	// of the appends consistent with real time.
	var ops []porcupine.Operation
	for _, op := range h.ops {
		out := op.Output.(appendOut)
		if out.Unknown {
			i, ok := at[op.Input.(appendIn).Msg]
			if !ok {
				continue
			}
			op.Output = appendOut{Nonce: uint64(i)}
		}
		ops = append(ops, op)
	}
	res, info := porcupine.CheckOperationsVerbose(scheduleModel, ops, 2*time.Minute)
	if res != porcupine.Ok {
		if dir := os.Getenv("AONODE_PORCUPINE_OUT"); dir != "" {
			_ = porcupine.VisualizePath(scheduleModel, info, dir+"/history.html")
		}
		t.Fatalf("history of %d operations is not linearizable (%s)", len(h.ops), res)
	}
	t.Logf("%d operations, %d acknowledged, %d slots, linearizable", len(h.ops), len(h.acked), len(log))
}

var errMemberDown = fmt.Errorf("member down")

// scheduleLocked is schedule for a member that the nemesis may stop meanwhile: it takes the
// manager under the cluster lock, and a stop during the call shows up as an error.
func (c *cluster) scheduleLocked(i int, req su.Request, d time.Duration) (su.Scheduled, error) {
	c.mu.Lock()
	m := c.members[i].m
	c.mu.Unlock()
	if m == nil {
		return su.Scheduled{}, errMemberDown
	}
	ctx, cancel := contextWithTimeout(d)
	defer cancel()
	return m.Schedule(ctx, req, c.set)
}

func soak() bool { return os.Getenv("AONODE_SOAK") != "" }

func TestFaultsInMemory(t *testing.T) {
	c, net := memCluster(t, 3, nil)
	rounds, clients := 6, 4
	if soak() {
		rounds, clients = 60, 8
	}
	runFaults(t, c, faults{partition: net.Partition, heal: net.Heal}, rounds, clients)
}
