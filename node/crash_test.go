package node

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aonode/aonode/dataitem"
	"github.com/aonode/aonode/su"
)

// TestCrashRecovery runs a real aonode child under concurrent load and kills it with SIGKILL
// at random moments (after a random number of acknowledged messages). After every restart
// each acknowledged message must be in the schedule, at the slot it was first seen at, and
// every process's schedule must be contiguous from nonce 0 with a valid hash chain, read
// through the SU API as a CU would. AONODE_CRASH_KILLS sets the number of kills (default 20).
func TestCrashRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills a child process; skipped with -short")
	}
	kills := envCount(t, "AONODE_CRASH_KILLS", 20)
	dir := t.TempDir()
	bin := buildAonode(t)
	keyFile := filepath.Join(dir, "key.json")
	raw, err := dataitem.MarshalKey(seedSigner(11))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	c := &crashRun{
		childNode: childNode{t: t, bin: bin, base: "http://" + addr, args: []string{
			"run", "--roles", "su", "--data", filepath.Join(dir, "data"), "--http", addr, "--key", keyFile, "--log-level", "warn"}},
		t:      t,
		base:   "http://" + addr + "/su",
		client: &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 16}},
		signer: seedSigner(12),
		slots:  map[string]uint64{},
		owner:  map[string]string{},
	}
	defer c.client.CloseIdleConnections()
	suAddr := su.AddressOfOwner(seedSigner(11).Owner())

	c.start()
	for i := range 4 {
		p, err := dataitem.Sign(c.signer, dataitem.Fields{Tags: []dataitem.Tag{
			{Name: "Data-Protocol", Value: "ao"}, {Name: "Type", Value: "Process"},
			{Name: "Module", Value: suAddr}, {Name: "Scheduler", Value: suAddr},
			{Name: "N", Value: strconv.Itoa(i)},
		}})
		if err != nil {
			t.Fatal(err)
		}
		if code, body, err := c.post(context.Background(), p.Raw()); err != nil || code != 200 {
			t.Fatalf("spawn: %d %s %v", code, body, err)
		}
		c.pids = append(c.pids, p.ID())
	}
	var total int
	for round := range kills {
		if round > 0 {
			c.start()
		}
		c.verify(round)
		threshold := 5 + rand.IntN(120)
		total += c.load(threshold)
	}
	c.start()
	c.verify(kills)
	c.stop()
	t.Logf("%d kills, %d acknowledged messages, %d slots verified", kills, total, len(c.slots))
	if total < kills*5 {
		t.Fatalf("only %d messages acknowledged", total)
	}
}

