package node

import (
	"encoding/base64"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aonode/aonode/dataitem"
)

// TestAoconnectCallShapes sends the exact requests @permaweb/aoconnect 0.0.98 (legacy mode)
// makes for each of its calls (ao-protocol.md §6) to a node with every role, with
// MU_URL={node}/mu, CU_URL={node}/cu, GATEWAY_URL={node}, GRAPHQL_URL={node}/graphql, and
// checks the status codes and the response fields aoconnect reads.
func TestAoconnectCallShapes(t *testing.T) {
	wasm := loopModule(t)
	cfg := diskConfig(t)
	cfg.NoLocalShortcut = true // the units call each other over the socket, as across nodes
	n := startNode(t, cfg)
	c := newClient(t, n.URL(), seedSigner(3))
	sched := n.SU().Address()
	mod := c.publish(wasm, "wasm32-wasip1-aonode")

	// spawn: the module look-up on GRAPHQL_URL first.
	q := map[string]any{
		"query":     "query GetTransactions ($transactionIds: [ID!]!) {\n  transactions(ids: $transactionIds) {\n    edges {\n      node {\n        owner {\n          address\n        }\n        tags {\n          name\n          value\n        }\n        block {\n          id\n          height\n          timestamp\n        }\n      }\n    }\n  }\n}",
		"variables": map[string]any{"transactionIds": []string{mod}},
	}
	body, _ := json.Marshal(q)
	r := c.do("POST", "/graphql", "application/json", body, "Accept", "application/json")
	var gql struct {
		Data struct {
			Transactions struct {
				Edges []struct {
					Node struct {
						Owner struct{ Address string }
						Tags  []struct{ Name, Value string }
					}
				}
			}
		}
	}
	r.json(t, &gql)
	if r.code != 200 || len(gql.Data.Transactions.Edges) != 1 {
		t.Fatalf("GetTransactions: %d %s", r.code, r.body)
	}
	got := map[string]string{}
	for _, tg := range gql.Data.Transactions.Edges[0].Node.Tags {
		got[tg.Name] = tg.Value
	}
	for _, name := range []string{"Data-Protocol", "Type", "Module-Format", "Input-Encoding", "Output-Encoding"} {
		if got[name] == "" {
			t.Fatalf("module tags lack %s: %v", name, got)
		}
	}
	if got["Type"] != "Module" || gql.Data.Transactions.Edges[0].Node.Owner.Address != dataitem.EncodeID(sha256Of(c.signer.Owner())) {
		t.Fatalf("module metadata: %s", r.body)
	}
	// spawn and message POST {MU_URL}: 202 {"message","id"} (c.spawn and c.send check it).
	a := c.spawn(mod, sched, "Name", "a")
	b := c.spawn(mod, sched, "Name", "b")
	msg := c.send(a, "", "Action", "Add", "N", "2")

	// result: GET {CU_URL}/result/{message}?process-id={process}.
	res := c.result(a, msg)
	for _, k := range []string{"Messages", "Spawns", "Assignments", "Output", "GasUsed"} {
		if _, ok := res[k]; !ok {
			t.Fatalf("result lacks %s: %v", k, res)
		}
	}
	if _, ok := res["Memory"]; ok {
		t.Fatal("result carries Memory")
	}

	// results: GET {CU_URL}/results/{process}?from&to&sort&limit (only the given ones).
	to := strconv.FormatInt(time.Now().Add(time.Hour).UnixMilli(), 10)
	for _, query := range []string{"", "?sort=DESC&limit=1", "?from=0&to=" + to + "&sort=ASC&limit=25"} {
		r := c.do("GET", "/cu/results/"+a+query, "", nil, "Accept", "application/json")
		var conn struct {
			PageInfo *struct {
				HasNextPage *bool `json:"hasNextPage"`
			} `json:"pageInfo"`
			Edges []struct {
				Cursor string                     `json:"cursor"`
				Node   map[string]json.RawMessage `json:"node"`
			} `json:"edges"`
		}
		r.json(t, &conn)
		if r.code != 200 || conn.PageInfo == nil || conn.PageInfo.HasNextPage == nil || len(conn.Edges) == 0 {
			t.Fatalf("results%s: %d %s", query, r.code, r.body)
		}
		for _, e := range conn.Edges {
			if _, err := base64.StdEncoding.DecodeString(e.Cursor); err != nil || e.Node["Output"] == nil {
				t.Fatalf("results%s edge: %s", query, r.body)
			}
		}
		if strings.Contains(query, "limit=1") && (len(conn.Edges) != 1 || !*conn.PageInfo.HasNextPage) {
			t.Fatalf("results%s: %s", query, r.body)
		}
	}

	// dryrun: POST {CU_URL}/dry-run?process-id= with aoconnect's JSON body.
	dr := c.dryrun(a, "Action", "State")
	if !contains(dr["Output"], `"sum":2`) {
		t.Fatalf("dry-run: %v", dr)
	}
	if _, ok := dr["Memory"]; ok {
		t.Fatal("dry-run carries Memory")
	}

	// monitor / unmonitor: a signed item (target = process, data " ", no tags).
	mon := c.sign(dataitem.Fields{Target: mustID(t, a), Data: []byte(" ")})
	if r := c.do("POST", "/mu/monitor/"+a, "application/octet-stream", mon.Raw(), "Accept", "application/json"); r.code != 200 || string(r.body) != "Monitoring process" {
		t.Fatalf("monitor: %d %s", r.code, r.body)
	}
	if r := c.do("DELETE", "/mu/monitor/"+a, "application/octet-stream", mon.Raw(), "Accept", "application/json"); r.code != 200 || string(r.body) != "Process deleted" {
		t.Fatalf("unmonitor: %d %s", r.code, r.body)
	}

	// assign: POST {MU_URL}?process-id=&assign= with no body: 202 {"message","id"}; the
	// assigned message is evaluated by b, and its result is readable by assignment id.
	r = c.do("POST", "/mu?process-id="+b+"&assign="+msg, "application/octet-stream", nil, "Accept", "application/json")
	var as struct{ Message, ID string }
	r.json(t, &as)
	if r.code != 202 || as.Message != "Processing Assignment" || as.ID == "" {
		t.Fatalf("assign: %d %s", r.code, r.body)
	}
	if res := c.result(b, as.ID); string(res["Output"]) != `"2"` {
		t.Fatalf("result of the assignment in b: %v", res)
	}
	if r := c.do("POST", "/mu?process-id="+b, "application/octet-stream", nil, "Accept", "application/json"); r.code != 400 || !strings.Contains(string(r.body), "error") {
		t.Fatalf("assign without assign=: %d %s", r.code, r.body)
	}

	// message with returnAssignmentSlot: GET {su}/{id}?process-id= gives the Nonce tag.
	r = c.do("GET", "/su/"+msg+"?process-id="+a, "", nil, "Accept", "application/json")
	if r.code != 200 || !strings.Contains(string(r.body), `{"name":"Nonce","value":"1"}`) {
		t.Fatalf("assignment look-up: %d %s", r.code, r.body)
	}

	// getMessages: GET {su}/{process}?from&to&limit without process-id, the list (with from,
	// the Process itself is not node 0: only the Add message).
	r = c.do("GET", "/su/"+a+"?from=0&to="+to+"&limit=100", "", nil, "Accept", "application/json")
	var page struct {
		Edges []json.RawMessage `json:"edges"`
	}
	r.json(t, &page)
	if r.code != 200 || len(page.Edges) != 1 || !contains(page.Edges[0], msg) {
		t.Fatalf("getMessages: %d %s", r.code, r.body)
	}
	// locate (ao-scheduler-utils, which message({returnAssignmentSlot}) uses): the newest
	// Scheduler-Location of the process's Scheduler, from GRAPHQL_URL.
	if loc := schedulerLocation(t, n, sched); loc["Url"] != n.URL()+"/su" || loc["Time-To-Live"] == "" {
		t.Fatalf("Scheduler-Location of %s: %v", sched, loc)
	}

	// A non-2xx reply is an error aoconnect reports as "<status>: <text>": JSON errors.
	r = c.do("POST", "/mu", "application/octet-stream", []byte("not an item"), "Accept", "application/json")
	var e struct{ Error string }
	r.json(t, &e)
	if r.code != 400 || e.Error == "" {
		t.Fatalf("bad item: %d %s", r.code, r.body)
	}
}
