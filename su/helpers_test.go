package su

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/aonode/aonode/dataitem"
	"github.com/aonode/aonode/store"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

type testClock struct{ ms atomic.Int64 }

func (c *testClock) now() int64   { return c.ms.Load() }
func (c *testClock) set(ms int64) { c.ms.Store(ms) }
func (c *testClock) add(ms int64) { c.ms.Add(ms) }
func newTestClock(ms int64) *testClock {
	c := &testClock{}
	c.set(ms)
	return c
}

type testEnv struct {
	t      testing.TB
	db     *store.DB
	su     *SU
	clock  *testClock
	client dataitem.Signer
	srv    *httptest.Server
	seq    atomic.Int64
}

func openMemStore(t testing.TB) *store.DB {
	t.Helper()
	db, err := store.Open(store.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func newTestEnv(t testing.TB, mutate ...func(*Options)) *testEnv {
	t.Helper()
	e := &testEnv{t: t, db: openMemStore(t), clock: newTestClock(1_700_000_000_000), client: testSigner(9)}
	opts := Options{DB: e.db, Signer: testSigner(1), Clock: e.clock.now, BlockHeight: func() uint64 { return 1393008 }}
	for _, m := range mutate {
		m(&opts)
	}
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	e.su = s
	e.srv = httptest.NewServer(s.Handler())
	t.Cleanup(e.srv.Close)
	return e
}

func (e *testEnv) sign(f dataitem.Fields) *dataitem.Item {
	e.t.Helper()
	it, err := dataitem.Sign(e.client, f)
	if err != nil {
		e.t.Fatal(err)
	}
	return it
}

// process signs a Process item naming this SU as its scheduler.
func (e *testEnv) process(extra ...dataitem.Tag) *dataitem.Item {
	tags := []dataitem.Tag{
		{Name: "Data-Protocol", Value: "ao"},
		{Name: "Variant", Value: "ao.TN.1"},
		{Name: "Type", Value: "Process"},
		{Name: "Module", Value: handAID0},
		{Name: "Scheduler", Value: e.su.Address()},
		{Name: "Seq", Value: strconv.FormatInt(e.seq.Add(1), 10)},
	}
	return e.sign(dataitem.Fields{Tags: append(tags, extra...), Data: []byte("process data")})
}

// message signs a distinct Message to pid.
func (e *testEnv) message(pid string, data []byte, extra ...dataitem.Tag) *dataitem.Item {
	target, err := dataitem.DecodeID(pid)
	if err != nil {
		e.t.Fatal(err)
	}
	tags := []dataitem.Tag{
		{Name: "Data-Protocol", Value: "ao"},
		{Name: "Variant", Value: "ao.TN.1"},
		{Name: "Type", Value: "Message"},
		{Name: "Action", Value: "Eval"},
		{Name: "Seq", Value: strconv.FormatInt(e.seq.Add(1), 10)},
	}
	return e.sign(dataitem.Fields{Target: target[:], Tags: append(tags, extra...), Data: data})
}

func (e *testEnv) submit(it *dataitem.Item) Scheduled {
	e.t.Helper()
	res, err := e.su.Submit(context.Background(), it.Raw())
	if err != nil {
		e.t.Fatalf("submit %s: %v", it.ID(), err)
	}
	return res
}

func (e *testEnv) do(method, path string, body []byte) (int, []byte, http.Header) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, bytes.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp.StatusCode, b, resp.Header
}

// getJSON GETs path, wants status and decodes the body into v.
func (e *testEnv) getJSON(path string, status int, v any) []byte {
	e.t.Helper()
	code, body, _ := e.do("GET", path, nil)
	if code != status {
		e.t.Fatalf("GET %s: status %d, want %d; body %s", path, code, status, body)
	}
	if v != nil {
		if err := json.Unmarshal(body, v); err != nil {
			e.t.Fatalf("GET %s: %v; body %s", path, err, body)
		}
	}
	return body
}

// verifyChain checks pid's whole stored schedule.
func verifyChain(t testing.TB, db *store.DB, pid string) []store.Slot {
	t.Helper()
	slots, err := VerifySchedule(db, pid)
	if err != nil {
		t.Fatal(err)
	}
	return slots
}
