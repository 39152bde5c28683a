package node

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aonode/aonode/dataitem"
)

// TestCrankCrashRecovery runs a real aonode child with every role under load and kills it
// with SIGKILL while the MU is cranking: each acknowledged Relay to a process a makes a send
// a Ping to its peer b, whose Pong goes back to a. After the last restart every acknowledged
// Relay is scheduled, and the schedules and states show exactly one Ping in b and one Pong
// in a per scheduled Relay: nothing lost, nothing sent twice. AONODE_CRANK_KILLS sets the
// number of kills (default 10).
func TestCrankCrashRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills a child process; skipped with -short")
	}
	kills := envCount(t, "AONODE_CRANK_KILLS", 10)
	wasm := loopModule(t)
	bin := buildAonode(t)
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "key.json")
	nodeKey := seedSigner(21)
	raw, err := dataitem.MarshalKey(nodeKey)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	k := &childNode{t: t, bin: bin, args: []string{"run", "--data", filepath.Join(dir, "data"), "--http", addr, "--key", keyFile, "--log-level", "error"},
		base: "http://" + addr}
	k.start()
	c := newClient(t, k.base, seedSigner(22))
	c.http.Transport = &http.Transport{MaxIdleConnsPerHost: 16}
	sched := dataitem.EncodeID(sha256Of(nodeKey.Owner()))
	mod := c.publish(wasm, "wasm32-wasip1-aonode")
	type pair struct{ a, b string }
	var pairs []pair
	for i := range 2 {
		p := pair{c.spawn(mod, sched, "Name", fmt.Sprint("a", i)), c.spawn(mod, sched, "Name", fmt.Sprint("b", i))}
		c.result(p.a, p.a)
		c.result(p.b, p.b)
		pairs = append(pairs, p)
	}

	var (
		mu    sync.Mutex
		acked = map[string]string{} // acknowledged Relay -> its process
		seq   atomic.Int64
	)
	for round := range kills {
		if round > 0 {
			k.start()
		}
		threshold := int64(3 + rand.IntN(40))
		var n atomic.Int64
		ctx, cancel := context.WithCancel(context.Background())
		reached := make(chan struct{})
		var once sync.Once
		var wg sync.WaitGroup
		for w := range 4 {
			wg.Go(func() {
				for ctx.Err() == nil {
					p := pairs[w%len(pairs)]
					it := c.sign(dataitem.Fields{Target: mustID(t, p.a), Data: []byte(strconv.FormatInt(seq.Add(1), 10)),
						Tags: tags("Action", "Relay", "Peer", p.b, "Data-Protocol", "ao", "Type", "Message")})
					req, _ := http.NewRequestWithContext(ctx, "POST", k.base+"/mu", bytes.NewReader(it.Raw()))
					req.Header.Set("Content-Type", "application/octet-stream")
					resp, err := c.http.Do(req)
					if err != nil {
						continue // killed or cancelled: not acknowledged
					}
					body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
					resp.Body.Close()
					switch resp.StatusCode {
					case 202:
					case 502, 503, 504:
						continue // the node is going away: not acknowledged, and nothing wrong
					default:
						// A refusal of a well-formed Relay is a bug, not a crash effect.
						t.Errorf("round %d: Relay %s answered %d %s", round, it.ID(), resp.StatusCode, body)
						continue
					}
					mu.Lock()
					acked[it.ID()] = p.a
					mu.Unlock()
					if n.Add(1) >= threshold {
						once.Do(func() { close(reached) })
					}
				}
			})
		}
		select {
		case <-reached:
		case <-time.After(60 * time.Second):
			t.Errorf("round %d: %d acknowledgements in 60s\n%s", round, n.Load(), k.stderr)
		}
		// The cranks of the messages just acknowledged are in flight now.
		k.kill()
		cancel()
		wg.Wait()
		c.http.CloseIdleConnections()
		if t.Failed() {
			return
		}
	}
	k.start()
	defer func() {
		if err := k.stop(); err != nil {
			t.Error(err)
		}
	}()

	for _, p := range pairs {
		// Relays whose intake was queued but not yet handed to the SU at a kill are sent
		// after the restart, so the counts settle only when the MU's queue has drained.
		var relays map[string]bool
		var pings, pongs int
		settled := func() bool {
			if c.metric("mu_queue_pending") != "0" {
				return false
			}
			relays = map[string]bool{}
			for _, s := range c.schedule(p.a) {
				if s.action == "Relay" {
					relays[s.id] = true
				}
			}
			pings, pongs = c.countScheduled(p.b, "Ping"), c.countScheduled(p.a, "Pong")
			return pings == len(relays) && pongs == len(relays)
		}
		deadline := time.Now().Add(2 * time.Minute)
		for !settled() {
			if time.Now().After(deadline) {
				t.Fatalf("%d Relays scheduled, %d Pings and %d Pongs", len(relays), pings, pongs)
			}
			time.Sleep(50 * time.Millisecond)
		}
		mu.Lock()
		for id, pid := range acked {
			if pid == p.a && !relays[id] {
				t.Fatalf("acknowledged Relay %s is not scheduled", id)
			}
		}
		mu.Unlock()
		want := len(relays)
		if dead := c.metric("mu_dead_letters_total"); dead != "0" {
			t.Fatalf("%s dead letters", dead)
		}
		if a, b := loopStateOf(t, c, p.a), loopStateOf(t, c, p.b); a.Pongs != want || b.Pings != want {
			t.Fatalf("%d Relays: a has %d pongs, b %d pings", want, a.Pongs, b.Pings)
		}
	}
	t.Logf("%d kills, %d Relays acknowledged, all cranked exactly once", kills, len(acked))
}

