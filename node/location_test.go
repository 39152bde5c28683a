package node

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aonode/aonode/dataitem/aoapi"
	"github.com/aonode/aonode/node/clock"
)

// schedulerLocation asks n's gateway what @permaweb/ao-scheduler-utils asks (aoapi's query,
// owners = address, HEIGHT_DESC, first 1) and returns the tags of the answer, nil when none.
func schedulerLocation(t *testing.T, n *Node, address string) map[string]string {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": aoapi.SchedulerLocationQuery, "variables": map[string]string{"owner": address}})
	r := newClient(t, n.URL(), nil).do("POST", "/graphql", "application/json", body)
	var out struct {
		Data struct {
			Transactions struct {
				Edges []struct {
					Node struct {
						Tags []aoapi.Tag `json:"tags"`
					} `json:"node"`
				} `json:"edges"`
			} `json:"transactions"`
		} `json:"data"`
	}
	r.json(t, &out)
	if r.code != http.StatusOK {
		t.Fatalf("GetSchedulerLocation on %s: %d %s", n.URL(), r.code, r.body)
	}
	edges := out.Data.Transactions.Edges
	if len(edges) == 0 {
		return nil
	}
	tags := map[string]string{}
	for _, tg := range edges[0].Node.Tags {
		tags[tg.Name] = tg.Value
	}
	return tags
}

// locationID is the id of the newest Scheduler-Location of address that n's gateway holds.
func locationID(t *testing.T, n *Node, address string) string {
	t.Helper()
	body, _ := json.Marshal(map[string]any{
		"query":     `query($o: String!) { transactions(owners: [$o], tags: [{name: "Type", values: ["Scheduler-Location"]}], sort: HEIGHT_DESC, first: 1) { edges { node { id } } } }`,
		"variables": map[string]string{"o": address},
	})
	r := newClient(t, n.URL(), nil).do("POST", "/graphql", "application/json", body)
	var out struct {
		Data struct {
			Transactions struct {
				Edges []struct {
					Node struct{ ID string } `json:"node"`
				} `json:"edges"`
			} `json:"transactions"`
		} `json:"data"`
	}
	r.json(t, &out)
	if len(out.Data.Transactions.Edges) == 0 {
		return ""
	}
	return out.Data.Transactions.Edges[0].Node.ID
}

