package node

import (
	"fmt"
	"net/http"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/aonode/aonode/dataitem"
	"github.com/aonode/aonode/dataitem/aoapi"
	"github.com/aonode/aonode/su"
)

// suSet starts three p2p nodes with the su role that know each other, and returns them with
// their sorted scheduler set.
func suSet(t *testing.T, seed byte) ([]*Node, []string) {
	t.Helper()
	a := p2pNode(t, seed, []string{RoleSU, RoleGateway})
	b := p2pNode(t, seed+1, []string{RoleSU, RoleGateway}, a)
	c := p2pNode(t, seed+2, []string{RoleSU, RoleGateway}, a, b)
	nodes := []*Node{a, b, c}
	waitFor(t, "the SUs to know each other", 30*time.Second, func() string {
		for _, n := range nodes {
			for _, m := range nodes {
				if n != m && !knows(n, m, RoleSU) {
					return "a record is missing"
				}
			}
		}
		return ""
	})
	var set []string
	for _, n := range nodes {
		set = append(set, n.SU().Address())
	}
	sort.Strings(set)
	return nodes, set
}

func multiProcess(t *testing.T, owner dataitem.Signer, set []string, commaList bool) *dataitem.Item {
	tg := tags("Data-Protocol", "ao", "Variant", "ao.TN.1", "Type", "Process", "Module", "mod", "Nonce-Salt", fmt.Sprint(time.Now().UnixNano()))
	if commaList {
		tg = append(tg, dataitem.Tag{Name: "Scheduler", Value: set[2] + ", " + set[0] + "," + set[1]})
	} else {
		for _, s := range []string{set[1], set[2], set[0]} { // any order
			tg = append(tg, dataitem.Tag{Name: "Scheduler", Value: s})
		}
	}
	it, err := dataitem.Sign(owner, dataitem.Fields{Tags: tg, Data: []byte(" ")})
	if err != nil {
		t.Fatal(err)
	}
	return it
}

func postSU(t *testing.T, n *Node, raw []byte) reply {
	return newClient(t, n.URL(), nil).do("POST", "/su/", "application/octet-stream", raw)
}

// TestMultiSchedulerProcess: a Process naming three SUs (as repeated tags or one
// comma-separated list) is ordered by their Raft group; messages posted to any member get
// contiguous slots, every member serves the same schedule and GET /su/consensus; after the
// leader stops, the others go on.
func TestMultiSchedulerProcess(t *testing.T) {
	nodes, set := suSet(t, 90)
	owner := seedSigner(99)
	alive := nodes
	for _, comma := range []bool{false, true} {
		proc := multiProcess(t, owner, set, comma)
		if r := postSU(t, nodes[1], proc.Raw()); r.code != http.StatusOK {
			t.Fatalf("spawn: %d %s", r.code, r.body)
		}
		pid := proc.ID()
		for i := range 9 {
			msg := nodeMessage(t, owner, pid, fmt.Sprint("m", i, comma))
			if r := postSU(t, nodes[i%3], msg.Raw()); r.code != http.StatusOK {
				t.Fatalf("message %d: %d %s", i, r.code, r.body)
			}
		}
		var leader string
		for _, n := range nodes {
			var st aoapi.Consensus
			waitFor(t, "the member to apply every slot", 10*time.Second, func() string {
				r := newClient(t, n.URL(), nil).do("GET", "/su/consensus/"+pid, "", nil)
				if r.code != http.StatusOK {
					return fmt.Sprintf("%d %s", r.code, r.body)
				}
				r.json(t, &st)
				return unless(st.LastNonce == 9 && st.Leader != "", "last nonce %d, leader %q", st.LastNonce, st.Leader)
			})
			if !slices.Equal(st.Members, set) || st.Process != pid || st.Term == 0 || st.CommitIndex == 0 {
				t.Fatalf("consensus status: %+v", st)
			}
			leader = st.Leader
			if _, err := su.VerifySchedule(n.Store(), pid); err != nil {
				t.Fatal(err)
			}
		}
		if comma {
			// The leader stops: the two others elect a new one and take messages again.
			li := slices.IndexFunc(nodes, func(n *Node) bool { return n.SU().Address() == leader })
			if err := nodes[li].Close(); err != nil {
				t.Fatal(err)
			}
			rest := slices.Delete(slices.Clone(nodes), li, li+1)
			alive = rest
			msg := nodeMessage(t, owner, pid, "after the leader left")
			start := time.Now()
			r := postSU(t, rest[0], msg.Raw())
			if r.code != http.StatusOK {
				t.Fatalf("after failover: %d %s", r.code, r.body)
			}
			t.Logf("first write after the leader stopped answered in %v", time.Since(start))
			// Reads go on from any member.
			if r := newClient(t, rest[1].URL(), nil).do("GET", "/su/"+pid+"/latest", "", nil); r.code != http.StatusOK {
				t.Fatalf("read: %d %s", r.code, r.body)
			}
		}
	}
	// A process with one scheduler stays on the local sequencer: no group.
	n := alive[0]
	single, _ := dataitem.Sign(owner, dataitem.Fields{Tags: tags("Data-Protocol", "ao", "Type", "Process", "Module", "m", "Scheduler", n.SU().Address()), Data: []byte(" ")})
	if r := postSU(t, n, single.Raw()); r.code != http.StatusOK {
		t.Fatalf("single spawn: %d %s", r.code, r.body)
	}
	if r := newClient(t, n.URL(), nil).do("GET", "/su/consensus/"+single.ID(), "", nil); r.code != http.StatusNotFound {
		t.Fatalf("consensus of a single-SU process: %d %s", r.code, r.body)
	}
}

func nodeMessage(t *testing.T, owner dataitem.Signer, pid, data string) *dataitem.Item {
	it, err := dataitem.Sign(owner, dataitem.Fields{Target: mustID(t, pid), Tags: tags("Data-Protocol", "ao", "Type", "Message"), Data: []byte(data)})
	if err != nil {
		t.Fatal(err)
	}
	return it
}
