package node

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aonode/aonode/dataitem/aoapi"
	"github.com/aonode/aonode/p2p"
)

// agreementOf reads GET /cu/agreement/{pid}?message=id on n.
func agreementOf(t *testing.T, n *Node, pid, id string) (aoapi.Agreement, int) {
	t.Helper()
	r := newClient(t, n.URL(), nil).do("GET", "/cu/agreement/"+pid+"?message="+id, "", nil)
	var ag aoapi.Agreement
	if r.code == 200 {
		r.json(t, &ag)
	}
	return ag, r.code
}

// TestThreeCUsAgree runs one SU, one MU and three CUs on real libp2p hosts (loopback). The
// CUs compute the same process, gossip their attestations, and each one's /cu/agreement
// lists all three, agreeing. The third CU's evaluator is altered (test-only hook) from slot
// 2 on: the other two see it diverge. The MU, at --result-quorum 2, cranks the two honest
// CUs' results, never the altered one's; once one honest CU is gone, the split of the two
// left leaves the next result waiting, not cranked.
func TestThreeCUsAgree(t *testing.T) {
	wasm := loopModule(t)
	su := p2pNode(t, 41, []string{RoleSU})
	mcfg := diskConfig(t)
	mcfg.Roles = []string{RoleMU, RoleGateway}
	mcfg.Signer = seedSigner(40)
	mcfg.P2P = testP2P(su)
	mcfg.ResultQuorum = 2
	m := startNode(t, mcfg)
	var cus []*Node
	for i := range 3 {
		cfg := diskConfig(t)
		cfg.Roles = []string{RoleCU}
		cfg.Signer = seedSigner(byte(42 + i))
		cfg.P2P = testP2P(su)
		if i == 2 {
			cfg.alterResult = func(_ string, nonce uint64, res []byte) []byte {
				switch {
				case nonce < 2:
					return nil
				case strings.Contains(string(res), `"value":"Ping"`):
					return []byte(strings.ReplaceAll(string(res), `"value":"Ping"`, `"value":"Forged"`))
				}
				return []byte(strings.Replace(string(res), `"Output"`, `"Output":"forged","Was"`, 1))
			}
		}
		cus = append(cus, startNode(t, cfg))
	}
	waitFor(t, "every CU to know the SU and the other CUs", 30*time.Second, func() string {
		var missing []string
		for i, c := range cus {
			if !knows(c, su, p2p.RoleSU) {
				missing = append(missing, fmt.Sprintf("CU %d lacks the SU", i))
			}
			for j, o := range cus {
				if i != j && !knows(c, o, p2p.RoleCU) {
					missing = append(missing, fmt.Sprintf("CU %d lacks CU %d", i, j))
				}
			}
		}
		return strings.Join(missing, ", ")
	})
	client := newClient(t, m.URL(), seedSigner(20))
	mod := client.publish(wasm, "wasm32-wasip1-aonode")
	pid := client.spawn(mod, su.SU().Address(), "Name", "attest")
	// Asking each CU for the boot result makes it follow the process (and its attestations).
	for _, c := range cus {
		if res := newClient(t, c.URL(), nil).result(pid, pid); !contains(res["Output"], "booted") {
			t.Fatalf("boot: %v", res)
		}
	}
	waitFor(t, "the CUs to meet on the attestation topic", 30*time.Second, func() string {
		for i, c := range cus {
			if n := len(c.Host().AttestPeers(pid)); n < 2 {
				return fmt.Sprintf("CU %d sees %d peers on the topic", i, n)
			}
		}
		return ""
	})
	add := client.send(pid, "", "Action", "Add", "N", "5")
	add2 := client.send(pid, "", "Action", "Add", "N", "7")
	for _, c := range cus {
		newClient(t, c.URL(), nil).result(pid, add2)
	}
	addrs := []string{}
	for _, c := range cus {
		addrs = append(addrs, c.CU().Address())
	}
	slices.Sort(addrs)
	for i, c := range cus {
		waitFor(t, fmt.Sprintf("CU %d to hold all three attestations of both messages", i), 30*time.Second, func() string {
			for _, id := range []string{add, add2} {
				ag, code := agreementOf(t, c, pid, id)
				if code != 200 || len(ag.Attestations) != 3 {
					return fmt.Sprintf("%s: %d, %d attestations", id, code, len(ag.Attestations))
				}
			}
			return ""
		})
		ag, _ := agreementOf(t, c, pid, add)
		var got []string
		for _, a := range ag.Attestations {
			got = append(got, a.CU)
		}
		slices.Sort(got)
		if !ag.Agree || !slices.Equal(got, addrs) || ag.Slot != 1 || ag.Message != add || ag.Attestations[0].CU != c.CU().Address() {
			t.Fatalf("CU %d on the first Add: %+v", i, ag)
		}
		ag2, _ := agreementOf(t, c, pid, add2)
		if ag2.Agree {
			t.Fatalf("CU %d does not see the altered CU diverge: %+v", i, ag2)
		}
	}
	for i, c := range cus[:2] {
		body := newClient(t, c.URL(), nil).do("GET", "/metrics", "", nil).body
		if !contains(body, "aonode_cu_attestation_divergences_total 1") {
			t.Fatalf("CU %d counts no divergence:\n%s", i, grepLines(string(body), "attestation"))
		}
	}

	// Quorum 2 of 3: the honest Ping (the altered CU sends Forged) goes out, and its Pong.
	atC := newClient(t, cus[0].URL(), nil)
	client.send(pid, "", "Action", "Relay", "Peer", pid)
	waitFor(t, "the majority's Ping and the Pong", 60*time.Second, func() string {
		if s := loopStateOf(t, atC, pid); s.Pings != 1 || s.Pongs != 1 {
			return fmt.Sprintf("pings %d, pongs %d", s.Pings, s.Pongs)
		}
		return ""
	})
	waitFor(t, "the MU's queue to drain", 30*time.Second, func() string { return pending(m) })
	// One honest CU leaves: the two left split on every result from now on.
	if err := cus[1].Close(); err != nil {
		t.Fatal(err)
	}
	relay := client.send(pid, "", "Action", "Relay", "Peer", pid, "Again", "1")
	for _, c := range []*Node{cus[0], cus[2]} {
		newClient(t, c.URL(), nil).result(pid, relay)
	}
	waitFor(t, "the MU to find no quorum", 30*time.Second, func() string {
		body := newClient(t, m.URL(), nil).do("GET", "/metrics", "", nil).body
		return unless(contains(body, `mu_crank_steps_total{kind="result",outcome="no_quorum"}`), "no no_quorum step yet (pending %d):\n%s", m.MU().Pending(), grepLines(string(body), "mu_"))
	})
	if s := loopStateOf(t, atC, pid); s.Pings != 1 {
		t.Fatalf("a split result was cranked: pings %d", s.Pings)
	}
	if m.MU().Pending() == 0 {
		t.Fatal("the split result's task left the queue")
	}
	if dead, err := m.MU().DeadLetters(); err != nil || dead != 0 {
		t.Fatalf("%d dead letters (%v)", dead, err)
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestWatchtowerFollowsAll: a CU run with follow: [all] computes a process nobody asked it
// about, heard of from another CU's topic subscription, and agrees with that CU.
func TestWatchtowerFollowsAll(t *testing.T) {
	wasm := loopModule(t)
	su := p2pNode(t, 51, []string{RoleSU})
	m := p2pNode(t, 50, []string{RoleMU, RoleGateway}, su)
	c := p2pNode(t, 52, []string{RoleCU}, su)
	wcfg := diskConfig(t)
	wcfg.Roles = []string{RoleCU}
	wcfg.Signer = seedSigner(53)
	wcfg.P2P = testP2P(su, c)
	wcfg.Follow = []string{FollowAll}
	w := startNode(t, wcfg)
	waitFor(t, "the CUs to know the SU and each other", 30*time.Second, func() string {
		return unless(knows(c, su, p2p.RoleSU) && knows(c, m, p2p.RoleMU) && knows(w, m, p2p.RoleMU) && knows(w, su, p2p.RoleSU) && knows(w, c, p2p.RoleCU) && knows(c, w, p2p.RoleCU), "records missing")
	})
	client := newClient(t, m.URL(), seedSigner(20))
	pid := client.spawn(client.publish(wasm, "wasm32-wasip1-aonode"), su.SU().Address(), "Name", "watched")
	newClient(t, c.URL(), nil).result(pid, pid)
	t.Log("booted on the CU")
	waitFor(t, "the watchtower to follow the process", 30*time.Second, func() string {
		return unless(slices.Contains(w.Host().AttestPeers(pid), c.Host().ID()), "the CU is not among the watchtower's attestation peers")
	})
	t.Log("the watchtower follows")
	add := client.send(pid, "", "Action", "Add", "N", "3")
	newClient(t, c.URL(), nil).result(pid, add)
	t.Log("computed on the CU")
	waitFor(t, "the watchtower to evaluate the message unasked and hear the CU", 30*time.Second, func() string {
		ag, code := agreementOf(t, w, pid, add)
		return unless(code == 200 && len(ag.Attestations) == 2 && ag.Agree, "agreement %d %+v", code, ag)
	})
}