type crashRun struct {
	childNode // the aonode child; its base is the node root, crashRun's the SU's

	t      *testing.T
	base   string
	client *http.Client
	signer dataitem.Signer
	pids   []string
	seq    atomic.Int64

	mu    sync.Mutex
	slots map[string]uint64 // acknowledged message -> nonce first seen
	owner map[string]string // acknowledged message -> process
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// kill also drops the client's connections to the dead child.
func (c *crashRun) kill() {
	c.childNode.kill()
	c.client.CloseIdleConnections()
}

// stop ends the child with SIGTERM and wants a clean exit.
func (c *crashRun) stop() {
	c.t.Helper()
	if err := c.childNode.stop(); err != nil {
		c.t.Fatal(err)
	}
}

func (c *crashRun) post(ctx context.Context, raw []byte) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, "POST", c.base+"/", bytes.NewReader(raw))
	if err != nil {
		return 0, nil, err
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// load drives 8 concurrent clients until threshold messages are acknowledged, then returns
// with the clients still sending (so the kill that follows lands mid-request).
func (c *crashRun) load(threshold int) int {
	c.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var acked atomic.Int64
	reached := make(chan struct{})
	var once sync.Once
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := range 8 {
		wg.Go(func() {
			for ctx.Err() == nil {
				pid := c.pids[(w+int(c.seq.Load()))%len(c.pids)]
				target, _ := dataitem.DecodeID(pid)
				m, err := dataitem.Sign(c.signer, dataitem.Fields{Target: target[:], Data: []byte("x"), Tags: []dataitem.Tag{
					{Name: "Data-Protocol", Value: "ao"}, {Name: "Type", Value: "Message"},
					{Name: "Seq", Value: strconv.FormatInt(c.seq.Add(1), 10)},
				}})
				if err != nil {
					errs <- err
					return
				}
				code, body, err := c.post(ctx, m.Raw())
				if err != nil {
					// The node is being killed, or the round is over: unacknowledged.
					continue
				}
				if code != 200 {
					errs <- fmt.Errorf("POST answered %d %s", code, body)
					return
				}
				c.mu.Lock()
				c.owner[m.ID()] = pid
				c.mu.Unlock()
				if int(acked.Add(1)) >= threshold {
					once.Do(func() { close(reached) })
				}
			}
		})
	}
	select {
	case <-reached:
	case err := <-errs:
		cancel()
		wg.Wait()
		c.t.Fatal(err)
	case <-time.After(60 * time.Second):
		cancel()
		wg.Wait()
		c.t.Fatalf("only %d acknowledgements in 60s\n%s", acked.Load(), c.stderr)
	}
	// Kill while the clients are mid-flight, then stop them.
	c.kill()
	cancel()
	wg.Wait()
	select {
	case err := <-errs:
		c.t.Fatal(err)
	default:
	}
	return int(acked.Load())
}

type listPage struct {
	PageInfo struct {
		HasNextPage bool `json:"has_next_page"`
	} `json:"page_info"`
	Edges []struct {
		Node struct {
			Message *struct {
				ID string `json:"id"`
			} `json:"message"`
			Assignment struct {
				ID   string `json:"id"`
				Tags []struct {
					Name  string `json:"name"`
					Value string `json:"value"`
				} `json:"tags"`
			} `json:"assignment"`
		} `json:"node"`
		Cursor string `json:"cursor"`
	} `json:"edges"`
}

// verify reads every process's whole schedule through the API and checks it.
func (c *crashRun) verify(round int) {
	c.t.Helper()
	type slotAt struct {
		pid   string
		nonce uint64
	}
	seen := map[string]slotAt{}
	for _, pid := range c.pids {
		var prevAID, prevHC string
		next := uint64(0)
		from := "-1"
		for {
			var pg listPage
			url := fmt.Sprintf("%s/%s?process-id=%s&from-nonce=%s&limit=500", c.base, pid, pid, from)
			resp, err := c.client.Get(url)
			if err != nil {
				c.t.Fatalf("round %d: %v", round, err)
			}
			err = json.NewDecoder(resp.Body).Decode(&pg)
			resp.Body.Close()
			if err != nil || resp.StatusCode != 200 {
				c.t.Fatalf("round %d: list %s: %d %v", round, pid, resp.StatusCode, err)
			}
			for _, e := range pg.Edges {
				tags := map[string]string{}
				for _, tag := range e.Node.Assignment.Tags {
					tags[tag.Name] = tag.Value
				}
				nonce, _ := strconv.ParseUint(tags["Nonce"], 10, 64)
				if nonce != next || e.Cursor != strconv.FormatUint(nonce, 10) {
					c.t.Fatalf("round %d: %s: nonce %s where %d was due", round, pid, tags["Nonce"], next)
				}
				var want string
				if nonce == 0 {
					want, err = su.SeedHashChain(pid)
				} else {
					want, err = su.NextHashChain(prevAID, prevHC)
				}
				if err != nil || tags["Hash-Chain"] != want {
					c.t.Fatalf("round %d: %s nonce %d: chain %s, want %s (%v)", round, pid, nonce, tags["Hash-Chain"], want, err)
				}
				if e.Node.Message == nil {
					c.t.Fatalf("round %d: %s nonce %d has no message", round, pid, nonce)
				}
				if _, dup := seen[e.Node.Message.ID]; dup {
					c.t.Fatalf("round %d: message %s scheduled twice", round, e.Node.Message.ID)
				}
				seen[e.Node.Message.ID] = slotAt{pid, nonce}
				prevAID, prevHC = e.Node.Assignment.ID, tags["Hash-Chain"]
				next++
				from = e.Cursor
			}
			if !pg.PageInfo.HasNextPage {
				break
			}
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for id, pid := range c.owner {
		at, ok := seen[id]
		if !ok {
			c.t.Fatalf("round %d: acknowledged message %s of %s is missing", round, id, pid)
		}
		if at.pid != pid {
			c.t.Fatalf("round %d: message %s to %s is in the schedule of %s", round, id, pid, at.pid)
		}
		if first, ok := c.slots[id]; ok && first != at.nonce {
			c.t.Fatalf("round %d: message %s moved from slot %d to %d", round, id, first, at.nonce)
		}
		c.slots[id] = at.nonce
	}
	if len(seen) < len(c.owner) {
		c.t.Fatal(errors.New("fewer scheduled than acknowledged"))
	}
}
