package cu

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/tetratelabs/wazero"

	"github.com/aonode/aonode/cu/emscripten"
	"github.com/aonode/aonode/cu/module"
	"github.com/aonode/aonode/cu/wasmcache"
)

// EmscriptenRuntime runs the reference's emscripten module formats with cu/emscripten.
type EmscriptenRuntime struct {
	eng *emscripten.Engine
}

// NewEmscriptenRuntime creates the runtime; Close it after the CU that uses it.
func NewEmscriptenRuntime(ctx context.Context) (*EmscriptenRuntime, error) {
	return NewEmscriptenRuntimeWith(ctx, emscripten.EngineConfig{})
}

// NewEmscriptenRuntimeWith creates the runtime with an engine configuration (e.g. an on-disk
// compilation cache, so that a restarted node does not compile aos again).
func NewEmscriptenRuntimeWith(ctx context.Context, cfg emscripten.EngineConfig) (*EmscriptenRuntime, error) {
	eng, err := emscripten.NewEngine(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return &EmscriptenRuntime{eng: eng}, nil
}

// Close releases every module compiled by the runtime.
func (r *EmscriptenRuntime) Close(ctx context.Context) error { return r.eng.Close(ctx) }

// Compile implements Runtime.
func (r *EmscriptenRuntime) Compile(ctx context.Context, wasm []byte, opts CompileOptions) (Module, error) {
	m, err := r.eng.Compile(ctx, wasm, emscripten.Options{Format: opts.Format, ComputeLimit: opts.ComputeLimit, MemoryLimit: opts.MemoryLimit})
	if err != nil {
		if errors.Is(err, emscripten.ErrUnsupportedFormat) {
			return nil, errorf(ErrUnsupportedFormat, "%v", err)
		}
		return nil, err
	}
	return emModule{m}, nil
}

type emModule struct{ m *emscripten.Module }

func (e emModule) Instantiate(ctx context.Context, memory []byte) (Instance, error) {
	i, err := e.m.Instantiate(ctx, memory)
	if err != nil {
		return nil, err
	}
	return emInstance{i}, nil
}

func (e emModule) Close(ctx context.Context) error { return e.m.Close(ctx) }

type emInstance struct{ i *emscripten.Instance }

func (e emInstance) Handle(ctx context.Context, msg, env []byte) (module.Result, error) {
	return e.i.Handle(ctx, msg, env)
}
func (e emInstance) HandleKept(ctx context.Context, msg, env, kept []byte) (module.Result, error) {
	return e.i.HandleKept(ctx, msg, env, kept)
}
func (e emInstance) Memory() []byte                  { return e.i.Memory() }
func (e emInstance) RestoresMemoryOnError() bool     { return true }
func (e emInstance) Close(ctx context.Context) error { return e.i.Close(ctx) }

// EmscriptenFormats are the Module-Format values routed to EmscriptenRuntime. It runs all
// but the two -metering ones, which it refuses with ErrUnsupportedFormat (422).
var EmscriptenFormats = []module.Format{
	module.Emscripten, module.Emscripten2, module.Emscripten3, module.Emscripten4, module.EmscriptenMetering,
	module.Wasm64, module.Wasm64Metering,
}

// DefaultRuntimes returns the runtimes of every format aonode supports (the emscripten
// formats and aonode's WASI format) and a function that releases them after the CU closed.
func DefaultRuntimes(ctx context.Context) (map[module.Format]Runtime, func(context.Context) error, error) {
	return DefaultRuntimesIn(ctx, "")
}

// DefaultRuntimesIn is DefaultRuntimes with compiled machine code cached on disk under
// cacheDir (one subdirectory per runtime); an empty cacheDir caches in memory only.
func DefaultRuntimesIn(ctx context.Context, cacheDir string) (map[module.Format]Runtime, func(context.Context) error, error) {
	var emCfg emscripten.EngineConfig
	var cache wazero.CompilationCache
	if cacheDir == "" {
		cache = wazero.NewCompilationCache()
	} else {
		emCfg.CacheDir = filepath.Join(cacheDir, "emscripten")
		disk, err := wasmcache.Open(filepath.Join(cacheDir, "wasi"), 0)
		if err != nil {
			return nil, nil, fmt.Errorf("cu: %w", err)
		}
		cache = disk.Compilation()
	}
	em, err := NewEmscriptenRuntimeWith(ctx, emCfg)
	if err != nil {
		return nil, nil, errors.Join(err, cache.Close(ctx))
	}
	rts := map[module.Format]Runtime{module.WASI: WASIRuntime{CompilationCache: cache}}
	for _, f := range EmscriptenFormats {
		rts[f] = em
	}
	closeAll := func(ctx context.Context) error {
		return errors.Join(em.Close(ctx), cache.Close(ctx))
	}
	return rts, closeAll, nil
}
