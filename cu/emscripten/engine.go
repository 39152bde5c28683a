package emscripten

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"strings"
	"sync"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"

	"github.com/aonode/aonode/cu/memory64"
	"github.com/aonode/aonode/cu/module"
	"github.com/aonode/aonode/cu/wasmcache"
	"github.com/aonode/aonode/cu/wasmcheck"
)

// ErrUnsupportedFormat is returned for a Module-Format this package does not run.
var ErrUnsupportedFormat = errors.New("unsupported module format")

// FormatError names the refused format; it matches ErrUnsupportedFormat with errors.Is.
type FormatError struct{ Format string }

func (e *FormatError) Error() string {
	if strings.HasSuffix(e.Format, "-metering") && strings.HasPrefix(e.Format, "wasm") {
		// The reference instruments these at load time with @permaweb/wasm-metering; run
		// without its exact cost table they would report a different GasUsed.
		return fmt.Sprintf("unsupported module format %q (load-time metering by @permaweb/wasm-metering is not reproduced)", e.Format)
	}
	return fmt.Sprintf("unsupported module format %q", e.Format)
}

// Is makes errors.Is(err, ErrUnsupportedFormat) hold.
func (e *FormatError) Is(target error) bool { return target == ErrUnsupportedFormat }

// ErrIncompatibleModule reports a wasm binary whose imports or exports do not fit its format.
var ErrIncompatibleModule = errors.New("module does not match its format")

// DefaultComputeLimit is the loader's limit when none is given (9e15).
const DefaultComputeLimit = 9_000_000_000_000_000

// Options configure a compiled module.
type Options struct {
	Format module.Format
	// ComputeLimit is the gas limit per message (0: DefaultComputeLimit). A metered module
	// traps with "out of gas!" once its gas use exceeds it.
	ComputeLimit uint64
	// MemoryLimit caps the linear memory in bytes (0: the module's own maximum and the
	// format's heap maximum, which is all the reference enforces).
	MemoryLimit uint64
}

// Engine owns a wazero runtime shared by every module it compiles, with a compilation cache.
type Engine struct {
	rt    wazero.Runtime
	cache wazero.CompilationCache
	disk  *wasmcache.Cache // nil: in memory only

	mu     sync.Mutex
	hosts  map[hostKey]api.Module
	meters map[bool]wazero.CompiledModule // the metering module by usegas width (i64: true)
}

type hostKey struct {
	host   string
	module string
}

// EngineConfig configures an Engine.
type EngineConfig struct {
	// CacheDir, when set, keeps compiled machine code on disk so that a restarted node does
	// not compile its modules again. Empty: an in-memory cache only.
	CacheDir string
	// CacheMaxBytes bounds CacheDir (0: wasmcache.DefaultMaxBytes); the oldest entries go first.
	CacheMaxBytes int64
}

// NewEngine creates an engine. Close it to release compiled code.
func NewEngine(ctx context.Context, cfg EngineConfig) (*Engine, error) {
	cache := wazero.NewCompilationCache()
	var disk *wasmcache.Cache
	if cfg.CacheDir != "" {
		var err error
		if disk, err = wasmcache.Open(cfg.CacheDir, cfg.CacheMaxBytes); err != nil {
			return nil, err
		}
		cache = disk.Compilation()
	}
	rcfg := wazero.NewRuntimeConfig().
		WithCompilationCache(cache).
		WithCloseOnContextDone(true).
		WithCoreFeatures(api.CoreFeaturesV2)
	return &Engine{rt: wazero.NewRuntimeWithConfig(ctx, rcfg), cache: cache, disk: disk, hosts: map[hostKey]api.Module{}, meters: map[bool]wazero.CompiledModule{}}, nil
}

// Close releases the runtime, every module and instance compiled through it.
func (e *Engine) Close(ctx context.Context) error {
	err := e.rt.Close(ctx)
	return errors.Join(err, e.cache.Close(ctx))
}

// Module is a compiled process module, ready to be instantiated many times.
type Module struct {
	eng      *Engine
	compiled wazero.CompiledModule
	spec     *formatSpec
	opts     Options
	heapMax  uint64
	gasLimit int64
	metered  bool
	meter    wazero.CompiledModule // metering.usegas in wasm (meter.go), when metered
	resolver map[string]api.Module
}

// Compile validates and compiles a module for opts.Format.
func (e *Engine) Compile(ctx context.Context, wasm []byte, opts Options) (*Module, error) {
	spec, err := specFor(opts.Format)
	if err != nil {
		return nil, err
	}
	if opts.ComputeLimit == 0 {
		opts.ComputeLimit = DefaultComputeLimit
	}
	// wazero allocates the counts and lengths a module declares before reading them.
	if err := wasmcheck.Check(wasm); err != nil {
		return nil, fmt.Errorf("compile %s module: %w", opts.Format, err)
	}
	if spec.ptr64 {
		if wasm, err = memory64.Lower(wasm); err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrIncompatibleModule, opts.Format, err)
		}
	}
	cm, err := e.rt.CompileModule(experimental.WithCompilationWorkers(ctx, runtime.GOMAXPROCS(0)), wasm)
	if err != nil {
		return nil, fmt.Errorf("compile %s module: %w", opts.Format, err)
	}
	if e.disk != nil {
		// The compile may have added an entry; a cache that cannot be pruned still works.
		_ = e.disk.Prune()
	}
	m := &Module{eng: e, compiled: cm, spec: spec, opts: opts, heapMax: spec.heapMax,
		gasLimit: int64(min(opts.ComputeLimit, math.MaxInt64)), resolver: map[string]api.Module{}}
	if opts.MemoryLimit > 0 && opts.MemoryLimit < m.heapMax {
		m.heapMax = opts.MemoryLimit
	}
	if err := m.link(ctx); err != nil {
		_ = cm.Close(ctx)
		return nil, err
	}
	return m, nil
}

