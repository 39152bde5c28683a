package wasmcheck

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/aonode/aonode/node/fixtures"
)

const header = "\x00asm\x01\x00\x00\x00"

func leb(v uint64) []byte {
	var b []byte
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if v == 0 {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}

// sec is one section: id, size, body.
func sec(id byte, body ...[]byte) []byte {
	var b []byte
	for _, p := range body {
		b = append(b, p...)
	}
	return append(append([]byte{id}, leb(uint64(len(b)))...), b...)
}

func module(sections ...[]byte) []byte {
	b := []byte(header)
	for _, s := range sections {
		b = append(b, s...)
	}
	return b
}

// valid is a small module with every section Check reads: it must pass, and compile.
func valid() []byte {
	return module(
		sec(1, []byte{1, 0x60, 1, 0x7f, 1, 0x7f}),
		sec(2, []byte{1, 3}, []byte("env"), []byte{1, 'f', 0, 0}),
		sec(3, []byte{1, 0}),
		sec(4, []byte{1, 0x70, 0, 1}),
		sec(5, []byte{1, 1, 1, 2}),
		sec(6, []byte{1, 0x7f, 0, 0x41, 5, 0x0b}),
		sec(7, []byte{2, 1, 'g', 0, 1, 3, 'm', 'e', 'm', 2, 0}),
		sec(9, []byte{2, 0, 0x41, 0, 0x0b, 1, 1, 5, 0x70, 1, 0xd2, 0, 0x0b}),
		sec(12, []byte{1}),
		sec(10, []byte{1, 6, 1, 2, 0x7f, 0x20, 0, 0x0b}),
		sec(11, []byte{1, 0, 0x41, 8, 0x0b, 3, 'a', 'b', 'c'}),
		sec(0, []byte{4}, []byte("name"), []byte{1, 4, 1, 1, 1, 'g'}, []byte{2, 5, 1, 1, 1, 0, 0}),
	)
}

func TestValidModulesPass(t *testing.T) {
	if err := Check(valid()); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigInterpreter().WithCoreFeatures(api.CoreFeaturesV2))
	defer rt.Close(ctx)
	if _, err := rt.CompileModule(ctx, valid()); err != nil {
		t.Fatalf("the test module itself is invalid: %v", err)
	}
	files, _ := filepath.Glob(filepath.Join(fixtures.Path(t, "fixtures", "wasm"), "*.wasm"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := Check(b); err != nil {
			t.Errorf("%s: %v", filepath.Base(f), err)
		}
	}
}

// TestBombsRejected: modules of a few bytes that declare what would make wazero allocate
// gigabytes, and modules beyond V8's limits.
func TestBombsRejected(t *testing.T) {
	huge := leb(0xfffffff0)
	cases := map[string][]byte{
		"export name of 4 GiB":   module(sec(7, []byte{1}, huge)),
		"2^32 exports":           module(sec(7, huge)),
		"import module name":     module(sec(2, []byte{1}, huge)),
		"2^32 imports":           module(sec(2, huge)),
		"2^32 function bodies":   module(sec(10, huge)),
		"2^32 data segments":     module(sec(11, huge)),
		"data of 4 GiB":          module(sec(11, []byte{1, 1}, huge)),
		"2^32 parameters":        module(sec(1, []byte{1, 0x60}, huge)),
		"1001 parameters":        module(sec(1, []byte{1, 0x60}, leb(1001), make([]byte, 1002))),
		"2^32 locals":            module(sec(10, []byte{1, 8, 1}, huge, []byte{0x7f, 0x0b})),
		"50001 locals":           module(sec(10, []byte{1, 8, 2}, leb(50000), []byte{0x7f, 1, 0x7e, 0x0b})),
		"2^32 element indices":   module(sec(9, []byte{1, 1, 0}, huge)),
		"2^32 element exprs":     module(sec(9, []byte{1, 5, 0x70}, huge)),
		"name section names":     module(sec(0, []byte{4}, []byte("name"), []byte{1, 6}, huge, []byte{0})),
		"name section locals":    module(sec(0, []byte{4}, []byte("name"), []byte{2, 8, 1, 0}, huge, []byte{0})),
		"custom name of 4 GiB":   module(sec(0, huge)),
		"section beyond the end": []byte(header + "\x07\xff\xff\x03"),
		"2^32 globals":           module(sec(6, huge)),
		"export name of 100001":  module(sec(7, []byte{1}, leb(100001), make([]byte, 100003))),
		"not wasm":               []byte("wasm"),
	}
	for name, b := range cases {
		if err := Check(b); !errors.Is(err, ErrRejected) {
			t.Errorf("%s: %v, want rejected", name, err)
		}
	}
}

var (
	rtOnce sync.Once
	rt     wazero.Runtime
)

// FuzzCheck: for any bytes Check accepts, wazero's compile allocates at most a bounded
// multiple of the input (a few MiB of its own plus 256 bytes per input byte).
func FuzzCheck(f *testing.F) {
	f.Add(valid())
	f.Add(module(sec(7, []byte{1, 1, 'x', 0, 0})))
	f.Add(module(sec(10, []byte{1, 4, 1, 3, 0x7f, 0x0b})))
	f.Add([]byte(header + "\x07\x05\x01\xf8\xff\xff\xff\x0f"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if err := Check(b); err != nil {
			if !errors.Is(err, ErrRejected) {
				t.Fatalf("error of another kind: %v", err)
			}
			return
		}
		rtOnce.Do(func() {
			rt = wazero.NewRuntimeWithConfig(context.Background(), wazero.NewRuntimeConfigInterpreter().WithCoreFeatures(api.CoreFeaturesV2))
		})
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		before := ms.TotalAlloc
		cm, err := rt.CompileModule(context.Background(), b)
		runtime.ReadMemStats(&ms)
		if err == nil {
			_ = cm.Close(context.Background())
		}
		if alloc := ms.TotalAlloc - before; alloc > 8<<20+256*uint64(len(b)) {
			t.Fatalf("compiling %d bytes allocated %d bytes (%v)", len(b), alloc, err)
		}
		if err != nil && strings.Contains(err.Error(), "panic") {
			t.Fatalf("wazero panicked: %v", err)
		}
	})
}
