package cu

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"testing"

	"github.com/aonode/aonode/cu/memhash"
	"github.com/aonode/aonode/cu/module"
	"github.com/aonode/aonode/dataitem/aoapi"
)

// TestAOSMemoryRootMatchesFullHash runs a real aos session through the CU and checks, after
// every message, the attestation's Memory-Root (kept incrementally, only changed pages
// re-hashed) against the root computed from scratch over the memory GET /state serves, and
// that a dry-run-free /state is the memory the attestation names.
func TestAOSMemoryRootMatchesFullHash(t *testing.T) {
	wasm := aosWasm(t)
	if testing.Short() || raceEnabled {
		t.Skip("runs aos (skipped with -short and under -race: see raceEnabled)")
	}
	h := &harness{t: t, su: newFakeSU(t), gw: newFakeGateway(t), rt: &fakeRuntime{}, opts: func(c *Config) {
		c.Runtimes = emscriptenRuntimes(t)
		c.CheckpointEvery = 4 // restores in between re-seed the tree from a checkpoint
	}}
	h.db = openStore(t, "")
	t.Cleanup(func() { _ = h.db.Close() })
	h.start()
	defer h.close()
	mod := h.gw.addModule(wasm, moduleTags(string(module.Emscripten2), aosTags...))
	pid := h.su.addProcess(mod, false)
	owner := h.su.processOwner(pid)
	eval := Tag{Name: "Action", Value: "Eval"}
	var prevRoot string
	for i := range 12 {
		code := fmt.Sprintf("T = T or {}\nfor k = 1, %d do T[#T + 1] = string.rep('x', 1000) end\nreturn #T", 50*(i+1))
		if i == 5 {
			code = "error('boom')" // the memory stays the one before
		}
		id := h.su.addMessageBy(pid, owner, 1000, code, eval)
		r := h.get("/result/" + id + "?process-id=" + pid)
		wantStatus(t, r, 200, "")
		raw, err := base64.RawURLEncoding.DecodeString(r.header.Get(HeaderAttestation))
		if err != nil {
			t.Fatal(err)
		}
		att, err := aoapi.ParseAttestation(raw)
		if err != nil {
			t.Fatal(err)
		}
		st := h.get("/state/" + pid)
		wantStatus(t, st, 200, "")
		full := memhash.Root(st.body)
		if att.Format != 2 || hex.EncodeToString(att.Memory) != hex.EncodeToString(full[:]) {
			t.Fatalf("message %d: Memory-Root %x, the memory served hashes to %x", i, att.Memory, full)
		}
		root := hex.EncodeToString(att.Memory)
		if (i == 5) != (root == prevRoot) {
			t.Fatalf("message %d: root changed %v", i, root != prevRoot)
		}
		prevRoot = root
		if i == 6 {
			// A restart: the tree is rebuilt from the checkpoint's memory.
			h.stop()
			h.start()
		}
	}
	st := h.get("/state/" + pid)
	t.Logf("aos memory %d bytes, SHA-256 %x", len(st.body), sha256.Sum256(st.body))
}
