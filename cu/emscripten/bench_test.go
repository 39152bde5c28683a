package emscripten

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/aonode/aonode/cu/module"
)

// BenchmarkAosMessage measures one aos message of the 200-message aos-counter session
// (format 2, metered): ns/op is the time per message, memory snapshot included.
func BenchmarkAosMessage(b *testing.B) {
	shared := sharedDir(b)
	v := loadVector(b, filepath.Join(shared, "vectors", "aoloader", "aos-counter.json"))
	eng := newEngine(b)
	ctx := context.Background()
	mod, err := eng.Compile(ctx, readModule(b, shared, v.Module), Options{Format: v.Format, ComputeLimit: uint64(v.ComputeLimit)})
	if err != nil {
		b.Fatal(err)
	}
	env := stringify(b, v.Env)
	msgs := make([][]byte, len(v.Messages))
	for i, m := range v.Messages {
		msgs[i] = stringify(b, m)
	}
	var proc *Process
	next := len(msgs)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if next == len(msgs) { // start the session again; the cold start is not what is measured
			b.StopTimer()
			if proc != nil {
				_ = proc.Close(ctx)
			}
			proc, next = mod.NewProcess(nil), 0
			b.StartTimer()
		}
		res, err := proc.Eval(ctx, msgs[next], env)
		if err != nil || res.Error != nil {
			b.Fatalf("message %d: %v %s", next, err, res.Error)
		}
		next++
	}
	b.StopTimer()
	_ = proc.Close(ctx)
}

// BenchmarkColdStart measures Instantiate(nil): instance creation, ctors and main (format 2
// aos) or ctors (format 4), with the module already compiled.
func BenchmarkColdStart(b *testing.B) {
	for _, c := range []struct {
		file   string
		format module.Format
	}{{"aos.wasm", module.Emscripten2}, {"emscripten4.wasm", module.Emscripten4}, {"emscripten.wasm", module.Emscripten}} {
		b.Run(c.file, func(b *testing.B) {
			eng := newEngine(b)
			ctx := context.Background()
			mod, err := eng.Compile(ctx, fixture(b, c.file), Options{Format: c.format})
			if err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				in, err := mod.Instantiate(ctx, nil)
				if err != nil {
					b.Fatal(err)
				}
				_ = in.Close(ctx)
			}
		})
	}
}

// BenchmarkCompile measures compiling aos.wasm on a fresh engine with no cache.
func BenchmarkCompile(b *testing.B) {
	wasm := fixture(b, "aos.wasm")
	ctx := context.Background()
	for i := 0; i < b.N; i++ {
		eng, err := NewEngine(ctx, EngineConfig{})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := eng.Compile(ctx, wasm, Options{Format: module.Emscripten2}); err != nil {
			b.Fatal(err)
		}
		_ = eng.Close(ctx)
	}
}
