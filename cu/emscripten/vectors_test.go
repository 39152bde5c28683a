package emscripten

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/aonode/aonode/cu/emscripten/jsjson"
	"github.com/aonode/aonode/cu/module"
	"github.com/aonode/aonode/node/fixtures"
)

// sharedDir is ../shared next to the repository root; skipped where absent, failed under CI=true.
func sharedDir(t testing.TB) string {
	t.Helper()
	fixtures.Path(t, "vectors", "aoloader")
	return fixtures.Dir(t)
}

type vectorSession struct {
	Module              string                       `json:"module"`
	Format              module.Format                `json:"format"`
	ComputeLimit        float64                      `json:"computeLimit"`
	MemoryDeterministic *bool                        `json:"memory_deterministic"`
	Env                 json.RawMessage              `json:"env"`
	Messages            []json.RawMessage            `json:"messages"`
	Expected            []map[string]json.RawMessage `json:"expected"`
	Sessions            []vectorSession              `json:"sessions"`
	Name                string                       `json:"name"`
}

func loadVector(t testing.TB, path string) vectorSession {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var v vectorSession
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return v
}

func readModule(t testing.TB, shared, rel string) []byte {
	t.Helper()
	return fixtures.Read(t, "fixtures", "wasm", filepath.Base(rel))
}

func stringify(t testing.TB, raw json.RawMessage) []byte {
	t.Helper()
	b, err := jsjson.Stringify(raw)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestVectors(t *testing.T) {
	shared := sharedDir(t)
	files, err := filepath.Glob(filepath.Join(shared, "vectors", "aoloader", "*.json"))
	if err != nil || len(files) == 0 {
		if fixtures.Strict() {
			t.Fatalf("CI=true and no vector files under %s", filepath.Join(shared, "vectors", "aoloader"))
		}
		t.Skip("no vector files")
	}
	// The 64-bit aos sessions (wasm64-unknown-emscripten-draft_2024_02_15) sit apart.
	files64, err := filepath.Glob(filepath.Join(fixtures.Path(t, "vectors", "aoloader64"), "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, files64...)
	// testdata/differential holds sessions made the same way for edge cases (files, time
	// formatting, unicode, out-of-gas restarts) that the shared vectors do not cover.
	own, err := filepath.Glob(filepath.Join("testdata", "differential", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, own...)
	// AONODE_EXTRA_VECTORS names a directory of further sessions in the same shape, e.g.
	// made with the reference loader for a differential check.
	if dir := os.Getenv("AONODE_EXTRA_VECTORS"); dir != "" {
		extra, err := filepath.Glob(filepath.Join(dir, "*.json"))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, extra...)
	}
	eng := newEngine(t)
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			t.Parallel() // sessions are independent; the engine is shared and goroutine-safe
			v := loadVector(t, f)
			wasm := readModule(t, shared, v.Module)
			runSession(t, eng, wasm, v, v)
			for i, s := range v.Sessions {
				t.Run("session"+strconv.Itoa(i), func(t *testing.T) { runSession(t, eng, wasm, v, s) })
			}
		})
	}
}

func runSession(t *testing.T, eng *Engine, wasm []byte, top, s vectorSession) {
	ctx := context.Background()
	format := s.Format
	if format == "" {
		format = top.Format
	}
	limit := s.ComputeLimit
	if limit == 0 {
		limit = top.ComputeLimit
	}
	det := true
	if top.MemoryDeterministic != nil {
		det = *top.MemoryDeterministic
	}
	if s.MemoryDeterministic != nil {
		det = *s.MemoryDeterministic
	}
	mod, err := eng.Compile(ctx, wasm, Options{Format: format, ComputeLimit: uint64(limit)})
	if err != nil {
		t.Fatal(err)
	}
	proc := mod.NewProcess(nil)
	defer proc.Close(ctx)
	env := stringify(t, s.Env)
	cut := false
	for i, msg := range s.Messages {
		exp := s.Expected[i]
		cut = cut || (short() && heavy(i, limit, exp))
		t.Run(strconv.Itoa(i), func(t *testing.T) {
			if cut {
				t.Skip("heavy message under -race: run without -race, or set AONODE_SOAK=1")
			}
			res, err := proc.Eval(ctx, stringify(t, msg), env)
			if err != nil {
				t.Fatalf("Eval: %v", err)
			}
			checkResult(t, res, exp)
			mem := proc.Memory()
			if det {
				checkMemory(t, mem, exp)
			}
		})
	}
}

