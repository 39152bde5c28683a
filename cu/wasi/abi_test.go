package wasi

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// tinyModule describes a hand-assembled module for ABI edge cases that a Go guest cannot
// produce: its aonode_handle returns a fixed (pointer, length) into a data segment.
type tinyModule struct {
	result      string // bytes placed at resultAt
	resultPtr   uint32 // pointer aonode_handle returns; resultAt when 0
	resultLen   uint32 // length aonode_handle returns; len(result) when 0
	allocRet    int32  // value aonode_alloc returns
	handleType  []byte // params of aonode_handle; 4 x i32 when nil
	extraImport bool   // import env.f, which the format does not provide
	exportStart bool   // export a _start function
	memMin      uint32 // initial pages; 1 when 0
	memMax      uint32 // declared maximum pages, none when 0
	skipHandle  bool   // omit aonode_handle
	global      bool   // define a mutable i32 global (exported to snapshots by Compile)
	exportInit  bool   // export the void function as _initialize
}

const resultAt = 4096

func (tm tinyModule) bytes() []byte {
	sec := func(id byte, body []byte) []byte {
		return append(append([]byte{id}, appendU32(nil, uint32(len(body)))...), body...)
	}
	vec := func(items ...[]byte) []byte {
		out := appendU32(nil, uint32(len(items)))
		for _, it := range items {
			out = append(out, it...)
		}
		return out
	}
	name := func(s string) []byte { return append(appendU32(nil, uint32(len(s))), s...) }

	handleParams := tm.handleType
	if handleParams == nil {
		handleParams = []byte{valI32, valI32, valI32, valI32}
	}
	types := vec(
		append(append([]byte{0x60}, vec([]byte{valI32})...), vec([]byte{valI32})...),              // 0: alloc
		append(append([]byte{0x60}, vec(splitBytes(handleParams)...)...), vec([]byte{valI64})...), // 1: handle
		[]byte{0x60, 0x00, 0x00}, // 2: () -> ()
	)
	out := []byte("\x00asm\x01\x00\x00\x00")
	out = append(out, sec(1, types)...)
	if tm.extraImport {
		out = append(out, sec(2, vec(append(append(name("env"), name("f")...), kindFunc, 2)))...)
	}
	funcs := [][]byte{{0}, {1}, {2}}
	out = append(out, sec(3, vec(funcs...))...)
	limits := []byte{0x00}
	min := tm.memMin
	if min == 0 {
		min = 1
	}
	limits = appendU32(limits, min)
	if tm.memMax != 0 {
		limits[0] = 0x01
		limits = appendU32(limits, tm.memMax)
	}
	out = append(out, sec(5, vec(limits))...)
	if tm.global {
		out = append(out, sec(6, vec([]byte{valI32, 0x01, 0x41, 0x07, 0x0b}))...)
	}
	fn := func(i uint32) []byte { return appendU32(nil, i) }
	base := uint32(0)
	if tm.extraImport {
		base = 1
	}
	exports := [][]byte{
		append(append(name("memory"), kindMemory), fn(0)...),
		append(append(name("aonode_alloc"), kindFunc), fn(base)...),
	}
	if !tm.skipHandle {
		exports = append(exports, append(append(name("aonode_handle"), kindFunc), fn(base+1)...))
	}
	if tm.exportStart {
		exports = append(exports, append(append(name("_start"), kindFunc), fn(base+2)...))
	}
	if tm.exportInit {
		exports = append(exports, append(append(name("_initialize"), kindFunc), fn(base+2)...))
	}
	out = append(out, sec(7, vec(exports...))...)

	ptr, n := tm.resultPtr, tm.resultLen
	if ptr == 0 {
		ptr = resultAt
	}
	if n == 0 {
		n = uint32(len(tm.result))
	}
	allocBody := append(appendS64([]byte{0x00, 0x41}, int64(tm.allocRet)), 0x0b)
	handleBody := append(appendS64([]byte{0x00, 0x42}, int64(uint64(ptr)<<32|uint64(n))), 0x0b)
	voidBody := []byte{0x00, 0x0b}
	if tm.global {
		// global.set 0 (i32.const 9): the value must survive in snapshots.
		voidBody = []byte{0x00, 0x41, 0x09, 0x24, 0x00, 0x0b}
	}
	if len(handleParams) != 4 {
		handleBody = []byte{0x00, 0x42, 0x00, 0x0b}
	}
	body := func(b []byte) []byte { return append(appendU32(nil, uint32(len(b))), b...) }
	out = append(out, sec(10, vec(body(allocBody), body(handleBody), body(voidBody)))...)
	seg := append([]byte{0x00, 0x41}, appendS64(nil, resultAt)...)
	seg = append(seg, 0x0b)
	seg = append(seg, name(tm.result)...)
	out = append(out, sec(11, vec(seg))...)
	return out
}

func splitBytes(b []byte) [][]byte {
	out := make([][]byte, len(b))
	for i := range b {
		out[i] = b[i : i+1]
	}
	return out
}

