package wasi

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/tetratelabs/wazero"

	"go.uber.org/goleak"
)

// Wasm binaries built once per test binary from source by TestMain.
var (
	probeWasm []byte // testdata/probe
	tokenWasm []byte // examples/token

	// testCache shares compiled code between the tests' Modules; compiling a Go module
	// takes about a second.
	testCache wazero.CompilationCache
)

func TestMain(m *testing.M) {
	code, err := run(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

func run(m *testing.M) (int, error) {
	dir, err := os.MkdirTemp("", "aonode-wasi-test-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	testCache = wazero.NewCompilationCache()
	defer testCache.Close(context.Background())
	if probeWasm, err = buildReactor(dir, "./testdata/probe"); err != nil {
		return 0, err
	}
	if tokenWasm, err = buildReactor(dir, "../../examples/token"); err != nil {
		return 0, err
	}
	return m.Run(), nil
}

// buildReactor compiles a Go package as a wasip1 reactor, the way ABI.md tells users to.
func buildReactor(dir, pkg string) ([]byte, error) {
	// go test puts its own toolchain first on PATH.
	out := filepath.Join(dir, filepath.Base(pkg)+".wasm")
	cmd := exec.Command("go", "build", "-trimpath", "-buildmode=c-shared", "-o", out, pkg)
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("building %s: %v\n%s", pkg, err, b)
	}
	return os.ReadFile(out)
}

// compile compiles wasm for a test and closes it at the end.
func compile(t testing.TB, wasm []byte, opts Options) *Module {
	t.Helper()
	ctx := context.Background()
	if opts.CompilationCache == nil {
		opts.CompilationCache = testCache
	}
	if raceEnabled {
		opts.Interpreter = true
	}
	m, err := Compile(ctx, wasm, opts)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	t.Cleanup(func() { _ = m.Close(ctx) })
	return m
}

func instantiate(t testing.TB, m *Module, snapshot []byte) *Instance {
	t.Helper()
	inst, err := m.Instantiate(context.Background(), snapshot)
	if err != nil {
		t.Fatalf("Instantiate: %v", err)
	}
	t.Cleanup(func() { _ = inst.Close(context.Background()) })
	return inst
}
