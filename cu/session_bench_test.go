package cu

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/tetratelabs/wazero"

	"github.com/aonode/aonode/cu/module"
)

// BenchmarkCUSession measures the CU's per-message cost on two real sessions, with the
// attestation's memory hashed the format-1 way (SHA-256 of all memory after every message)
// and the format-2 way (cu/memhash: only the pages that changed), interleaved in one run so
// that the ratio is measured under the same load. One op evaluates one message of the
// session through the CU (evaluation, memory copy and hash, attestation, durable commit);
// the process is booted outside the timer. cpu-ns/msg is the process's CPU per message.
//
//	go test -run XXX -bench CUSession -benchtime 3x ./cu/
func BenchmarkCUSession(b *testing.B) {
	const n = 100
	sessions := []struct {
		name   string
		format module.Format
		wasm   func(b *testing.B) []byte
		rts    func(b *testing.B) map[module.Format]Runtime
		tags   []Tag
		boot   []func(i int) (string, []Tag)
		msg    func(i int) (string, []Tag)
	}{
		{
			name: "aos-counter", format: module.Emscripten2, wasm: func(b *testing.B) []byte { return aosWasm(b) },
			rts: func(b *testing.B) map[module.Format]Runtime { return emscriptenRuntimes(b) }, tags: aosTags,
			msg: func(int) (string, []Tag) {
				return "Counter = (Counter or 0) + 1\nreturn Counter", []Tag{{Name: "Action", Value: "Eval"}}
			},
		},
		{
			name: "token", format: module.WASI, wasm: buildToken,
			rts: func(b *testing.B) map[module.Format]Runtime {
				cache := wazero.NewCompilationCache()
				b.Cleanup(func() { _ = cache.Close(context.Background()) })
				return map[module.Format]Runtime{module.WASI: WASIRuntime{CompilationCache: cache}}
			},
			tags: []Tag{{Name: "Memory-Limit", Value: "256-mb"}, {Name: "Compute-Limit", Value: "1"}},
			boot: []func(int) (string, []Tag){func(int) (string, []Tag) {
				return "", []Tag{{Name: "Action", Value: "Mint"}, {Name: "Quantity", Value: "1000000000"}}
			}},
			msg: func(i int) (string, []Tag) {
				return "", []Tag{{Name: "Action", Value: "Transfer"}, {Name: "Recipient", Value: fmt.Sprintf("acct-%d", i)}, {Name: "Quantity", Value: "1"}}
			},
		},
	}
	for _, s := range sessions {
		wasm := s.wasm(b)
		rts := s.rts(b)
		for _, format := range []int{1, 2} {
			b.Run(fmt.Sprintf("%s/format-%d", s.name, format), func(b *testing.B) {
				ctx := context.Background()
				var cpu, msgs int64
				for b.Loop() {
					b.StopTimer()
					su := newFakeSU(b)
					gw := newFakeGateway(b)
					mod := gw.addModule(wasm, moduleTags(string(s.format), s.tags...))
					pid := su.addProcess(mod, false)
					owner := su.processOwner(pid)
					for i, f := range s.boot {
						d, t := f(i)
						su.addMessageBy(pid, owner, 1000, d, t...)
					}
					db := openStore(b, b.TempDir())
					c := benchCU(b, db, su, gw, rts)
					c.cfg.AttestationFormat = format
					if _, err := c.catchUp(ctx, pid, -1); err != nil {
						b.Fatal(err)
					}
					ids := make([]string, n)
					for i := range n {
						d, t := s.msg(i)
						ids[i] = su.addMessageBy(pid, owner, 1000, d, t...)
					}
					start := cpuNanos()
					b.StartTimer()
					if _, err := c.catchUp(ctx, pid, -1); err != nil {
						b.Fatal(err)
					}
					b.StopTimer()
					cpu += cpuNanos() - start
					msgs += n
					_ = c.Close()
					_ = db.Close()
					b.StartTimer()
				}
				b.ReportMetric(float64(cpu)/float64(msgs), "cpu-ns/msg")
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(msgs), "ns/msg")
			})
		}
	}
}

// buildToken builds examples/token for the WASI format, skipping when it cannot.
func buildToken(b *testing.B) []byte {
	out := filepath.Join(b.TempDir(), "token.wasm")
	cmd := exec.Command("go", "build", "-trimpath", "-buildmode=c-shared", "-o", out, "../examples/token")
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Skipf("SKIP: cannot build examples/token: %v\n%s", err, out)
	}
	wasm, err := os.ReadFile(out)
	if err != nil {
		b.Fatal(err)
	}
	return wasm
}

// cpuNanos is the process's user and system CPU time.
func cpuNanos() int64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