func appendS64(b []byte, v int64) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if (v == 0 && c&0x40 == 0) || (v == -1 && c&0x40 != 0) {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}

func TestCompileRejects(t *testing.T) {
	for name, tc := range map[string]struct {
		wasm []byte
		opts Options
		want error
		text string
	}{
		"not wasm":        {wasm: []byte("hello"), want: ErrInvalidModule},
		"truncated":       {wasm: tinyModule{result: "{}"}.bytes()[:40], want: ErrInvalidModule},
		"no handle":       {wasm: tinyModule{skipHandle: true}.bytes(), want: ErrInvalidModule, text: "aonode_handle"},
		"handle type":     {wasm: tinyModule{handleType: []byte{valI32}}.bytes(), want: ErrInvalidModule, text: "want (i32,i32,i32,i32) -> (i64)"},
		"foreign import":  {wasm: tinyModule{extraImport: true}.bytes(), want: ErrInvalidModule, text: "env.f"},
		"command":         {wasm: tinyModule{exportStart: true}.bytes(), want: ErrInvalidModule, text: "reactor"},
		"min over limit":  {wasm: tinyModule{memMin: 20}.bytes(), opts: Options{MemoryLimitBytes: 16 * pageSize}, want: ErrMemoryLimit},
		"max over limit":  {wasm: tinyModule{memMax: 20}.bytes(), opts: Options{MemoryLimitBytes: 16 * pageSize}, want: ErrMemoryLimit},
		"limit too small": {wasm: tinyModule{}.bytes(), opts: Options{MemoryLimitBytes: 100}, want: ErrMemoryLimit},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Compile(context.Background(), tc.wasm, tc.opts)
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.text) {
				t.Fatalf("Compile = %v, want %v containing %q", err, tc.want, tc.text)
			}
		})
	}
}

func TestMalformedResults(t *testing.T) {
	for name, tc := range map[string]struct {
		mod  tinyModule
		want string // Error text
	}{
		"not json":         {tinyModule{result: "hello", allocRet: 64}, "invalid result: not a JSON object"},
		"bad json":         {tinyModule{result: `{"Output":`, allocRet: 64}, "invalid result: unexpected end of JSON input"},
		"messages object":  {tinyModule{result: `{"Messages":{}}`, allocRet: 64}, "invalid result: Messages is not an array"},
		"outside memory":   {tinyModule{result: "{}", resultPtr: pageSize - 1, resultLen: 2, allocRet: 64}, "result [0xffff, +2) is outside memory"},
		"too large":        {tinyModule{result: "{}", resultLen: 1 << 30, allocRet: 64}, "exceeds the limit"},
		"alloc null":       {tinyModule{result: "{}"}, "aonode_alloc(44) for the message returned 0"},
		"alloc out of mem": {tinyModule{result: "{}", allocRet: pageSize - 10}, "outside memory"},
	} {
		t.Run(name, func(t *testing.T) {
			inst := instantiate(t, compile(t, tc.mod.bytes(), Options{}), nil)
			res, err := inst.Handle(context.Background(), []byte(`{"Id":"x","Timestamp":5,"Data":"0123456789"}`), []byte(`{}`))
			if err != nil {
				t.Fatal(err)
			}
			if !res.Threw {
				t.Fatalf("Threw = false for %s", res.Error)
			}
			if got := errorText(t, res); !strings.Contains(got, tc.want) {
				t.Fatalf("Error = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestResultFields(t *testing.T) {
	raw := `{"Output":{"a": 1},"Messages":[{"Target":"x"}],"Spawns":[],"Assignments":null,"Error":null,"Unknown":5}`
	inst := instantiate(t, compile(t, tinyModule{result: raw, allocRet: 64}.bytes(), Options{}), nil)
	res, err := inst.Handle(context.Background(), []byte(`{}`), []byte(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	if string(res.Output) != `{"a": 1}` || string(res.Messages) != `[{"Target":"x"}]` || string(res.Spawns) != `[]` ||
		res.Assignments != nil || res.Error != nil || string(res.Patches) != `[]` || res.Threw || res.GasUsed != 0 {
		t.Fatalf("result = %+v", res)
	}
}

func TestGlobalsAreSnapshotted(t *testing.T) {
	// _initialize sets the global to 9; it is declared as 7.
	m := compile(t, tinyModule{result: "{}", allocRet: 64, global: true, exportInit: true}.bytes(), Options{})
	if len(m.globals) != 1 {
		t.Fatalf("globals = %v, want one", m.globals)
	}
	a := instantiate(t, m, nil)
	if got := a.globals[0].Get(); got != 9 {
		t.Fatalf("global after _initialize = %d, want 9", got)
	}
	b := instantiate(t, m, a.Snapshot())
	if got := b.globals[0].Get(); got != 9 {
		t.Fatalf("restored global = %d, want 9 (not the declared 7)", got)
	}
}