// short reports whether long sessions are cut: only under the race detector, whose
// instrumentation makes the per-block metering host calls slow, and never with AONODE_SOAK=1.
func short() bool { return raceEnabled && os.Getenv("AONODE_SOAK") == "" }

// heavy reports a message past which a -race run stops: beyond the 25th, or one that burns
// more than 2e9 gas (including an out-of-gas throw under a larger limit).
func heavy(i int, limit float64, exp map[string]json.RawMessage) bool {
	const maxGas = 2e9
	if i >= 25 {
		return true
	}
	var gas float64
	if g, ok := exp["GasUsed"]; ok && json.Unmarshal(g, &gas) == nil && gas > maxGas {
		return true
	}
	return string(exp["Error"]) == `"out of gas!"` && limit > maxGas
}

// checkResult compares a result with what the reference loader returned. The vectors hold
// the loader's result as JSON.stringify wrote it, so each field is compared as bytes (after
// dropping the file's indentation): key order, number and string formatting included.
// Patches and ErrorType are compared where a vector records them (hello-world's). Not
// compared: hello-world's Instance and FreshInstance (which instance of the reference's test
// harness ran the message) and ResultMemorySize/ResultMemorySha256 (the memory inside the
// loader's result, which a CU never serves; the memory a CU keeps is MemorySize/MemorySha256,
// checked by checkMemory).
func checkResult(t *testing.T, res module.Result, exp map[string]json.RawMessage) {
	t.Helper()
	threw := exp["Threw"] != nil && string(exp["Threw"]) == "true"
	if res.Threw != threw {
		t.Errorf("Threw = %v, want %v (Error %s)", res.Threw, threw, res.Error)
	}
	for key, got := range map[string]json.RawMessage{"Output": res.Output, "Messages": res.Messages, "Spawns": res.Spawns, "Assignments": res.Assignments, "Error": res.Error, "Patches": res.Patches} {
		want, present := exp[key]
		if !present {
			if got != nil && key != "Patches" { // only hello-world's vectors record Patches
				t.Errorf("%s = %s, want absent", key, got)
			}
			continue
		}
		if !sameBytes(got, want) {
			t.Errorf("%s = %s, want %s", key, got, want)
		}
	}
	if et, ok := exp["ErrorType"]; ok {
		var typ string
		if json.Unmarshal(et, &typ) != nil || typ != jsType(res.Error) {
			t.Errorf("Error %s is a %s, want a %s", res.Error, jsType(res.Error), et)
		}
	}
	if g, ok := exp["GasUsed"]; ok {
		if string(g) != strconv.FormatUint(res.GasUsed, 10) {
			t.Errorf("GasUsed = %d, want %s", res.GasUsed, g)
		}
	}
}

// sameBytes reports whether two JSON texts are the same bytes once insignificant white space
// is dropped.
func sameBytes(a, b json.RawMessage) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	var x, y bytes.Buffer
	if json.Compact(&x, a) != nil || json.Compact(&y, b) != nil {
		return bytes.Equal(a, b)
	}
	return bytes.Equal(x.Bytes(), y.Bytes())
}

// jsType is JavaScript's typeof of a JSON value ("object" for null, arrays and objects).
func jsType(v json.RawMessage) string {
	v = bytes.TrimSpace(v)
	switch {
	case len(v) == 0:
		return "undefined"
	case v[0] == '"':
		return "string"
	case v[0] == 't' || v[0] == 'f':
		return "boolean"
	case v[0] == '{' || v[0] == '[' || v[0] == 'n':
		return "object"
	}
	return "number"
}

func checkMemory(t *testing.T, mem []byte, exp map[string]json.RawMessage) {
	t.Helper()
	wantSize, wantSha := string(exp["MemorySize"]), string(exp["MemorySha256"])
	if wantSize == "" {
		return
	}
	if mem == nil {
		if wantSize != "null" {
			t.Errorf("memory absent, want %s bytes", wantSize)
		}
		return
	}
	sum := sha256.Sum256(mem)
	if got := strconv.Itoa(len(mem)); got != wantSize {
		t.Errorf("MemorySize = %s, want %s", got, wantSize)
	}
	if got := `"` + hex.EncodeToString(sum[:]) + `"`; got != wantSha {
		t.Errorf("MemorySha256 = %s, want %s", got, wantSha)
	}
}
