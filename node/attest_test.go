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
// 2 on: the other two see it diverge.
func TestThreeCUsAgree(t *testing.T) {
	wasm := loopModule(t)
	su := p2pNode(t, 41, []string{RoleSU})
	m := p2pNode(t, 40, []string{RoleMU, RoleGateway}, su)
	var cus []*Node
	for i := range 3 {
		cfg := diskConfig(t)
		cfg.Roles = []string{RoleCU}
		cfg.Signer = seedSigner(byte(42 + i))
		cfg.P2P = testP2P(su)
		if i == 2 {
			cfg.alterResult = func(_ string, nonce uint64, res []byte) []byte {
				if nonce >= 2 {
					return []byte(strings.Replace(string(res), `"Output"`, `"Output":"forged","Was"`, 1))
				}
				return nil
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
