package cu

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/aonode/aonode/cu/module"
	"github.com/aonode/aonode/node/fixtures"
)

// aosWasm reads the aos fixture (shared/fixtures/wasm/aos.wasm beside the repository).
func aosWasm(t testing.TB) []byte {
	t.Helper()
	return fixtures.Read(t, "fixtures", "wasm", "aos.wasm")
}

var aosTags = []Tag{{Name: "Memory-Limit", Value: "1-gb"}, {Name: "Compute-Limit", Value: "9000000000000"}}

func emscriptenRuntimes(t testing.TB) map[module.Format]Runtime {
	t.Helper()
	em, err := NewEmscriptenRuntime(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = em.Close(context.Background()) })
	return map[module.Format]Runtime{module.Emscripten2: em}
}

// restartComparison runs messages (owner-signed; data and tags per message) through a CU on
// a real runtime, stops it after slot stopAfter and resumes it from its checkpoint, then
// checks every result, attestation and the final memory against an uninterrupted run. It
// returns the resumed harness (open) and the message ids.
func restartComparison(t *testing.T, rts map[module.Format]Runtime, format module.Format, wasm []byte, tags []Tag, msgs []fakeInput, stopAfter int) (*harness, string, []string) {
	t.Helper()
	su := newFakeSU(t)
	gw := newFakeGateway(t)
	mod := gw.addModule(wasm, moduleTags(string(format), tags...))
	pid := su.addProcess(mod, false)
	owner := su.processOwner(pid)
	var ids []string
	for _, m := range msgs {
		ids = append(ids, su.addMessageBy(pid, owner, 1000, m.data, m.tags...))
	}
	run := func(stop int) *harness {
		h := &harness{t: t, su: su, gw: gw, rt: &fakeRuntime{}, opts: func(c *Config) {
			c.Runtimes = rts
			c.CheckpointEvery = 3
		}}
		h.db = openStore(t, "")
		t.Cleanup(func() { _ = h.db.Close() })
		h.start()
		if stop >= 0 {
			wantStatus(t, h.get("/result/"+ids[stop]+"?process-id="+pid), 200, "")
			h.stop()
			h.start()
		}
		wantStatus(t, h.get("/result/"+ids[len(ids)-1]+"?process-id="+pid), 200, "")
		return h
	}
	resumed := run(stopAfter)
	if counterValue(t, resumed.cu.m.restores) != 1 {
		t.Fatal("the second CU did not resume from the checkpoint")
	}
	straight := run(-1)
	defer straight.close()
	a, b := allResults(t, resumed.db, pid), allResults(t, straight.db, pid)
	if len(a) != len(ids)+1 || len(a) != len(b) {
		t.Fatalf("%d vs %d results", len(a), len(b))
	}
	for i := range a {
		if !bytes.Equal(a[i].Result, b[i].Result) || !bytes.Equal(a[i].MemorySHA256, b[i].MemorySHA256) || !bytes.Equal(a[i].Attestation, b[i].Attestation) {
			t.Fatalf("slot %d differs between the resumed and the uninterrupted run:\n%s\n%s", i, a[i].Result, b[i].Result)
		}
	}
	if !bytes.Equal(resumed.get("/state/"+pid).body, straight.get("/state/"+pid).body) {
		t.Fatal("final memory differs")
	}
	return resumed, pid, ids
}

type fakeInput struct {
	data string
	tags []Tag
}

func TestAOSRestartMatchesUninterrupted(t *testing.T) {
	wasm := aosWasm(t)
	if testing.Short() || raceEnabled {
		t.Skip("runs aos (skipped with -short and under -race: see raceEnabled)")
	}
	eval := []Tag{{Name: "Action", Value: "Eval"}}
	msgs := []fakeInput{{"Counter = 0\nreturn 'ready'", eval}}
	for i := range 8 {
		code := "Counter = Counter + 1\nreturn Counter"
		if i == 3 {
			code = "error('boom')"
		}
		msgs = append(msgs, fakeInput{code, eval})
	}
	msgs = append(msgs, fakeInput{`Send({Target = "abc", Action = "Ping", Data = "hi"})`, eval})
	// One engine for every CU of the test: it caches the compiled aos.
	h, pid, ids := restartComparison(t, emscriptenRuntimes(t), module.Emscripten2, wasm, aosTags, msgs, 5)
	defer h.close()
	var res map[string]json.RawMessage
	last := h.get("/result/" + ids[len(ids)-1] + "?process-id=" + pid)
	last.json(t, &res)
	if !strings.Contains(string(res["Messages"]), `"Target":"abc"`) || !strings.Contains(string(res["Messages"]), `{"name":"Action","value":"Ping"}`) {
		t.Fatalf("aos outbox: %s", last.body)
	}
	if boom := h.get("/result/" + ids[4] + "?process-id=" + pid); !strings.Contains(string(boom.body), "boom") {
		t.Fatalf("aos error result: %s", boom.body)
	}
	if count := h.get("/result/" + ids[8] + "?process-id=" + pid); !strings.Contains(string(count.body), `"output":7`) {
		t.Fatalf("aos counter after an error: %s", count.body)
	}
}