// TestSchedulerLocationRefresh: a node with the su role signs its Scheduler-Location at start
// with the Url of its /su and the configured Time-To-Live, and its gateway answers the
// scheduler-utils query with it; when half the Time-To-Live has passed (on the node's clock)
// it signs a new one, which replaces the old in the gateway.
func TestSchedulerLocationRefresh(t *testing.T) {
	clk := clock.NewManual(time.UnixMilli(1_700_000_000_000))
	cfg := testConfig(t)
	cfg.Clock = clk
	cfg.Roles = []string{RoleSU, RoleGateway}
	cfg.PublicURL = "https://su.example.org/base/"
	cfg.SchedulerLocationTTL = time.Hour
	n := startNode(t, cfg)
	addr := n.SU().Address()

	var first string
	waitFor(t, "the first Scheduler-Location", 10*time.Second, func() string {
		first = locationID(t, n, addr)
		return unless(first != "", "a location of %s", addr)
	})
	tags := schedulerLocation(t, n, addr)
	want := map[string]string{
		"Data-Protocol": "ao", "Variant": "ao.TN.1", "Type": "Scheduler-Location",
		"Url": "https://su.example.org/base/su", "Time-To-Live": "3600000", "Timestamp": "1700000000000",
	}
	for k, v := range want {
		if tags[k] != v {
			t.Fatalf("tag %s = %q, want %q (all: %v)", k, tags[k], v, tags)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := clk.WaitFor(ctx, 1); err != nil {
		t.Fatal("the announcer never waited on the clock:", err)
	}
	clk.Advance(30 * time.Minute)
	var second string
	waitFor(t, "the refreshed Scheduler-Location", 10*time.Second, func() string {
		second = locationID(t, n, addr)
		return unless(second != first, "a location other than %s", first)
	})
	if ts := schedulerLocation(t, n, addr)["Timestamp"]; ts != "1700001800000" {
		t.Fatalf("refreshed Timestamp %s", ts)
	}
	if code, _ := get(t, n.URL()+"/"+first); code != http.StatusNotFound {
		t.Fatalf("the replaced location is still served: %d", code)
	}
	if code, _ := get(t, n.URL()+"/"+second); code != http.StatusOK {
		t.Fatalf("GET the new location: %d", code)
	}
}

// TestSchedulerLocationConfig: the Time-To-Live is bounded, and a public URL needs no p2p
// (it is the Url of the Scheduler-Location of a lone node too).
func TestSchedulerLocationConfig(t *testing.T) {
	cfg := testConfig(t)
	cfg.SchedulerLocationTTL = time.Millisecond
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "SchedulerLocationTTL") {
		t.Fatalf("a 1 ms Time-To-Live: %v", err)
	}
	cfg.SchedulerLocationTTL = 0
	cfg.PublicURL = "http://example.org"
	if err := cfg.Validate(); err != nil {
		t.Fatalf("public URL without p2p: %v", err)
	}
	cfg.PublicURL = "ftp://example.org"
	if err := cfg.Validate(); err == nil {
		t.Fatal("an ftp public URL was accepted")
	}
}

// TestNetworkGateways runs three p2p nodes on loopback, each bootstrapping from the one
// before: node 2 never dials node 0 itself. Node 2's gateway answers the scheduler-utils
// query for node 0's SU (and node 1's) from the locations gossiped to it, and serves a
// module that was published on node 0 only, by GET /{id}, /raw/{id} and GraphQL ids:,
// fetched from a peer, verified and kept. An id no peer holds is a 404, answered from the
// negative cache the second time.
func TestNetworkGateways(t *testing.T) {
	n0 := p2pNode(t, 40, AllRoles)
	n1 := p2pNode(t, 41, AllRoles, n0)
	n2 := p2pNode(t, 42, []string{RoleCU, RoleMU, RoleGateway}, n1)

	for _, src := range []*Node{n0, n1} {
		addr := src.SU().Address()
		waitFor(t, "node 2 to index the location of "+src.URL(), 30*time.Second, func() string {
			tags := schedulerLocation(t, n2, addr)
			return unless(tags["Url"] == src.URL()+"/su" && tags["Time-To-Live"] == "3600000",
				"Url %s/su in node 2's answer for %s (got %v)", src.URL(), addr, tags)
		})
	}
	// The SU answers at the announced Url, as scheduler-utils then asks it.
	if code, body := get(t, schedulerLocation(t, n2, n0.SU().Address())["Url"]); code != 200 || !strings.Contains(body, n0.SU().Address()) {
		t.Fatalf("GET the located SU: %d %s", code, body)
	}

	wasm := loopModule(t)
	mod := newClient(t, n0.URL(), seedSigner(43)).publish(wasm, "wasm32-wasip1-aonode")
	if has, _ := n2.Store().HasItem(mod); has {
		t.Fatal("node 2 holds the module before anyone asked")
	}
	c2 := newClient(t, n2.URL(), nil)
	body, _ := json.Marshal(map[string]any{
		"query":     `query($ids: [ID!]!) { transactions(ids: $ids) { edges { node { id tags { name value } } } } }`,
		"variables": map[string]any{"ids": []string{mod}},
	})
	if r := c2.do("POST", "/graphql", "application/json", body); r.code != 200 || !contains(r.body, `"id":"`+mod+`"`) || !contains(r.body, `"Module-Format"`) {
		t.Fatalf("GraphQL ids on node 2: %d %.300s", r.code, r.body)
	}
	if r := c2.do("GET", "/raw/"+mod, "", nil); r.code != 200 || len(r.body) != len(wasm) {
		t.Fatalf("GET /raw on node 2: %d, %d bytes", r.code, len(r.body))
	}
	if r := c2.do("HEAD", "/"+mod, "", nil); r.code != 200 || r.hdr.Get("Type") != "Module" {
		t.Fatalf("HEAD /{id} on node 2: %d %v", r.code, r.hdr)
	}
	if has, _ := n2.Store().HasItem(mod); !has {
		t.Fatal("node 2 did not keep the module it fetched")
	}

	missing := strings.Repeat("A", 43)
	for i := range 2 {
		if r := c2.do("GET", "/"+missing, "", nil); r.code != http.StatusNotFound || !contains(r.body, `"error"`) {
			t.Fatalf("GET an id no peer holds (%d): %d %s", i, r.code, r.body)
		}
	}
	// One look-up at the peers for the module, one for the missing id: the second miss came
	// from the negative cache.
	m := c2.do("GET", "/metrics", "", nil)
	for _, want := range []string{`aonode_gateway_peer_fetches_total{outcome="ok"} 1`, `aonode_gateway_peer_fetches_total{outcome="not_found"} 1`,
		`aonode_p2p_gossip_validated_total{result="accept",topic="locations"}`} {
		if !contains(m.body, want) {
			t.Errorf("node 2's /metrics lacks %s", want)
		}
	}
}
