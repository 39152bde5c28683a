package gateway

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/aonode/aonode/dataitem"
	"github.com/aonode/aonode/store"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type fixture struct {
	db  *store.DB
	srv *httptest.Server
}

func newFixture(t *testing.T, maxUpload int64) *fixture {
	t.Helper()
	db, err := store.Open(store.Options{InMemory: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	g, err := New(Options{Store: db, MaxUploadBytes: maxUpload, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(g)
	t.Cleanup(func() {
		srv.Close()
		_ = db.Close()
	})
	return &fixture{db: db, srv: srv}
}

func signer(seed byte) dataitem.Signer {
	s := sha256.Sum256([]byte{seed, 'g', 'w'})
	return dataitem.NewEd25519Signer(ed25519.NewKeyFromSeed(s[:]))
}

func sign(t testing.TB, s dataitem.Signer, target []byte, data string, tags ...string) *dataitem.Item {
	t.Helper()
	f := dataitem.Fields{Target: target, Data: []byte(data)}
	for i := 0; i+1 < len(tags); i += 2 {
		f.Tags = append(f.Tags, dataitem.Tag{Name: tags[i], Value: tags[i+1]})
	}
	it, err := dataitem.Sign(s, f)
	if err != nil {
		t.Fatal(err)
	}
	return it
}

func (f *fixture) upload(t *testing.T, it *dataitem.Item) uploadReply {
	t.Helper()
	resp, err := http.Post(f.srv.URL+"/tx", "application/octet-stream", bytes.NewReader(it.Raw()))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /tx: %d %s", resp.StatusCode, body)
	}
	var r uploadReply
	if err := json.Unmarshal(body, &r); err != nil {
		t.Fatal(err)
	}
	if r.ID != it.ID() {
		t.Fatalf("POST /tx id %q, want %q", r.ID, it.ID())
	}
	return r
}

// gql posts a query and returns the status and the raw body.
func (f *fixture) gql(t *testing.T, query string, vars map[string]any) (int, string) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	return f.post(t, "/graphql", "application/json", body)
}

func (f *fixture) post(t *testing.T, path, ctype string, body []byte) (int, string) {
	t.Helper()
	resp, err := http.Post(f.srv.URL+path, ctype, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func tagsJSON(it *dataitem.Item) []map[string]string {
	out := []map[string]string{}
	for _, tg := range it.Tags {
		out = append(out, map[string]string{"name": tg.Name, "value": tg.Value})
	}
	return out
}

// The queries below are the ones the reference clients send (ao-protocol.md §2.3, §2.5,
// §6, §7.2), written as those clients write them.
const (
	aoconnectSpawnQuery = `query GetTransactions ($transactionIds: [ID!]!) {
  transactions(ids: $transactionIds) {
    edges {
      node {
        owner { address }
        tags { name value }
        block { id height timestamp }
      }
    }
  }
}`
	cuGetProcessesQuery = `query GetProcesses ($processIds: [ID!]!, $skipTags: Boolean!, $skipSignature: Boolean!, $skipAnchor: Boolean!) {
  transactions(ids: $processIds) {
    edges {
      node {
        id
        signature @skip(if: $skipSignature)
        anchor @skip(if: $skipAnchor)
        owner { address key }
        tags @skip(if: $skipTags) { name value }
        recipient
      }
    }
  }
}`
	schedulerProcessQuery = `query GetTransactions ($transactionIds: [ID!]!) {
  transactions(ids: $transactionIds, tags: [{ name: "Data-Protocol", values: ["ao"] }]) {
    edges { node { tags { name value } } }
  }
}`
	schedulerLocationQuery = `query GetSchedulerLocation ($owner: String!) {
  transactions (
    owners: [$owner]
    tags: [
      { name: "Data-Protocol", values: ["ao"] }
      { name: "Type", values: ["Scheduler-Location"] }
    ]
    # Only need the most recent Scheduler-Location
    sort: HEIGHT_DESC
    first: 1
  ) {
    edges { node { tags { name value } } }
  }
}`
	checkpointQuery = `query GetAoProcessCheckpoints(
  $owners: [String!]!
  $processId: String!
  $limit: Int!
) {
  transactions(
    tags: [
      { name: "Process", values: [$processId] }
      { name: "Type", values: ["Checkpoint"] }
      { name: "Data-Protocol", values: ["ao"] }
    ],
    owners: $owners,
    first: $limit,
    sort: HEIGHT_DESC
  ) {
    pageInfo { hasNextPage }
    edges {
      cursor
      node {
        id
        owner { address }
        tags { name value }
        block { height timestamp }
      }
    }
  }
}`
)

func moduleItem(t testing.TB, s dataitem.Signer) *dataitem.Item {
	return sign(t, s, nil, "\x00asm\x01\x00\x00\x00",
		"Data-Protocol", "ao", "Variant", "ao.TN.1", "Type", "Module",
		"Module-Format", "wasm32-unknown-emscripten", "Input-Encoding", "JSON-1",
		"Output-Encoding", "JSON-1", "Content-Type", "application/wasm", "Memory-Limit", "512-mb")
}

func TestSpawnModuleQuery(t *testing.T) {
	f := newFixture(t, 0)
	mod := moduleItem(t, signer(1))
	f.upload(t, mod)
	code, body := f.gql(t, aoconnectSpawnQuery, map[string]any{"transactionIds": []string{mod.ID()}})
	if code != http.StatusOK {
		t.Fatalf("%d %s", code, body)
	}
	want := mustJSON(t, map[string]any{"data": map[string]any{"transactions": map[string]any{"edges": []any{
		map[string]any{"node": map[string]any{"owner": map[string]any{"address": mod.Address()}, "tags": tagsJSON(mod), "block": nil}},
	}}}})
	// encoding/json sorts map keys; the gateway keeps selection order, so compare decoded.
	assertJSONEqual(t, body, want)
	if !strings.Contains(body, `"node":{"owner":`) || !strings.Contains(body, `"tags":[{"name":"Data-Protocol","value":"ao"}`) {
		t.Fatalf("fields not in selection order: %s", body)
	}
	// An id the node does not hold yields no edge, not an error.
	other := sign(t, signer(2), nil, "x").ID()
	code, body = f.gql(t, aoconnectSpawnQuery, map[string]any{"transactionIds": []string{other}})
	if code != http.StatusOK || body != `{"data":{"transactions":{"edges":[]}}}`+"\n" {
		t.Fatalf("unknown id: %d %s", code, body)
	}
}

func assertJSONEqual(t *testing.T, got, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal([]byte(got), &g); err != nil {
		t.Fatalf("response is not JSON: %v\n%s", err, got)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatal(err)
	}
	if mustJSON(t, g) != mustJSON(t, w) {
		t.Fatalf("got  %s\nwant %s", mustJSON(t, g), mustJSON(t, w))
	}
}

func TestCUGetProcesses(t *testing.T) {
	f := newFixture(t, 0)
	target := sha256.Sum256([]byte("process"))
	anchor := []byte("0123456789abcdef0123456789abcdef")
	it, err := dataitem.Sign(signer(3), dataitem.Fields{Target: target[:], Anchor: anchor, Data: []byte("hi"),
		Tags: []dataitem.Tag{{Name: "Data-Protocol", Value: "ao"}, {Name: "Type", Value: "Message"}}})
	if err != nil {
		t.Fatal(err)
	}
	f.upload(t, it)
	for _, skip := range []bool{false, true} {
		code, body := f.gql(t, cuGetProcessesQuery, map[string]any{
			"processIds": []string{it.ID()}, "skipTags": skip, "skipSignature": skip, "skipAnchor": skip})
		if code != http.StatusOK {
			t.Fatalf("%d %s", code, body)
		}
		node := map[string]any{"id": it.ID()}
		if !skip {
			node["signature"] = dataitem.EncodeID(it.Signature)
			node["anchor"] = dataitem.EncodeID(anchor)
			node["tags"] = tagsJSON(it)
		}
		node["owner"] = map[string]any{"address": it.Address(), "key": dataitem.EncodeID(it.Owner)}
		node["recipient"] = dataitem.EncodeID(target[:])
		want := mustJSON(t, map[string]any{"data": map[string]any{"transactions": map[string]any{"edges": []any{map[string]any{"node": node}}}}})
		assertJSONEqual(t, body, want)
	}
}

func TestSchedulerUtilsQueries(t *testing.T) {
	f := newFixture(t, 0)
	su := signer(4)
	proc := sign(t, signer(5), nil, "", "Data-Protocol", "ao", "Type", "Process", "Scheduler", dataitem.OwnerAddress(su.Owner()))
	notAO := sign(t, signer(5), nil, "", "Type", "Process")
	f.upload(t, proc)
	f.upload(t, notAO)
	code, body := f.gql(t, schedulerProcessQuery, map[string]any{"transactionIds": []string{proc.ID(), notAO.ID()}})
	if code != http.StatusOK {
		t.Fatalf("%d %s", code, body)
	}
	assertJSONEqual(t, body, mustJSON(t, map[string]any{"data": map[string]any{"transactions": map[string]any{"edges": []any{
		map[string]any{"node": map[string]any{"tags": tagsJSON(proc)}}}}}}))

	loc := func(url string) *dataitem.Item {
		return sign(t, su, nil, "1984", "Data-Protocol", "ao", "Type", "Scheduler-Location", "Variant", "ao.TN.1",
			"Url", url, "Time-To-Live", "3600000")
	}
	f.upload(t, loc("http://old.example"))
	newer := loc("http://new.example")
	f.upload(t, newer)
	// A location signed by someone else must not be taken.
	f.upload(t, sign(t, signer(6), nil, "1984", "Data-Protocol", "ao", "Type", "Scheduler-Location", "Url", "http://evil.example", "Time-To-Live", "1"))
	code, body = f.gql(t, schedulerLocationQuery, map[string]any{"owner": dataitem.OwnerAddress(su.Owner())})
	if code != http.StatusOK {
		t.Fatalf("%d %s", code, body)
	}
	assertJSONEqual(t, body, mustJSON(t, map[string]any{"data": map[string]any{"transactions": map[string]any{"edges": []any{
		map[string]any{"node": map[string]any{"tags": tagsJSON(newer)}}}}}}))
}

func TestCheckpointQueryPaging(t *testing.T) {
	f := newFixture(t, 0)
	cu := signer(7)
	pid := sign(t, signer(8), nil, "p").ID()
	var cps []*dataitem.Item
	for i := range 3 {
		cp := sign(t, cu, nil, fmt.Sprint("memory", i), "Data-Protocol", "ao", "Variant", "ao.TN.1", "Type", "Checkpoint",
			"Process", pid, "Nonce", fmt.Sprint(i), "Content-Type", "application/octet-stream")
		f.upload(t, cp)
		cps = append(cps, cp)
	}
	// Same tags, other process and other owner: filtered out.
	f.upload(t, sign(t, cu, nil, "m", "Data-Protocol", "ao", "Type", "Checkpoint", "Process", "other"))
	f.upload(t, sign(t, signer(9), nil, "m", "Data-Protocol", "ao", "Type", "Checkpoint", "Process", pid))

	type page struct {
		Data struct {
			Transactions struct {
				PageInfo struct{ HasNextPage bool }
				Edges    []struct {
					Cursor string
					Node   struct {
						ID    string
						Block any
					}
				}
			}
		}
	}
	var seen []string
	after := ""
	for range 3 {
		q := checkpointQuery
		vars := map[string]any{"owners": []string{dataitem.OwnerAddress(cu.Owner())}, "processId": pid, "limit": 2}
		if after != "" {
			q = strings.Replace(q, "sort: HEIGHT_DESC", "sort: HEIGHT_DESC, after: $after", 1)
			q = strings.Replace(q, "$limit: Int!", "$limit: Int!, $after: String", 1)
			vars["after"] = after
		}
		code, body := f.gql(t, q, vars)
		if code != http.StatusOK {
			t.Fatalf("%d %s", code, body)
		}
		var p page
		if err := json.Unmarshal([]byte(body), &p); err != nil {
			t.Fatal(err)
		}
		for _, e := range p.Data.Transactions.Edges {
			seen = append(seen, e.Node.ID)
			if e.Node.Block != nil {
				t.Fatalf("block %v for an unscheduled item", e.Node.Block)
			}
			after = e.Cursor
		}
		if !p.Data.Transactions.PageInfo.HasNextPage {
			break
		}
	}
	want := []string{cps[2].ID(), cps[1].ID(), cps[0].ID()}
	if fmt.Sprint(seen) != fmt.Sprint(want) {
		t.Fatalf("pages gave %v, want newest first %v", seen, want)
	}
}

func TestBlockFromSlot(t *testing.T) {
	f := newFixture(t, 0)
	proc := sign(t, signer(10), nil, "", "Data-Protocol", "ao", "Type", "Process")
	pidBytes := proc.RawID()
	msg := sign(t, signer(10), pidBytes[:], "", "Data-Protocol", "ao", "Type", "Message")
	// As the SU stores them: items written with PutItem next to their slots.
	b := f.db.NewBatch()
	b.PutItem(proc.ID(), proc.Raw())
	b.PutItem(msg.ID(), msg.Raw())
	assignment := sign(t, signer(11), nil, "a").ID()
	b.PutSlot(store.Slot{Process: proc.ID(), Nonce: 1, Timestamp: 1_700_000_123_456, BlockHeight: 1_500_000,
		HashChain: "h", AssignmentID: assignment, MessageID: msg.ID()})
	if err := f.db.Commit(t.Context(), b); err != nil {
		t.Fatal(err)
	}
	code, body := f.gql(t, `{ transactions(ids: ["`+msg.ID()+`", "`+proc.ID()+`"], sort: HEIGHT_ASC) { edges { node { id block { id height timestamp previous } } } } }`, nil)
	if code != http.StatusOK {
		t.Fatalf("%d %s", code, body)
	}
	assertJSONEqual(t, body, mustJSON(t, map[string]any{"data": map[string]any{"transactions": map[string]any{"edges": []any{
		map[string]any{"node": map[string]any{"id": proc.ID(), "block": nil}},
		map[string]any{"node": map[string]any{"id": msg.ID(), "block": map[string]any{"id": assignment, "height": 1_500_000, "timestamp": 1_700_000_123, "previous": ""}}},
	}}}}))
	// Items the SU stored are indexed too.
	code, body = f.gql(t, `query { transactions(tags: {name: "Type", values: "Message"}, recipients: ["`+proc.ID()+`"]) { edges { node { id } } } }`, nil)
	if code != http.StatusOK || !strings.Contains(body, msg.ID()) {
		t.Fatalf("tag query over SU-stored items: %d %s", code, body)
	}
}

func TestGraphQLFeatures(t *testing.T) {
	f := newFixture(t, 0)
	it := sign(t, signer(12), nil, "hello", "Content-Type", "text/plain", "App", "x")
	f.upload(t, it)
	id := it.ID()
	for _, tc := range []struct {
		name, query string
		vars        map[string]any
		want        string
	}{
		{"aliases typename fragments",
			`query Q { a: transactions(ids: ["` + id + `"]) { __typename edges { node { ...F ... on Transaction { d: data { size type } } } } } }
			 fragment F on Transaction { i: id fee { ar winston } quantity { winston } }`,
			nil,
			`{"data":{"a":{"__typename":"TransactionConnection","edges":[{"node":{"i":"` + id + `","fee":{"ar":"0.000000000000","winston":"0"},"quantity":{"winston":"0"},"d":{"size":"5","type":"text/plain"}}}]}}}`},
		{"include false and default variable",
			`query ($inc: Boolean = false, $first: Int = 5) { transactions(ids: ["` + id + `"], first: $first) { pageInfo { hasNextPage } edges { node { id @include(if: $inc) bundledIn { id } } } } }`,
			nil,
			`{"data":{"transactions":{"pageInfo":{"hasNextPage":false},"edges":[{"node":{"bundledIn":null}}]}}}`},
		{"single transaction",
			`{ transaction(id: "` + id + `") { id recipient anchor } }`, nil,
			`{"data":{"transaction":{"id":"` + id + `","recipient":"","anchor":""}}}`},
		{"missing transaction", `{ transaction(id: "nope") { id } }`, nil, `{"data":{"transaction":null}}`},
		{"blocks are empty", `query { blocks(height: {min: 5}, first: 1, sort: HEIGHT_ASC) { pageInfo { hasNextPage } edges { node { id } } } }`, nil,
			`{"data":{"blocks":{"pageInfo":{"hasNextPage":false},"edges":[]}}}`},
		{"null ids variable means no id filter",
			`query ($ids: [ID!]) { transactions(ids: $ids, tags: [{name: "App", values: ["x"]}]) { edges { node { id } } } }`, nil,
			`{"data":{"transactions":{"edges":[{"node":{"id":"` + id + `"}}]}}}`},
		{"first zero", `{ transactions(first: 0) { edges { cursor } pageInfo { hasNextPage } } }`, nil,
			`{"data":{"transactions":{"edges":[],"pageInfo":{"hasNextPage":false}}}}`},
		{"operation name", `query A { transactions(ids: []) { edges { cursor } } } query B { __typename }`, nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.want == "" {
				body, _ := json.Marshal(map[string]any{"query": tc.query, "operationName": "B"})
				code, got := f.post(t, "/graphql", "application/json", body)
				if code != http.StatusOK || got != `{"data":{"__typename":"Query"}}`+"\n" {
					t.Fatalf("%d %s", code, got)
				}
				return
			}
			code, got := f.gql(t, tc.query, tc.vars)
			if code != http.StatusOK || got != tc.want+"\n" {
				t.Fatalf("%d\ngot  %s\nwant %s", code, got, tc.want)
			}
		})
	}
}

func TestGraphQLErrors(t *testing.T) {
	f := newFixture(t, 0)
	for _, tc := range []struct {
		name string
		body string
		code int
		msg  string
	}{
		{"not json", `{query`, 400, "must be JSON"},
		{"no query", `{"query":""}`, 400, "no query"},
		{"syntax", `{"query":"{ transactions( { edges } }"}`, 400, "Syntax Error"},
		{"unterminated string", `{"query":"{ transactions(ids: [\"abc]) { edges { cursor } } }"}`, 400, "unterminated string"},
		{"unknown field", `{"query":"{ transactions { edges { node { nonsense } } } }"}`, 400, `Cannot query field \"nonsense\" on type \"Transaction\"`},
		{"unknown argument", `{"query":"{ transactions(block: {min: 1}) { edges { cursor } } }"}`, 400, `Unknown argument \"block\"`},
		{"first too big", `{"query":"{ transactions(first: 101) { edges { cursor } } }"}`, 400, "at most 100"},
		{"bad sort", `{"query":"{ transactions(sort: SIDEWAYS) { edges { cursor } } }"}`, 400, "sort"},
		{"bad cursor", `{"query":"{ transactions(after: \"!!\") { edges { cursor } } }"}`, 400, "Invalid cursor"},
		{"undefined variable", `{"query":"{ transactions(ids: $x) { edges { cursor } } }"}`, 400, "not defined"},
		{"mutation", `{"query":"mutation { x }"}`, 400, "queries only"},
		{"leaf with selection", `{"query":"{ transactions { edges { cursor { x } } } }"}`, 400, "must not have a selection"},
		{"object without selection", `{"query":"{ transactions { edges } }"}`, 400, "must have a selection"},
		{"wildcard match", `{"query":"{ transactions(tags: [{name: \"a\", values: [\"b\"], match: WILDCARD}]) { edges { cursor } } }"}`, 400, "EXACT"},
		{"fragment cycle", `{"query":"{ transactions { ...A } } fragment A on TransactionConnection { ...A }"}`, 400, "deeper"},
		{"deep nesting", `{"query":"` + strings.Repeat("{a:", 30) + `"}`, 400, "Syntax Error"},
		{"fragment bomb", `{"query":"query { transactions { ...A } } fragment A on TransactionConnection { ...B ...B ...B ...B ...B ...B ...B ...B ...B ...B } fragment B on TransactionConnection { ...C ...C ...C ...C ...C ...C ...C ...C ...C ...C } fragment C on TransactionConnection { ...D ...D ...D ...D ...D ...D ...D ...D ...D ...D } fragment D on TransactionConnection { ...E ...E ...E ...E ...E ...E ...E ...E ...E ...E } fragment E on TransactionConnection { ...F ...F ...F ...F ...F ...F ...F ...F ...F ...F } fragment F on TransactionConnection { ...G ...G ...G ...G ...G ...G ...G ...G ...G ...G } fragment G on TransactionConnection { pageInfo { hasNextPage } }"}`, 400, "more than 50000"},
		{"variables not object", `{"query":"{ __typename }","variables":[1]}`, 400, "Variables"},
		{"several operations", `{"query":"query A { __typename } query B { __typename }"}`, 400, "operation name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := f.post(t, "/graphql", "application/json", []byte(tc.body))
			if code != tc.code || !strings.HasPrefix(body, `{"errors":[{"message":`) || !strings.Contains(body, tc.msg) {
				t.Fatalf("%d %s; want %d with %q", code, body, tc.code, tc.msg)
			}
		})
	}
	code, body := f.post(t, "/graphql", "application/json", []byte(`{"query":"`+strings.Repeat(" ", MaxGraphQLBodyBytes)+`{ __typename }"}`))
	if code != http.StatusRequestEntityTooLarge || !strings.Contains(body, "errors") {
		t.Fatalf("oversize body: %d %s", code, body)
	}
}

func TestUpload(t *testing.T) {
	f := newFixture(t, 4096)
	it := sign(t, signer(13), nil, "data", "A", "b")
	first := f.upload(t, it)
	if first.Owner != it.Address() || first.Timestamp <= 0 {
		t.Fatalf("reply %+v", first)
	}
	if again := f.upload(t, it); again != first {
		t.Fatalf("duplicate upload replied %+v, first %+v", again, first)
	}
	code, body := f.post(t, "/tx/arweave", "application/octet-stream", sign(t, signer(13), nil, "other").Raw())
	if code != http.StatusOK {
		t.Fatalf("/tx/arweave: %d %s", code, body)
	}
	bad := append([]byte(nil), it.Raw()...)
	bad[len(bad)-1] ^= 1
	for _, tc := range []struct {
		name, path string
		body       []byte
		code       int
		msg        string
	}{
		{"bad signature", "/tx", bad, 400, "invalid data item"},
		{"garbage", "/tx", []byte("hello"), 400, "invalid data item"},
		{"empty", "/tx", nil, 400, "invalid data item"},
		{"too large", "/tx", make([]byte, 4097), 413, "larger than 4096"},
		{"currency", "/tx/matic", it.Raw(), 400, "unsupported currency"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := f.post(t, tc.path, "application/octet-stream", tc.body)
			if code != tc.code || !strings.Contains(body, tc.msg) || !strings.HasPrefix(body, `{"error":`) {
				t.Fatalf("%d %s; want %d %q", code, body, tc.code, tc.msg)
			}
		})
	}
	if has, _ := f.db.HasItem(dataitem.EncodeID(make([]byte, 32))); has {
		t.Fatal("unexpected item")
	}
}

func TestProcessLookupAndRaw(t *testing.T) {
	f := newFixture(t, 0)
	proc := sign(t, signer(14), nil, "<script>alert(1)</script>",
		"Data-Protocol", "ao", "Variant", "ao.TN.1", "Type", "Process", "Module", "m", "Authority", "a1", "Authority", "a2",
		"Content-Type", "text/html", "Set-Cookie", "x=1", "Bad Name", "v", "Line", "a\nb")
	f.upload(t, proc)
	for _, method := range []string{http.MethodGet, http.MethodHead} {
		req, _ := http.NewRequest(method, f.srv.URL+"/"+proc.ID(), nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		h := resp.Header
		if resp.StatusCode != 200 || h.Get("type") != "Process" || h.Get("data-protocol") != "ao" || h.Get("Module") != "m" {
			t.Fatalf("%s: %d %v", method, resp.StatusCode, h)
		}
		if got := h.Values("Authority"); fmt.Sprint(got) != "[a1 a2]" {
			t.Fatalf("repeated tag headers %v", got)
		}
		if h.Get("Set-Cookie") != "" || h.Get("Line") != "" || h.Get("Content-Type") != "text/html" ||
			h.Get("Content-Security-Policy") != "sandbox" || h.Get("X-Content-Type-Options") != "nosniff" {
			t.Fatalf("unsafe or missing headers: %v", h)
		}
		wantBody := string(proc.Data)
		if method == http.MethodHead {
			wantBody = ""
		}
		if string(body) != wantBody {
			t.Fatalf("%s body %q", method, body)
		}
	}
	mod := moduleItem(t, signer(15))
	f.upload(t, mod)
	resp, err := http.Get(f.srv.URL + "/raw/" + mod.ID())
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/wasm" || !bytes.Equal(body, mod.Data) || resp.Header.Get("Type") != "" {
		t.Fatalf("/raw: %d %v %q", resp.StatusCode, resp.Header, body)
	}
	for _, path := range []string{"/raw/" + sign(t, signer(16), nil, "").ID(), "/" + sign(t, signer(16), nil, "").ID(), "/notanid", "/raw/x", "/a/b/c"} {
		resp, err := http.Get(f.srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 404 || !strings.Contains(string(b), `"error"`) {
			t.Fatalf("%s: %d %s", path, resp.StatusCode, b)
		}
	}
}

// emptyStore holds nothing; the fuzz target runs queries against it.
type emptyStore struct{}

func (emptyStore) Item(string) ([]byte, error)      { return nil, store.ErrNotFound }
func (emptyStore) HasItem(string) (bool, error)     { return false, nil }
func (emptyStore) ItemOrder(string) (uint64, error) { return 0, store.ErrNotFound }
func (emptyStore) QueryItems(store.ItemQuery) ([]store.ItemRef, error) {
	return nil, nil
}
func (emptyStore) SlotByMessage(string, string) (store.Slot, error) {
	return store.Slot{}, store.ErrNotFound
}
func (emptyStore) NewBatch() *store.Batch                         { return nil }
func (emptyStore) Commit(_ context.Context, _ *store.Batch) error { return nil }

func FuzzGraphQL(f *testing.F) {
	for _, q := range []string{aoconnectSpawnQuery, cuGetProcessesQuery, schedulerProcessQuery, schedulerLocationQuery, checkpointQuery,
		`{ transactions(first: 1.5e3, after: "AAAAAAAAAAB4") { edges { cursor } } }`,
		`query ($a: [[String!]] = [["\u00e9\ud83d\ude00"]]) { __typename } fragment X on Transaction { id }`,
		`{ a: blocks(height: {min: -0, max: null}) { edges { node { id } } } }`,
		`"""block
		   string""" { x }`,
	} {
		f.Add(q)
	}
	f.Fuzz(func(t *testing.T, q string) {
		doc, err := parseDocument(q)
		if err == nil && len(doc.ops) == 0 {
			t.Fatal("parsed a document without operations")
		}
		data, err := execute(emptyStore{}, gqlRequest{Query: q, Variables: json.RawMessage(`{"transactionIds":["x"],"owner":"o","processIds":[],"skipTags":true,"skipSignature":false,"skipAnchor":true,"owners":[],"processId":"p","limit":3}`)}, nil)
		if err == nil {
			if _, err := json.Marshal(data); err != nil {
				t.Fatalf("result does not encode: %v", err)
			}
		}
	})
}

// BenchmarkGraphQL runs the reference CU's checkpoint query (tags, owners, sort, first 10)
// and aoconnect's module look-up through the handler, over 1000 held items.
func BenchmarkGraphQL(b *testing.B) {
	db, err := store.Open(store.Options{InMemory: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	g, err := New(Options{Store: db, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	cu := signer(20)
	batch := db.NewBatch()
	for i := range 1000 {
		it := sign(b, cu, nil, fmt.Sprint(i), "Data-Protocol", "ao", "Type", "Checkpoint", "Process", fmt.Sprint("p", i%10), "Nonce", fmt.Sprint(i))
		batch.PutItem(it.ID(), it.Raw())
	}
	mod := moduleItem(b, signer(21))
	batch.PutItem(mod.ID(), mod.Raw())
	if err := db.Commit(b.Context(), batch); err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name  string
		query string
		vars  map[string]any
	}{
		{"checkpoints", checkpointQuery, map[string]any{"owners": []string{dataitem.OwnerAddress(cu.Owner())}, "processId": "p3", "limit": 10}},
		{"module", aoconnectSpawnQuery, map[string]any{"transactionIds": []string{mod.ID()}}},
	} {
		body, _ := json.Marshal(map[string]any{"query": bc.query, "variables": bc.vars})
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				rec := httptest.NewRecorder()
				g.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/graphql", bytes.NewReader(body)))
				if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"edges":[{`) {
					b.Fatalf("%d %s", rec.Code, rec.Body)
				}
			}
		})
	}
}
