package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/aonode/aonode/node/fixtures"
)

// evalShared returns ../shared beside the repository root: skipped where absent, failed under CI=true.
func evalShared(t *testing.T) string {
	t.Helper()
	fixtures.Path(t, "fixtures", "wasm", "emscripten.wasm")
	return fixtures.Dir(t)
}

type evalVector struct {
	Env      json.RawMessage              `json:"env"`
	Messages []json.RawMessage            `json:"messages"`
	Expected []map[string]json.RawMessage `json:"expected"`
}

func runEvalCmd(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	// No compilation cache unless a test names one: tests must not write to the user's.
	code := runMain(context.Background(), append([]string{"eval", "--cache-dir="}, args...), &out, &errb)
	return code, out.String(), errb.String()
}

func writeSession(t *testing.T, dir, name string, v evalVector, from, to int) string {
	t.Helper()
	b, err := json.Marshal(map[string]any{"env": v.Env, "messages": v.Messages[from:to]})
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestEvalMatchesVectors runs reference sessions through the command — the format-1 test
// process and the 64-bit aos (wasm64) — in two halves joined by --save-memory/--memory, and
// checks every line against the reference.
func TestEvalMatchesVectors(t *testing.T) {
	shared := evalShared(t)
	cases := []struct{ vector, module, format string }{
		{"aoloader/emscripten.json", "emscripten.wasm", "wasm32-unknown-emscripten"},
		{"aoloader64/aos64-basic.json", "wasm64-emscripten.wasm", "wasm64-unknown-emscripten-draft_2024_02_15"},
	}
	for _, c := range cases {
		t.Run(c.format, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join(shared, "vectors", c.vector))
			if err != nil {
				t.Skip(err)
			}
			var v evalVector
			if err := json.Unmarshal(raw, &v); err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			wasm := filepath.Join(shared, "fixtures", "wasm", c.module)
			mem := filepath.Join(dir, "mem.bin")
			split := 3
			code, out1, stderr := runEvalCmd(t, "--module", wasm, "--format", c.format,
				"--compute-limit", "9000000000000", "--save-memory", mem, writeSession(t, dir, "a.json", v, 0, split))
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			code, out2, stderr := runEvalCmd(t, "--module", wasm, "--format", c.format,
				"--compute-limit", "9000000000000", "--memory", mem, writeSession(t, dir, "b.json", v, split, len(v.Messages)))
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			checkEvalLines(t, strings.Split(strings.TrimSuffix(out1+out2, "\n"), "\n"), v.Expected)
			if _, err := os.Stat(mem); err != nil {
				t.Errorf("memory not saved: %v", err)
			}
		})
	}
}

// TestEvalCompilationCache runs one session three times on one cache directory, twice at
// once on a fresh one and once on the filled one: every run prints the reference lines, and
// the directory holds the module's compiled code afterwards.
func TestEvalCompilationCache(t *testing.T) {
	shared := evalShared(t)
	raw, err := os.ReadFile(filepath.Join(shared, "vectors", "aoloader", "emscripten.json"))
	if err != nil {
		t.Fatal(err)
	}
	var v evalVector
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cache := filepath.Join(dir, "cache")
	sess := writeSession(t, dir, "s.json", v, 0, len(v.Messages))
	args := []string{"--cache-dir", cache, "--module", filepath.Join(shared, "fixtures", "wasm", "emscripten.wasm"),
		"--format", "wasm32-unknown-emscripten", "--compute-limit", "9000000000000", sess}
	outs := make([]string, 3)
	var wg sync.WaitGroup
	for i := range 2 {
		wg.Go(func() {
			code, out, stderr := runEvalCmd(t, args...)
			if code != 0 {
				t.Errorf("exit %d: %s", code, stderr)
			}
			outs[i] = out
		})
	}
	wg.Wait()
	entries := func() []string {
		e, _ := filepath.Glob(filepath.Join(cache, "wazero-*", "*"))
		return e
	}
	filled := entries()
	code, out, stderr := runEvalCmd(t, args...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	outs[2] = out
	for _, out := range outs {
		checkEvalLines(t, strings.Split(strings.TrimSuffix(out, "\n"), "\n"), v.Expected)
	}
	// The module and, for a metered one, the metering module of cu/emscripten/meter.go;
	// the warm run compiles nothing new.
	if len(filled) == 0 || len(filled) > 2 || len(entries()) != len(filled) {
		t.Errorf("cache holds %v after the first runs and %v after the warm one", filled, entries())
	}
}

func checkEvalLines(t *testing.T, lines []string, expected []map[string]json.RawMessage) {
	t.Helper()
	if len(lines) != len(expected) {
		t.Fatalf("%d lines, want %d", len(lines), len(expected))
	}
	for i, line := range lines {
		var got map[string]json.RawMessage
		if err := json.Unmarshal([]byte(line), &got); err != nil {
			t.Fatalf("line %d: %v: %s", i, err, line)
		}
		for _, key := range []string{"Output", "Error", "GasUsed", "MemorySize", "MemorySha256", "Threw"} {
			want, ok := expected[i][key]
			if !ok {
				if _, has := got[key]; has && key != "MemorySize" && key != "MemorySha256" {
					t.Errorf("line %d: %s present, want absent", i, key)
				}
				continue
			}
			var a, b any
			_ = json.Unmarshal(got[key], &a)
			_ = json.Unmarshal(want, &b)
			if !jsonEqual(a, b) {
				t.Errorf("line %d: %s = %s, want %s", i, key, got[key], want)
			}
		}
	}
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}

func TestEvalErrors(t *testing.T) {
	shared := evalShared(t)
	dir := t.TempDir()
	wasm := filepath.Join(shared, "fixtures", "wasm", "emscripten.wasm")
	sess := filepath.Join(dir, "s.json")
	if err := os.WriteFile(sess, []byte(`{"env":{},"messages":[]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte(`{"messages":[{"a":1,}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"no module", []string{"--format", "wasm32-unknown-emscripten", sess}, 2, "--module"},
		{"no format", []string{"--module", wasm, sess}, 2, "--format"},
		{"no session", []string{"--module", wasm, "--format", "wasm32-unknown-emscripten"}, 2, "SESSION.json"},
		{"wasm64 metering", []string{"--module", wasm, "--format", "wasm64-unknown-emscripten-draft_2024_10_16-metering", sess}, 1, "unsupported module format"},
		{"32-bit module as wasm64", []string{"--module", wasm, "--format", "wasm64-unknown-emscripten-draft_2024_02_15", sess}, 1, "no 64-bit memory"},
		{"wrong format", []string{"--module", wasm, "--format", "wasm32-unknown-emscripten2", sess}, 1, "does not match its format"},
		{"bad session", []string{"--module", wasm, "--format", "wasm32-unknown-emscripten", bad}, 1, "bad.json"},
		{"missing memory", []string{"--module", wasm, "--format", "wasm32-unknown-emscripten", "--memory", filepath.Join(dir, "nope"), sess}, 1, "nope"},
		{"nothing to save", []string{"--module", wasm, "--format", "wasm32-unknown-emscripten", "--save-memory", filepath.Join(dir, "m"), sess}, 1, "no memory"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, _, stderr := runEvalCmd(t, c.args...)
			if code != c.code || !strings.Contains(stderr, c.stderr) {
				t.Errorf("exit %d, stderr %q; want %d containing %q", code, stderr, c.code, c.stderr)
			}
		})
	}
}
