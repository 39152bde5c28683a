package cu

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tetratelabs/wazero"

	"github.com/aonode/aonode/cu/module"
)

// TestWASIRestartMatchesUninterrupted runs the WASI probe module of cu/wasi (built here with
// GOOS=wasip1) through the CU, with a restart from a checkpoint in the middle.
func TestWASIRestartMatchesUninterrupted(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("builds and runs a WASI module (skipped with -short and under -race: see raceEnabled)")
	}
	out := filepath.Join(t.TempDir(), "probe.wasm")
	cmd := exec.Command("go", "build", "-buildmode=c-shared", "-o", out, "./wasi/testdata/probe")
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Skipf("cannot build the WASI probe: %v\n%s", err, b)
	}
	wasm, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	count := []Tag{{Name: "Action", Value: "Count"}}
	msgs := []fakeInput{{"", count}, {"", count}, {"1", []Tag{{Name: "Action", Value: "Fail"}}}, {"", count}, {"", count}, {"", count}}
	cache := wazero.NewCompilationCache()
	defer cache.Close(context.Background())
	rts := map[module.Format]Runtime{module.WASI: WASIRuntime{CompilationCache: cache}}
	h, pid, ids := restartComparison(t, rts, module.WASI, wasm,
		[]Tag{{Name: "Memory-Limit", Value: "256-mb"}, {Name: "Compute-Limit", Value: "1"}}, msgs, 3)
	defer h.close()
	// The process message counted nothing; Fail's count was rolled back.
	last := h.get("/result/" + ids[len(ids)-1] + "?process-id=" + pid)
	if !strings.Contains(string(last.body), `"Output":5`) && !strings.Contains(string(last.body), `"Output":"5"`) {
		t.Fatalf("WASI counter: %s", last.body)
	}
}
