package cu

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/aonode/aonode/cu/module"
	"github.com/aonode/aonode/node/fixtures"
)

// TestAOS64RestartMatchesUninterrupted spawns a process of today's 64-bit aos
// (wasm64-unknown-emscripten-draft_2024_02_15) on the CU, end to end: results through the
// HTTP API, an error keeping the memory, the outbox, and a restart from a checkpoint that
// gives the same results, attestations and memory as an uninterrupted run.
func TestAOS64RestartMatchesUninterrupted(t *testing.T) {
	wasm := fixtures.Read(t, "fixtures", "wasm", "wasm64-emscripten.wasm")
	if testing.Short() || raceEnabled {
		t.Skip("runs aos64 (skipped with -short and under -race: see raceEnabled)")
	}
	em, err := NewEmscriptenRuntime(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = em.Close(context.Background()) })
	rts := map[module.Format]Runtime{module.Wasm64: em}
	eval := []Tag{{Name: "Action", Value: "Eval"}}
	msgs := []fakeInput{
		{"Counter = 0\nreturn 'ready'", eval},
		{"Counter = Counter + 1\nreturn Counter", eval},
		{"error('boom')", eval},
		{"Counter = Counter + 1\nreturn Counter", eval},
		{`Send({Target = "abc", Action = "Ping", Data = "hi"})`, eval},
	}
	h, pid, ids := restartComparison(t, rts, module.Wasm64, wasm, aosTags, msgs, 1)
	defer h.close()
	var res map[string]json.RawMessage
	last := h.get("/result/" + ids[len(ids)-1] + "?process-id=" + pid)
	last.json(t, &res)
	if !strings.Contains(string(res["Messages"]), `"Target":"abc"`) || !strings.Contains(string(res["Messages"]), `{"name":"Action","value":"Ping"}`) {
		t.Fatalf("aos64 outbox: %s", last.body)
	}
	if boom := h.get("/result/" + ids[2] + "?process-id=" + pid); !strings.Contains(string(boom.body), "boom") {
		t.Fatalf("aos64 error result: %s", boom.body)
	}
	if count := h.get("/result/" + ids[3] + "?process-id=" + pid); !strings.Contains(string(count.body), `"data":"2"`) {
		t.Fatalf("aos64 counter after an error: %s", count.body)
	}
}
