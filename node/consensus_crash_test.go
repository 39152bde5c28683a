package node

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aonode/aonode/dataitem"
	"github.com/aonode/aonode/dataitem/aoapi"
	"github.com/aonode/aonode/p2p"
	"github.com/aonode/aonode/store"
	"github.com/aonode/aonode/su"
)

// TestConsensusProcessesKilled runs three real `aonode run` children that form the scheduler
// set of a process, clients posting messages to every member, and SIGKILLs the leader
// repeatedly, restarting it from its config file. Afterwards every acknowledged message is in
// the schedule exactly once at the slot it was answered with, the schedule has no gap and
// verifies, and the three stores hold byte-equal slots; a fourth child, a CU, computes the
// process from the members after the failovers. AONODE_CONSENSUS_KILLS sets the number of
// kills (default 3).
func TestConsensusProcessesKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills child processes; skipped with -short")
	}
	kills := envCount(t, "AONODE_CONSENSUS_KILLS", 3)
	bin := buildAonode(t)
	dir := t.TempDir()
	type child struct {
		childNode
		signer *dataitem.Ed25519Signer
		addr   string // scheduler address
		data   string
	}
	kids := make([]*child, 4) // three members, then a CU
	var p2pAddrs []string
	for i := range kids {
		s := seedSigner(byte(120 + i))
		id, err := p2p.NewIdentity(s, nil)
		if err != nil {
			t.Fatal(err)
		}
		p2pAddrs = append(p2pAddrs, fmt.Sprintf("/ip4/127.0.0.1/tcp/%s/p2p/%s", port(t, freeAddr(t)), id.PeerID))
		kids[i] = &child{signer: s, addr: su.AddressOfOwner(s.Owner()), data: filepath.Join(dir, fmt.Sprint("data", i))}
	}
	for i, k := range kids {
		keyFile := filepath.Join(dir, fmt.Sprint("key", i, ".json"))
		raw, err := dataitem.MarshalKey(k.signer)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(keyFile, raw, 0o600); err != nil {
			t.Fatal(err)
		}
		httpAddr := freeAddr(t)
		var boot []string
		for j, a := range p2pAddrs {
			if j != i {
				boot = append(boot, fmt.Sprintf("%q", a))
			}
		}
		listen := p2pAddrs[i][:strings.Index(p2pAddrs[i], "/p2p/")]
		roles := "su, gateway"
		if i == 3 {
			roles = "cu, gateway"
		}
		cfg := fmt.Sprintf(`roles: [%s]
key: %s
data: %s
http: %s
log-level: warn
p2p:
  enabled: true
  listen: [%q]
  bootstrap: [%s]
  dht: false
  mdns: false
  discovery-interval: 200ms
  heartbeat-interval: 100ms
`, roles, keyFile, k.data, httpAddr, listen, strings.Join(boot, ", "))
		cfgFile := filepath.Join(dir, fmt.Sprint("node", i, ".yaml"))
		if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		k.childNode = childNode{t: t, bin: bin, base: "http://" + httpAddr, args: []string{"run", "--config", cfgFile}}
	}
	cuChild := kids[3]
	for _, k := range kids {
		k.start()
	}
	kids = kids[:3]
	defer func() {
		if cuChild.cmd.ProcessState == nil {
			cuChild.kill()
		}
		for _, k := range kids {
			if k.cmd != nil && k.cmd.ProcessState == nil {
				k.kill()
			}
		}
	}()
	client := &http.Client{Timeout: 15 * time.Second}
	defer client.CloseIdleConnections()
	post := func(k *child, raw []byte) (int, []byte, error) {
		resp, err := client.Post(k.base+"/su/", "application/octet-stream", bytes.NewReader(raw))
		if err != nil {
			return 0, nil, err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return resp.StatusCode, b, err
	}
	var set []string
	for _, k := range kids {
		set = append(set, k.addr)
	}
	sort.Strings(set)
	owner := seedSigner(130)
	modClient := newClient(t, cuChild.base, owner)
	mod := modClient.publish(loopModule(t), "wasm32-wasip1-aonode")
	tg := tags("Data-Protocol", "ao", "Variant", "ao.TN.1", "Type", "Process", "Module", mod)
	for _, a := range set {
		tg = append(tg, dataitem.Tag{Name: "Scheduler", Value: a})
	}
	proc, _ := dataitem.Sign(owner, dataitem.Fields{Tags: tg, Data: []byte(" ")})
	pid := proc.ID()
	// The members find each other through their bootstrap lists and records first.
	waitFor(t, "the spawn to be ordered", 60*time.Second, func() string {
		code, body, err := post(kids[0], proc.Raw())
		return unless(err == nil && code == 200, "%d %s %v", code, body, err)
	})

	var (
		mu      sync.Mutex
		acked   = map[string]uint64{}
		stop    = make(chan struct{})
		wg      sync.WaitGroup
		running = []bool{true, true, true}
		seq     int
	)
	for cl := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				k := kids[(cl+i)%3]
				mu.Lock()
				up := running[(cl+i)%3]
				seq++
				data := fmt.Sprint("msg ", seq)
				mu.Unlock()
				if !up {
					time.Sleep(20 * time.Millisecond)
					continue
				}
				msg := addMessage(t, owner, pid, data)
				code, body, err := post(k, msg.Raw())
				if err != nil || code != 200 {
					continue // unknown outcome (or refused while the set elects)
				}
				var rc aoapi.Receipt
				if json.Unmarshal(body, &rc) != nil || rc.ID != msg.ID() {
					t.Errorf("receipt %s", body)
					return
				}
				// The slot it got, read back from the member that answered.
				var node aoapi.MessageNode
				r, err := client.Get(k.base + "/su/" + msg.ID() + "?process-id=" + pid)
				if err != nil {
					continue
				}
				b, _ := io.ReadAll(r.Body)
				r.Body.Close()
				if r.StatusCode != 200 || json.Unmarshal(b, &node) != nil {
					t.Errorf("read of an acknowledged message: %d %s", r.StatusCode, b)
					return
				}
				n, ok := aoapi.TagValue(node.Assignment.Tags, "Nonce")
				if !ok {
					t.Errorf("no nonce in %s", b)
					return
				}
				var nonce uint64
				fmt.Sscan(n, &nonce)
				mu.Lock()
				acked[msg.ID()] = nonce
				mu.Unlock()
			}
		}()
	}
	leaderOf := func() int {
		for i, k := range kids {
			mu.Lock()
			up := running[i]
			mu.Unlock()
			if !up {
				continue
			}
			r, err := client.Get(k.base + "/su/consensus/" + pid)
			if err != nil {
				continue
			}
			var st aoapi.Consensus
			_ = json.NewDecoder(r.Body).Decode(&st)
			r.Body.Close()
			if j := slices.IndexFunc(kids, func(c *child) bool { return c.addr == st.Leader }); j >= 0 {
				return j
			}
		}
		return -1
	}
	for range kills {
		time.Sleep(time.Second)
		var l int
		waitFor(t, "a leader", 30*time.Second, func() string { l = leaderOf(); return unless(l >= 0, "none") })
		mu.Lock()
		running[l] = false
		mu.Unlock()
		kids[l].kill()
		time.Sleep(time.Second)
		kids[l].start()
		mu.Lock()
		running[l] = true
		mu.Unlock()
	}
	time.Sleep(time.Second)
	close(stop)
	wg.Wait()
	mu.Lock()
	n := len(acked)
	mu.Unlock()
	if n == 0 {
		t.Fatal("no message was acknowledged")
	}
	// Settle: the last member restarted catches up, then all stop cleanly.
	waitFor(t, "every member to hold every acknowledged slot", 30*time.Second, func() string {
		var max uint64
		for _, nonce := range acked {
			max = maxU(max, nonce)
		}
		for _, k := range kids {
			r, err := client.Get(k.base + "/su/consensus/" + pid)
			if err != nil {
				return err.Error()
			}
			var st aoapi.Consensus
			_ = json.NewDecoder(r.Body).Decode(&st)
			r.Body.Close()
			if st.LastNonce < max {
				return fmt.Sprintf("%s at %d of %d", k.addr, st.LastNonce, max)
			}
		}
		return ""
	})
	// The CU computes the process from the members: every slot after nonce 0 adds 1.
	var last aoapi.MessageNode
	r, err := client.Get(kids[0].base + "/su/" + pid + "/latest")
	if err != nil {
		t.Fatal(err)
	}
	_ = json.NewDecoder(r.Body).Decode(&last)
	r.Body.Close()
	lastNonce, _ := aoapi.TagValue(last.Assignment.Tags, "Nonce")
	lastID := last.Message.ID
	cuc := newClient(t, cuChild.base, nil)
	cuc.http.Timeout = 5 * time.Minute
	if res := cuc.result(pid, lastID); string(res["Output"]) != fmt.Sprintf("%q", lastNonce) {
		t.Fatalf("CU result of the last slot (nonce %s): %s", lastNonce, res["Output"])
	}
	if err := cuChild.stop(); err != nil {
		t.Fatal(err)
	}
	for _, k := range kids {
		if err := k.stop(); err != nil {
			t.Fatal(err)
		}
	}
	var ref []string
	for i, k := range kids {
		o := store.DefaultOptions(k.data)
		o.Logger = quietLogger()
		db, err := store.Open(o)
		if err != nil {
			t.Fatal(err)
		}
		slots, err := su.VerifySchedule(db, pid)
		if err != nil {
			t.Fatalf("member %d: %v", i, err)
		}
		var dump []string
		seen := map[string]bool{}
		for _, s := range slots {
			if seen[s.MessageID] {
				t.Fatalf("member %d: %s scheduled twice", i, s.MessageID)
			}
			seen[s.MessageID] = true
			a, err := db.Item(s.AssignmentID)
			if err != nil {
				t.Fatal(err)
			}
			dump = append(dump, fmt.Sprintf("%d %s %x", s.Nonce, s.MessageID, a))
			if want, ok := acked[s.MessageID]; ok && want != s.Nonce {
				t.Fatalf("member %d: %s acknowledged at %d, stored at %d", i, s.MessageID, want, s.Nonce)
			}
		}
		for m := range acked {
			if !seen[m] {
				t.Fatalf("member %d: acknowledged message %s lost", i, m)
			}
		}
		_ = db.Close()
		if i == 0 {
			ref = dump
		} else if !slices.Equal(ref, dump) {
			t.Fatalf("member %d's slots differ from member 0's", i)
		}
	}
	t.Logf("%d kills, %d acknowledged messages, %d slots on every member", kills, n, len(ref))
}

func maxU(a, b uint64) uint64 {
	if a > b {
		return a
	}
	return b
}

func port(t *testing.T, hostport string) string {
	_, p, err := net.SplitHostPort(hostport)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// addMessage is a Message to pid that the loop module answers by adding 1 to its sum.
func addMessage(t *testing.T, owner dataitem.Signer, pid, data string) *dataitem.Item {
	it, err := dataitem.Sign(owner, dataitem.Fields{Target: mustID(t, pid), Tags: tags("Data-Protocol", "ao", "Type", "Message", "Action", "Add", "N", "1"), Data: []byte(data)})
	if err != nil {
		t.Fatal(err)
	}
	return it
}
