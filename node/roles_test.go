package node

import (
	"fmt"
	"testing"
	"time"

	"github.com/aonode/aonode/dataitem"
)

// TestRolesOnSeparateNodes runs the loop with each unit on its own node, wired by URL as
// `aonode run --roles cu --su URL --gateway URL` and `--roles mu --su URL --cu URL` do.
func TestRolesOnSeparateNodes(t *testing.T) {
	wasm := loopModule(t)
	c1 := diskConfig(t)
	c1.Roles = []string{RoleSU, RoleGateway}
	// The MU node's pushes carry From-Process: the SU takes them from a listed MU.
	c1.TrustedMUs = []string{dataitem.OwnerAddress(seedSigner(8).Owner())}
	n1 := startNode(t, c1)
	c2 := diskConfig(t)
	c2.Roles, c2.SUURL, c2.GatewayURL = []string{RoleCU}, n1.URL()+"/su", n1.URL()
	c2.Signer = seedSigner(7)
	n2 := startNode(t, c2)
	c3 := diskConfig(t)
	c3.Roles, c3.SUURL, c3.CUURL = []string{RoleMU}, n1.URL()+"/su", n2.URL()+"/cu"
	c3.Signer = seedSigner(8)
	n3 := startNode(t, c3)
	if n2.SU() != nil || n2.MU() != nil || n2.CU() == nil || n3.CU() != nil {
		t.Fatal("roles not as configured")
	}
	if u := n2.URLs(); u.SU != n1.URL()+"/su" || u.Gateway != n1.URL() || u.MU != "" {
		t.Fatalf("CU node URLs %+v", u)
	}

	pub := newClient(t, n1.URL(), seedSigner(9))
	mod := pub.publish(wasm, "wasm32-wasip1-aonode")
	mu := newClient(t, n3.URL(), seedSigner(9))
	pid := mu.spawn(mod, n1.SU().Address(), "Name", "split")
	id := mu.send(pid, "", "Action", "Add", "N", "3")
	cu := newClient(t, n2.URL(), seedSigner(9))
	if res := cu.result(pid, id); string(res["Output"]) != `"3"` {
		t.Fatalf("result on the CU node: %v", res)
	}
	// An outbox message pushed by the MU node reaches the SU node, and its answer comes back.
	mu.send(pid, "", "Action", "Relay", "Peer", pid)
	waitFor(t, "the pushed Ping and Pong", 30*time.Second, func() string {
		if s := loopStateOf(t, cu, pid); s.Pings != 1 || s.Pongs != 1 {
			return fmt.Sprintf("pings %d, pongs %d", s.Pings, s.Pongs)
		}
		return ""
	})
	// The node without a gateway or MU answers 404 there.
	if r := cu.do("GET", "/mu", "", nil); r.code != 404 {
		t.Fatalf("GET /mu on the CU node: %d", r.code)
	}
}