// link checks every import against the format's host functions and every export the glue uses.
func (m *Module) link(ctx context.Context) error {
	for _, imp := range m.compiled.ImportedFunctions() {
		modName, name, _ := imp.Import()
		hf, ok := m.spec.imports[modName][name]
		if !ok {
			return fmt.Errorf("%w: %s imports %s.%s, which the %s glue does not provide", ErrIncompatibleModule, m.opts.Format, modName, name, m.opts.Format)
		}
		if !sameTypes(imp.ParamTypes(), hf.params) || !sameTypes(imp.ResultTypes(), hf.results) {
			return fmt.Errorf("%w: %s.%s has signature %v -> %v, the glue provides %v -> %v", ErrIncompatibleModule, modName, name, imp.ParamTypes(), imp.ResultTypes(), hf.params, hf.results)
		}
		if modName == "metering" {
			// usegas is the only metering import (the spec allows no other); each instance
			// gets its own instance of the metering module.
			m.metered = true
			cm, err := m.eng.meterModule(ctx, hf.params[0] == i64)
			if err != nil {
				return err
			}
			m.meter = cm
			continue
		}
		host, err := m.eng.host(ctx, m.spec, modName)
		if err != nil {
			return err
		}
		m.resolver[modName] = host
	}
	for _, imp := range m.compiled.ImportedMemories() {
		modName, name, _ := imp.Import()
		return fmt.Errorf("%w: imported memory %s.%s is not supported", ErrIncompatibleModule, modName, name)
	}
	// The glue reads the memory through its export; refuse a module without one, or whose
	// initial memory is above the limit, before instantiating allocates it.
	mems := m.compiled.ExportedMemories()
	if len(mems) == 0 {
		return fmt.Errorf("%w: no exported memory", ErrIncompatibleModule)
	}
	for _, mem := range mems {
		if min := uint64(mem.Min()) << 16; min > m.heapMax {
			return fmt.Errorf("%w: initial memory %d exceeds the memory limit %d", ErrIncompatibleModule, min, m.heapMax)
		}
	}
	exports := m.compiled.ExportedFunctions()
	for _, name := range m.spec.exports.required() {
		if _, ok := exports[name]; !ok {
			return fmt.Errorf("%w: missing export %q", ErrIncompatibleModule, name)
		}
	}
	return nil
}

func sameTypes(a, b []api.ValueType) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// host returns the engine's host module for one import module of a format family,
// instantiating it once under a private name; modules find it through an import resolver.
func (e *Engine) host(ctx context.Context, spec *formatSpec, modName string) (api.Module, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	key := hostKey{spec.host, modName}
	if h, ok := e.hosts[key]; ok {
		return h, nil
	}
	name := fmt.Sprintf("aonode/%s/%s", spec.host, modName)
	b := e.rt.NewHostModuleBuilder(name)
	for name, hf := range spec.imports[modName] {
		fn := hf.fn
		b.NewFunctionBuilder().
			WithGoModuleFunction(api.GoModuleFunc(func(ctx context.Context, mod api.Module, stack []uint64) {
				fn(instanceFrom(ctx), stack)
			}), hf.params, hf.results).
			Export(name)
	}
	// Compiled and instantiated separately: the import resolver needs the plain module
	// instance, not the wrapper HostModuleBuilder.Instantiate returns.
	compiled, err := b.Compile(ctx)
	if err != nil {
		return nil, fmt.Errorf("compile %s host functions: %w", modName, err)
	}
	h, err := e.rt.InstantiateModule(ctx, compiled, wazero.NewModuleConfig().WithName(name))
	if err != nil {
		return nil, fmt.Errorf("instantiate %s host functions: %w", modName, err)
	}
	e.hosts[key] = h
	return h, nil
}

// Close releases the compiled code. Instances already created keep working until closed.
func (m *Module) Close(ctx context.Context) error { return m.compiled.Close(ctx) }

// Format returns the module's format.
func (m *Module) Format() module.Format { return m.opts.Format }

type instanceKey struct{}

func instanceFrom(ctx context.Context) *Instance {
	in, ok := ctx.Value(instanceKey{}).(*Instance)
	if !ok {
		panic(errors.New("emscripten host function called outside an instance call"))
	}
	return in
}

// Metered reports whether the module imports metering.usegas, i.e. whether GasUsed counts.
func (m *Module) Metered() bool { return m.metered }
