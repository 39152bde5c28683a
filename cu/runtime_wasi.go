package cu

import (
	"context"

	"github.com/tetratelabs/wazero"

	"github.com/aonode/aonode/cu/module"
	"github.com/aonode/aonode/cu/wasi"
	"github.com/aonode/aonode/cu/wasmcheck"
)

// WASIRuntime runs modules of aonode's WASI format (module.WASI) with cu/wasi. The state the
// CU keeps and checkpoints for such a process is the instance's snapshot (linear memory
// followed by the mutable globals), which is what restores it.
type WASIRuntime struct {
	// MaxResultBytes caps one message's result JSON (0: the package default).
	MaxResultBytes uint32
	// CompilationCache, when set, shares compiled code between the modules compiled (and
	// across restarts for a directory cache). The caller closes it after the CU.
	CompilationCache wazero.CompilationCache
}

// Compile implements Runtime.
func (r WASIRuntime) Compile(ctx context.Context, wasm []byte, opts CompileOptions) (Module, error) {
	// wazero allocates the counts and lengths a module declares before reading them.
	if err := wasmcheck.Check(wasm); err != nil {
		return nil, err
	}
	m, err := wasi.Compile(ctx, wasm, wasi.Options{MemoryLimitBytes: opts.MemoryLimit, MaxResultBytes: r.MaxResultBytes, CompilationCache: r.CompilationCache})
	if err != nil {
		return nil, err
	}
	return wasiModule{m}, nil
}

type wasiModule struct{ m *wasi.Module }

func (w wasiModule) Instantiate(ctx context.Context, memory []byte) (Instance, error) {
	i, err := w.m.Instantiate(ctx, memory)
	if err != nil {
		return nil, err
	}
	return wasiInstance{i}, nil
}

func (w wasiModule) Close(ctx context.Context) error { return w.m.Close(ctx) }

type wasiInstance struct{ i *wasi.Instance }

func (w wasiInstance) Handle(ctx context.Context, msg, env []byte) (module.Result, error) {
	return w.i.Handle(ctx, msg, env)
}

func (w wasiInstance) Memory() []byte              { return w.i.Snapshot() }
func (w wasiInstance) MemoryLen() int              { return len(w.i.Memory()) }
func (w wasiInstance) RestoresMemoryOnError() bool { return true }
func (w wasiInstance) Close(ctx context.Context) error {
	return w.i.Close(ctx)
}

// memoryLener is implemented by instances whose Memory carries more than the linear
// memory; MemoryLen is the linear memory's size, which Memory-Limit bounds.
type memoryLener interface{ MemoryLen() int }

func linearMemoryLen(inst Instance, state []byte) int {
	if m, ok := inst.(memoryLener); ok {
		return m.MemoryLen()
	}
	return len(state)
}
