package wasi

import (
	"bytes"
	"testing"
)

// FuzzExportMutableGlobals feeds arbitrary module bytes (modules come from the network) to
// the binary rewriter: it must never panic, and what it accepts must keep its exports.
func FuzzExportMutableGlobals(f *testing.F) {
	f.Add(tinyModule{result: "{}", global: true, exportInit: true}.bytes())
	f.Add(tinyModule{result: "{}", extraImport: true, memMax: 3}.bytes())
	f.Add([]byte("\x00asm\x01\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, wasm []byte) {
		out, globals, err := exportMutableGlobals(wasm)
		if err != nil {
			return
		}
		_, _, _, _ = memoryLimits(wasm)
		if len(out) < len(wasm) || !bytes.Equal(out[:8], wasm[:8]) {
			t.Fatalf("rewritten module lost bytes: %d -> %d", len(wasm), len(out))
		}
		if _, again, err := exportMutableGlobals(out); err == nil && len(globals) > 0 {
			t.Fatalf("re-rewriting a module with exported globals succeeded (%d globals)", len(again))
		}
	})
}

// FuzzParseResult: a module's result is untrusted.
func FuzzParseResult(f *testing.F) {
	f.Add([]byte(`{"Output":"x","Messages":[],"Error":null}`))
	f.Add([]byte(`{"Messages":{}}`))
	f.Add([]byte(` [1,2]`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		res, err := parseResult(raw)
		if err != nil {
			return
		}
		for _, v := range [][]byte{res.Messages, res.Spawns, res.Assignments, res.Patches} {
			if v != nil && v[0] != '[' {
				t.Fatalf("accepted a non-array: %s", v)
			}
		}
	})
}

// FuzzParseInput: msg and env come from the SU and from dry-run bodies.
func FuzzParseInput(f *testing.F) {
	f.Add([]byte(`{"Id":"a","Timestamp":1700000000000}`), []byte(`{"Process":{"Id":"p"}}`))
	f.Add([]byte(`{"Timestamp":"12"}`), []byte(`{}`))
	f.Add([]byte(`{"Timestamp":-5}`), []byte(`[]`))
	f.Fuzz(func(t *testing.T, msg, env []byte) {
		in, err := parseInput(msg, env)
		if err == nil && (in.timestampMs < 0 || in.timestampMs > maxTimestampMs) {
			t.Fatalf("accepted timestamp %d", in.timestampMs)
		}
	})
}

// FuzzDecodeSnapshot: snapshots come from checkpoints other nodes publish.
func FuzzDecodeSnapshot(f *testing.F) {
	m := &Module{globals: make([]mutableGlobal, 2), limitPages: 4}
	good := append(make([]byte, pageSize+16), 2, 0, 0, 0)
	f.Add(append(good, snapshotMagic...))
	f.Add([]byte(snapshotMagic))
	f.Fuzz(func(t *testing.T, s []byte) {
		memLen, globals, err := m.decodeSnapshot(s)
		if err != nil {
			return
		}
		if memLen%pageSize != 0 || memLen/pageSize > 4 || len(globals) != 2 {
			t.Fatalf("accepted memLen %d with %d globals", memLen, len(globals))
		}
	})
}