type slotInfo struct{ id, action string }

// schedule reads a process's whole schedule from the SU.
func (c *aoClient) schedule(pid string) []slotInfo {
	c.t.Helper()
	var out []slotInfo
	from := "-1"
	for {
		r := c.do("GET", fmt.Sprintf("/su/%s?process-id=%s&from-nonce=%s&limit=1000", pid, pid, from), "", nil)
		var pg struct {
			PageInfo struct {
				HasNextPage bool `json:"has_next_page"`
			} `json:"page_info"`
			Edges []struct {
				Node struct {
					Message *struct {
						ID   string                         `json:"id"`
						Tags []struct{ Name, Value string } `json:"tags"`
					} `json:"message"`
				} `json:"node"`
				Cursor string `json:"cursor"`
			} `json:"edges"`
		}
		r.json(c.t, &pg)
		if r.code != 200 {
			c.t.Fatalf("schedule of %s: %d %s", pid, r.code, r.body)
		}
		for _, e := range pg.Edges {
			s := slotInfo{}
			if m := e.Node.Message; m != nil {
				s.id = m.ID
				for _, tg := range m.Tags {
					if tg.Name == "Action" {
						s.action = tg.Value
						break
					}
				}
			}
			out = append(out, s)
			from = e.Cursor
		}
		if !pg.PageInfo.HasNextPage || len(pg.Edges) == 0 {
			return out
		}
	}
}

// countScheduled counts the scheduled messages of pid with an Action, failing on an item
// scheduled twice.
func (c *aoClient) countScheduled(pid, action string) int {
	c.t.Helper()
	seen := map[string]bool{}
	n := 0
	for _, s := range c.schedule(pid) {
		if seen[s.id] {
			c.t.Fatalf("%s scheduled twice in %s", s.id, pid)
		}
		seen[s.id] = true
		if s.action == action {
			n++
		}
	}
	return n
}

// metric reads the value of an unlabelled metric from the node's /metrics.
func (c *aoClient) metric(name string) string {
	c.t.Helper()
	r := c.do("GET", "/metrics", "", nil)
	for _, line := range strings.Split(string(r.body), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
