package emscripten

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
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

// sessionBuilds are the same aos sessions on three builds: aos.wasm (format 2, metered by
// usegas host calls), emscripten4.wasm (aos 2.0, format 4, not metered) and
// wasm64-emscripten.wasm (aos 2.0 for a 64-bit memory, lowered to 32-bit at load).
var sessionBuilds = []struct {
	name, vector, module string
	format               module.Format
}{
	{"aos-f2", "aoloader/aos-counter.json", "aos.wasm", module.Emscripten2},
	{"aos2-f4", "aoloader/aos-counter.json", "emscripten4.wasm", module.Emscripten4},
	{"aos2-wasm64", "aoloader64/aos64-counter.json", "wasm64-emscripten.wasm", module.Wasm64},
}

// BenchmarkSession measures one message of the 200-message counter session on each build
// (sessionBuilds): ns/op is the time per message, the memory copy the CU keeps included, and
// cpu-ns/op the process's CPU time per message. peak-RSS-MB is the process's high-water mark,
// meaningful when one sub-benchmark runs per process (scripts/aos64-bench.sh does that).
func BenchmarkSession(b *testing.B) {
	for _, c := range sessionBuilds {
		b.Run(c.name, func(b *testing.B) {
			shared := sharedDir(b)
			v := loadVector(b, filepath.Join(shared, "vectors", c.vector))
			eng := newEngine(b)
			ctx := context.Background()
			mod, err := eng.Compile(ctx, readModule(b, shared, c.module), Options{Format: c.format, ComputeLimit: uint64(v.ComputeLimit)})
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
			cpu := cpuTime()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if next == len(msgs) { // start the session again; the cold start is not measured
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
			b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N), "cpu-ns/op")
			if rss := peakRSS(); rss > 0 {
				b.ReportMetric(float64(rss)/(1<<20), "peak-RSS-MB")
			}
			_ = proc.Close(ctx)
		})
	}
}

// BenchmarkWholeSession runs the whole 202-message aos64 counter session per op, cold start
// and a SHA-256 of the memory after every message included: the measure the vectors' README
// gives for the reference loader (38 s on Node 20).
func BenchmarkWholeSession(b *testing.B) {
	shared := sharedDir(b)
	v := loadVector(b, filepath.Join(shared, "vectors", "aoloader64", "aos64-counter.json"))
	ctx := context.Background()
	mod, err := newEngine(b).Compile(ctx, readModule(b, shared, v.Module), Options{Format: v.Format, ComputeLimit: uint64(v.ComputeLimit)})
	if err != nil {
		b.Fatal(err)
	}
	env := stringify(b, v.Env)
	cpu := cpuTime()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		proc := mod.NewProcess(nil)
		for j, m := range v.Messages {
			res, err := proc.Eval(ctx, stringify(b, m), env)
			if err != nil || res.Error != nil && j != len(v.Messages)-1 {
				b.Fatalf("message %d: %v %s", j, err, res.Error)
			}
			sum := sha256.Sum256(proc.Memory())
			if want := string(v.Expected[j]["MemorySha256"]); want != `"`+hex.EncodeToString(sum[:])+`"` {
				b.Fatalf("message %d: memory differs from the reference", j)
			}
		}
		_ = proc.Close(ctx)
	}
	b.StopTimer()
	b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N), "cpu-ns/op")
	if rss := peakRSS(); rss > 0 {
		b.ReportMetric(float64(rss)/(1<<20), "peak-RSS-MB")
	}
}

// cpuTime is the process's user and system CPU time in nanoseconds.
func cpuTime() int64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// peakRSS is the process's resident-set high-water mark in bytes (Linux; 0 elsewhere).
func peakRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) == 3 && f[0] == "VmHWM:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}
