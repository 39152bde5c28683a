package emscripten

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/aonode/aonode/cu/module"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if sharedEngine != nil {
		_ = sharedEngine.Close(context.Background())
	}
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

var (
	sharedEngineOnce sync.Once
	sharedEngine     *Engine
	sharedEngineErr  error
)

// newEngine returns one engine for the whole test binary, so that each fixture is compiled
// once (compilation dominates test time under -race). Its machine code is also kept in a
// cache directory under the system temp dir, which only speeds up later runs.
func newEngine(t testing.TB) *Engine {
	t.Helper()
	sharedEngineOnce.Do(func() {
		sharedEngine, sharedEngineErr = NewEngine(context.Background(), EngineConfig{CacheDir: filepath.Join(os.TempDir(), "aonode-emscripten-test-cache")})
	})
	if sharedEngineErr != nil {
		t.Fatal(sharedEngineErr)
	}
	return sharedEngine
}

func fixture(t testing.TB, name string) []byte {
	t.Helper()
	return readModule(t, sharedDir(t), name)
}

func TestUnsupportedFormats(t *testing.T) {
	eng := newEngine(t)
	for _, f := range []module.Format{module.Wasm64Metering, module.EmscriptenMetering, "", "wasm32-wasi", module.WASI, "wasm64-unknown-emscripten"} {
		_, err := eng.Compile(context.Background(), []byte("\x00asm\x01\x00\x00\x00"), Options{Format: f})
		if !errors.Is(err, ErrUnsupportedFormat) || !strings.Contains(err.Error(), "unsupported module format") {
			t.Errorf("Compile(%q) error = %v, want ErrUnsupportedFormat", f, err)
		}
	}
}

func TestIncompatibleModules(t *testing.T) {
	eng := newEngine(t)
	ctx := context.Background()
	if _, err := eng.Compile(ctx, []byte("not wasm"), Options{Format: module.Emscripten}); err == nil {
		t.Error("garbage compiled")
	}
	cases := []struct {
		file   string
		format module.Format
	}{
		{"aos.wasm", module.Emscripten},         // env.* imports, format 1 provides a.*
		{"emscripten.wasm", module.Emscripten2}, // a.* imports
		{"aos.wasm", module.Emscripten3},        // emscripten_memcpy_big is not in the newer glue
		{"emscripten4.wasm", module.Emscripten2},
	}
	for _, c := range cases {
		if _, err := eng.Compile(ctx, fixture(t, c.file), Options{Format: c.format}); !errors.Is(err, ErrIncompatibleModule) {
			t.Errorf("%s as %s: error = %v, want ErrIncompatibleModule", c.file, c.format, err)
		}
	}
}

// TestHeapGrowthRule checks emscripten_resize_heap's rule: 1.2× the old size, capped at
// request+96 MiB, aligned to 64 KiB, retried at 1.1× and 1.05×, never beyond the heap max.
func TestHeapGrowthRule(t *testing.T) {
	eng := newEngine(t)
	ctx := context.Background()
	wasm := fixture(t, "emscripten2.wasm") // 6 MiB after its cold start
	cases := []struct {
		limit, req, want uint64
		ok               bool
	}{
		{0, 6295552, 7602176, true},       // observed in the reference: 6 MiB → 7.25 MiB
		{0, 200 << 20, 200 << 20, true},   // request dominates 1.2×
		{0, 524288001, 0, false},          // above getHeapMax()
		{8 << 20, 9 << 20, 0, false},      // above Options.MemoryLimit
		{7 << 20, 6295552, 7 << 20, true}, // 1.2× clipped to the limit
	}
	for _, c := range cases {
		mod, err := eng.Compile(ctx, wasm, Options{Format: module.Emscripten2, MemoryLimit: c.limit})
		if err != nil {
			t.Fatal(err)
		}
		in, err := mod.Instantiate(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		before := uint64(in.mem.Size())
		if before > c.req && c.ok {
			t.Fatalf("cold memory %d already above request %d", before, c.req)
		}
		got := in.growForRequest(c.req)
		size := uint64(in.mem.Size())
		switch {
		case got != c.ok:
			t.Errorf("limit %d req %d: grow = %v, want %v", c.limit, c.req, got, c.ok)
		case c.ok && size != c.want:
			t.Errorf("limit %d req %d: size %d, want %d", c.limit, c.req, size, c.want)
		case !c.ok && size != before:
			t.Errorf("failed growth changed the size from %d to %d", before, size)
		}
		_ = in.Close(ctx)
	}
}

func TestHandleRejectsBadInput(t *testing.T) {
	eng := newEngine(t)
	ctx := context.Background()
	mod, err := eng.Compile(ctx, fixture(t, "emscripten.wasm"), Options{Format: module.Emscripten})
	if err != nil {
		t.Fatal(err)
	}
	in, err := mod.Instantiate(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close(ctx)
	env := []byte(`{"Process":{"Id":"p","Tags":[]}}`)
	if _, err := in.Handle(ctx, []byte("{\"Data\":\"\xff\"}"), env); !errors.Is(err, ErrInvalidMessage) {
		t.Errorf("invalid UTF-8: error = %v", err)
	}
	huge := []byte(`{"Data":"` + strings.Repeat("x", 8<<20) + `"}`)
	if res, err := in.Handle(ctx, huge, env); err != nil || !res.Threw || string(res.Error) != `"memory access out of bounds"` {
		t.Errorf("message larger than the stack: %+v, %v", res, err)
	}
	if _, err := in.Handle(ctx, make([]byte, MaxMessageBytes+1), env); !errors.Is(err, ErrInvalidMessage) {
		t.Errorf("message above MaxMessageBytes: error = %v", err)
	}
	res, err := in.Handle(ctx, []byte(`{"Owner":"tom","Target":"FOO","Tags":[{"name":"Action","value":"echo"}],"Data":"still fine"}`), env)
	if err != nil || string(res.Output) != `"still fine"` {
		t.Errorf("after rejected input: %s, %v", res.Output, err)
	}
	if _, err := mod.Instantiate(ctx, make([]byte, 600<<20)); err == nil {
		t.Error("memory above the heap maximum was accepted")
	}
}

func TestCancelStopsRunawayModule(t *testing.T) {
	eng := newEngine(t)
	mod, err := eng.Compile(context.Background(), fixture(t, "emscripten.wasm"), Options{Format: module.Emscripten})
	if err != nil {
		t.Fatal(err)
	}
	in, err := mod.Instantiate(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close(context.Background())
	// Action foo loops until the gas runs out; the default limit (9e15) would take days.
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err = in.Handle(ctx, []byte(`{"Owner":"tom","Target":"FOO","Tags":[{"name":"Action","value":"foo"}],"Data":""}`), []byte(`{"Process":{"Id":"p","Tags":[]}}`))
	if !errors.Is(err, ErrClosed) {
		t.Fatalf("error = %v, want ErrClosed", err)
	}
	if _, err := in.Handle(context.Background(), []byte(`{}`), []byte(`{}`)); !errors.Is(err, ErrClosed) {
		t.Errorf("closed instance: error = %v", err)
	}
}

func TestDecodeUTF8JS(t *testing.T) {
	cases := map[string]string{
		"plain":            "plain",
		"a\xffb":           "a\uFFFDb",
		"\xe2\x82":         "\uFFFD", // truncated sequence: one replacement
		"\xe2\x82x":        "\uFFFDx",
		"\xed\xa0\x80":     "\uFFFD\uFFFD\uFFFD", // surrogate encodings are three errors
		"\xf0\x9f\x98\x80": "😀",
		"\xc0\xaf":         "\uFFFD\uFFFD",
	}
	for in, want := range cases {
		if got := decodeUTF8JS([]byte(in)); got != want {
			t.Errorf("decodeUTF8JS(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestStrftimeRules(t *testing.T) {
	epoch := tmFields{mday: 1, mon: 0, year: 70, wday: 4, yday: 0}
	cases := map[string]string{"%Y": "1970", "%m": "01", "%d": "01", "%a": "Thu", "%B": "January", "%j": "001",
		"%U": "00", "%W": "00", "%V": "01", "%G": "1970", "%g": "70", "%y": "70", "%u": "4", "%e": " 1",
		"%I": "12", "%p": "AM", "%z": "+0000", "%C": "19", "%H": "00"}
	for rule, want := range cases {
		if got := expand(rule, epoch); got != want {
			t.Errorf("expand(%s) = %q, want %q", rule, got, want)
		}
	}
	// 2021-01-01 was a Friday in ISO week 53 of 2020.
	d := tmFields{mday: 1, mon: 0, year: 121, wday: 5, yday: 0}
	if got := expand("%V", d); got != "53" {
		t.Errorf("%%V for 2021-01-01 = %s, want 53", got)
	}
	if got := expand("%G", d); got != "2020" {
		t.Errorf("%%G for 2021-01-01 = %s, want 2020", got)
	}
}

func TestFormatErrorText(t *testing.T) {
	for _, f := range []module.Format{module.Wasm64Metering, module.EmscriptenMetering} {
		err := error(&FormatError{Format: string(f)})
		if !strings.Contains(err.Error(), "wasm-metering") || !errors.Is(err, ErrUnsupportedFormat) {
			t.Errorf("unexpected %v", err)
		}
	}
}

// TestSharedDirLayout guards the path the tests compute, so a moved fixture fails loudly.
func TestSharedDirLayout(t *testing.T) {
	shared := sharedDir(t)
	if _, err := os.Stat(filepath.Join(shared, "fixtures", "wasm", "inventory.json")); err != nil {
		t.Errorf("inventory missing: %v", err)
	}
}

// TestMakeDay checks mktime's date arithmetic (V8's MakeDay) against Go's calendar where
// both are defined, and V8's limits where Go would wrap.
func TestMakeDay(t *testing.T) {
	for _, c := range [][3]int{{1970, 0, 1}, {2020, 13, 1}, {2020, -1, 1}, {2000, 1, 29}, {1900, 1, 29}, {-4000, 5, 0}, {275000, 11, 31}, {2024, 0, 400}, {1600, -25, -3}} {
		got, ok := makeDay(float64(c[0]), float64(c[1]), float64(c[2]))
		want := time.Date(c[0], time.Month(c[1]+1), c[2], 0, 0, 0, 0, time.UTC).Unix() / 86400
		if !ok || got != float64(want) {
			t.Errorf("makeDay(%v) = %v %v, want %d", c, got, ok, want)
		}
	}
	for _, c := range [][2]float64{{1e6 + 1, 0}, {-1e6 - 1, 0}, {2000, 1e7 + 1}, {2000, -1e7 - 1}} {
		if _, ok := makeDay(c[0], c[1], 1); ok {
			t.Errorf("makeDay(%v) is a date, want NaN", c)
		}
	}
}
