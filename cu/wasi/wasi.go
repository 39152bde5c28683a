package wasi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"unicode/utf8"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
	"github.com/tetratelabs/wazero/sys"

	"github.com/aonode/aonode/cu/module"
)

// Errors callers branch on. Module faults during a message (traps, exits, a malformed
// result) are not errors: they come back as a Result with Error set, like the reference CU.
var (
	// ErrInvalidModule: the binary is not a module of this format (see ABI.md).
	ErrInvalidModule = errors.New("wasi: invalid module")
	// ErrMemoryLimit: the module or snapshot needs more memory than Options.MemoryLimitBytes.
	ErrMemoryLimit = errors.New("wasi: memory limit exceeded")
	// ErrInvalidSnapshot: the snapshot was not produced by this module.
	ErrInvalidSnapshot = errors.New("wasi: invalid snapshot")
	// ErrInvalidInput: msg or env is not a JSON object of the expected shape.
	ErrInvalidInput = errors.New("wasi: invalid message or env")
	// ErrInterrupted: the caller's context ended during evaluation. The outcome depends on
	// the host's speed, so it must not be recorded as the message's result; the instance keeps
	// its previous state.
	ErrInterrupted = errors.New("wasi: evaluation interrupted")
	// ErrClosed: the instance or its module was closed.
	ErrClosed = errors.New("wasi: closed")
)

// Limits and defaults.
const (
	pageSize = 65536
	// maxPages is the whole 32-bit address space.
	maxPages = 65536
	// DefaultMaxResultBytes bounds the result JSON a module may return.
	DefaultMaxResultBytes = 64 << 20
	// outputCapBytes bounds what is kept of stdout and stderr per message.
	outputCapBytes = 64 << 10
	// errorStderrBytes is how much of stderr an Error carries (a Go panic message fits).
	errorStderrBytes = 4 << 10
	// maxTimestampMs keeps the message timestamp representable in int64 nanoseconds.
	maxTimestampMs = math.MaxInt64 / 1_000_000
)

// Export names of the ABI.
const (
	exportMemory     = "memory"
	exportAlloc      = "aonode_alloc"
	exportHandle     = "aonode_handle"
	exportInitialize = "_initialize"
	exportStart      = "_start"
	wasiModuleName   = wasi_snapshot_preview1.ModuleName
)

// Options configure Compile.
type Options struct {
	// MemoryLimitBytes caps the module's linear memory (the process's Memory-Limit). It is
	// rounded down to whole 64 KiB pages; 0 means the 4 GiB of wasm32.
	MemoryLimitBytes uint64
	// MaxResultBytes caps the result JSON of one message; 0 means DefaultMaxResultBytes.
	MaxResultBytes uint32
	// CompilationCache, when set, shares compiled code between Modules (and across restarts
	// when it is a directory cache).
	CompilationCache wazero.CompilationCache
	// Interpreter selects wazero's interpreter instead of its compiler: compiling is much
	// faster and running much slower. Results and memory are identical.
	Interpreter bool
}

// Module is a compiled module of the WASI format. It is safe for concurrent use; each
// Instance is a separate process state.
type Module struct {
	runtime        wazero.Runtime
	compiled       wazero.CompiledModule
	globals        []mutableGlobal
	hasInitialize  bool
	limitPages     uint32
	maxResultBytes uint32
	closed         atomic.Bool
}

// Compile validates wasm against the ABI in ABI.md and compiles it.
func Compile(ctx context.Context, wasm []byte, opts Options) (*Module, error) {
	limitPages := uint32(maxPages)
	if opts.MemoryLimitBytes != 0 && opts.MemoryLimitBytes/pageSize < maxPages {
		limitPages = uint32(opts.MemoryLimitBytes / pageSize)
	}
	if limitPages == 0 {
		return nil, fmt.Errorf("%w: a limit of %d bytes is less than one page", ErrMemoryLimit, opts.MemoryLimitBytes)
	}
	maxResult := opts.MaxResultBytes
	if maxResult == 0 {
		maxResult = DefaultMaxResultBytes
	}
	rewritten, globals, err := exportMutableGlobals(wasm)
	if err != nil {
		if errors.Is(err, errMalformed) {
			return nil, fmt.Errorf("%w: %w", ErrInvalidModule, err)
		}
		return nil, err
	}
	minPages, maxDeclared, hasMax, err := memoryLimits(wasm)
	if err != nil {
		return nil, err
	}
	if minPages > limitPages {
		return nil, fmt.Errorf("%w: the module needs %d pages at start, the limit is %d", ErrMemoryLimit, minPages, limitPages)
	}
	if hasMax && maxDeclared > limitPages {
		return nil, fmt.Errorf("%w: the module declares a maximum of %d pages, the limit is %d", ErrMemoryLimit, maxDeclared, limitPages)
	}

	cfg := wazero.NewRuntimeConfig()
	if opts.Interpreter {
		cfg = wazero.NewRuntimeConfigInterpreter()
	}
	cfg = cfg.WithCloseOnContextDone(true).
		WithMemoryLimitPages(limitPages)
	if opts.CompilationCache != nil {
		cfg = cfg.WithCompilationCache(opts.CompilationCache)
	}
	r := wazero.NewRuntimeWithConfig(ctx, cfg)
	m, err := compileIn(ctx, r, rewritten)
	if err != nil {
		_ = r.Close(ctx)
		return nil, err
	}
	m.globals = globals
	m.limitPages = limitPages
	m.maxResultBytes = maxResult
	return m, nil
}

func compileIn(ctx context.Context, r wazero.Runtime, wasm []byte) (*Module, error) {
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, r); err != nil {
		return nil, fmt.Errorf("wasi: instantiating %s: %w", wasiModuleName, err)
	}
	cm, err := r.CompileModule(ctx, wasm)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidModule, err)
	}
	for _, f := range cm.ImportedFunctions() {
		mod, name, _ := f.Import()
		if mod != wasiModuleName {
			return nil, fmt.Errorf("%w: imports %s.%s; only %s is provided", ErrInvalidModule, mod, name, wasiModuleName)
		}
	}
	if len(cm.ImportedMemories()) != 0 {
		return nil, fmt.Errorf("%w: imports a memory; it must define and export %q", ErrInvalidModule, exportMemory)
	}
	if _, ok := cm.ExportedMemories()[exportMemory]; !ok {
		return nil, fmt.Errorf("%w: no exported memory %q", ErrInvalidModule, exportMemory)
	}
	fns := cm.ExportedFunctions()
	if _, ok := fns[exportStart]; ok {
		return nil, fmt.Errorf("%w: exports %s, so it is a WASI command; build a reactor (Go: -buildmode=c-shared)", ErrInvalidModule, exportStart)
	}
	want := []struct {
		name            string
		params, results []api.ValueType
		optional        bool
	}{
		{exportAlloc, []api.ValueType{api.ValueTypeI32}, []api.ValueType{api.ValueTypeI32}, false},
		{exportHandle, []api.ValueType{api.ValueTypeI32, api.ValueTypeI32, api.ValueTypeI32, api.ValueTypeI32}, []api.ValueType{api.ValueTypeI64}, false},
		{exportInitialize, nil, nil, true},
	}
	m := &Module{runtime: r, compiled: cm}
	for _, w := range want {
		f, ok := fns[w.name]
		if !ok {
			if w.optional {
				continue
			}
			return nil, fmt.Errorf("%w: no exported function %q", ErrInvalidModule, w.name)
		}
		if !sameTypes(f.ParamTypes(), w.params) || !sameTypes(f.ResultTypes(), w.results) {
			return nil, fmt.Errorf("%w: %s has type %s -> %s, want %s -> %s", ErrInvalidModule, w.name,
				typeNames(f.ParamTypes()), typeNames(f.ResultTypes()), typeNames(w.params), typeNames(w.results))
		}
		if w.name == exportInitialize {
			m.hasInitialize = true
		}
	}
	return m, nil
}

// memoryLimits reads the limits of the module's own memory from its memory section.
func memoryLimits(wasm []byte) (minPages, maxDeclared uint32, hasMax bool, err error) {
	pos := 8
	for pos < len(wasm) {
		id := wasm[pos]
		size, n, err := readU32(wasm[pos+1:])
		if err != nil {
			return 0, 0, false, fmt.Errorf("%w: %w", ErrInvalidModule, err)
		}
		body := wasm[pos+1+n:]
		if uint64(size) > uint64(len(body)) {
			return 0, 0, false, fmt.Errorf("%w: %w: truncated section", ErrInvalidModule, errMalformed)
		}
		body = body[:size]
		pos += 1 + n + int(size)
		if id != 5 {
			continue
		}
		count, p, err := readU32(body)
		if err != nil || count != 1 || p >= len(body) {
			return 0, 0, false, fmt.Errorf("%w: the module must define exactly one memory", ErrInvalidModule)
		}
		flag := body[p]
		p++
		if flag&^0x01 != 0 {
			return 0, 0, false, fmt.Errorf("%w: unsupported memory (limits flag %#x: shared or 64-bit)", ErrInvalidModule, flag)
		}
		minPages, n, err := readU32(body[p:])
		if err != nil {
			return 0, 0, false, fmt.Errorf("%w: %w", ErrInvalidModule, err)
		}
		p += n
		if flag&0x01 != 0 {
			maxDeclared, _, err = readU32(body[p:])
			if err != nil {
				return 0, 0, false, fmt.Errorf("%w: %w", ErrInvalidModule, err)
			}
			hasMax = true
		}
		return minPages, maxDeclared, hasMax, nil
	}
	return 0, 0, false, fmt.Errorf("%w: the module defines no memory", ErrInvalidModule)
}

func sameTypes(a, b []api.ValueType) bool {
	return bytes.Equal(a, b)
}

func typeNames(ts []api.ValueType) string {
	names := make([]string, len(ts))
	for i, t := range ts {
		names[i] = api.ValueTypeName(t)
	}
	return "(" + strings.Join(names, ",") + ")"
}

// Close releases the module and every instance made from it.
func (m *Module) Close(ctx context.Context) error {
	m.closed.Store(true)
	return m.runtime.Close(ctx)
}

// Instance is one process: the module's state after the messages handed to it so far. It is
// safe for concurrent use, but messages are evaluated one at a time.
type Instance struct {
	mu     sync.Mutex
	m      *Module
	host   hostState
	stderr capWriter

	// live is the wazero instance, nil after a failed message or a closed context: the next
	// call rebuilds it from committed.
	live    api.Module
	alloc   api.Function
	handle  api.Function
	memory  api.Memory
	globals []api.MutableGlobal

	committed []byte // snapshot of the state after the last successful message
	memLen    int    // length of linear memory within committed
	shared    bool   // committed was handed out and must not be overwritten
	closed    bool
}

// Instantiate starts a process. With a nil snapshot the module is initialised (its
// _initialize export runs, with the clock at 0 and a fixed entropy seed); otherwise the
// state is restored from snapshot, which must come from Snapshot of an instance of a module
// with the same binary. Instantiate copies snapshot.
func (m *Module) Instantiate(ctx context.Context, snapshot []byte) (*Instance, error) {
	inst := &Instance{m: m}
	if snapshot == nil {
		if err := inst.instantiate(ctx); err != nil {
			return nil, err
		}
		if m.hasInitialize {
			inst.host.reset(0, initSeed())
			init := inst.live.ExportedFunction(exportInitialize)
			if _, err := init.Call(ctx); err != nil {
				inst.discard(ctx)
				if ctx.Err() != nil {
					return nil, fmt.Errorf("%w: %w", ErrInterrupted, ctx.Err())
				}
				return nil, fmt.Errorf("%w: %s: %s", ErrInvalidModule, exportInitialize, faultText(err, inst.stderr.bytes()))
			}
		}
		inst.commit()
		return inst, nil
	}
	memLen, _, err := m.decodeSnapshot(snapshot)
	if err != nil {
		return nil, err
	}
	inst.committed = bytes.Clone(snapshot)
	inst.memLen = memLen
	if err := inst.restore(ctx); err != nil {
		return nil, err
	}
	return inst, nil
}

// instantiate creates the wazero instance without running any start function.
func (i *Instance) instantiate(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%w: %w", ErrInterrupted, err)
	}
	h := &i.host
	cfg := wazero.NewModuleConfig().
		WithName("").
		WithStartFunctions().
		WithStdout(io.Discard).
		WithStderr(&i.stderr).
		WithWalltime(h.walltime, 1).
		WithNanotime(h.nanotime, 1).
		WithNanosleep(h.nanosleep).
		WithOsyield(func() {}).
		WithRandSource(&h.rand)
	mod, err := i.m.runtime.InstantiateModule(ctx, i.m.compiled, cfg)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("%w: %w", ErrInterrupted, ctx.Err())
		}
		if i.m.closed.Load() {
			return fmt.Errorf("%w: %w", ErrClosed, err)
		}
		return fmt.Errorf("%w: instantiate: %w", ErrInvalidModule, err)
	}
	i.live = mod
	i.alloc = mod.ExportedFunction(exportAlloc)
	i.handle = mod.ExportedFunction(exportHandle)
	i.memory = mod.ExportedMemory(exportMemory)
	i.globals = make([]api.MutableGlobal, len(i.m.globals))
	for k, g := range i.m.globals {
		mg, ok := mod.ExportedGlobal(g.name).(api.MutableGlobal)
		if !ok {
			_ = mod.Close(ctx)
			i.live = nil
			return fmt.Errorf("%w: global %d is not exported as mutable", ErrInvalidModule, g.index)
		}
		i.globals[k] = mg
	}
	return nil
}

// restore rebuilds the live instance from the committed snapshot.
func (i *Instance) restore(ctx context.Context) error {
	if err := i.instantiate(ctx); err != nil {
		return err
	}
	_, values, err := i.m.decodeSnapshot(i.committed)
	if err != nil {
		i.discard(ctx)
		return err
	}
	cur := i.memory.Size()
	want := uint32(i.memLen / pageSize)
	if want < cur/pageSize {
		i.discard(ctx)
		return fmt.Errorf("%w: %d pages of memory, fewer than the module's initial %d", ErrInvalidSnapshot, want, cur/pageSize)
	}
	if want > cur/pageSize {
		if _, ok := i.memory.Grow(want - cur/pageSize); !ok {
			i.discard(ctx)
			return fmt.Errorf("%w: cannot grow memory to %d pages", ErrMemoryLimit, want)
		}
	}
	if !i.memory.Write(0, i.committed[:i.memLen]) {
		i.discard(ctx)
		return fmt.Errorf("%w: memory write failed", ErrInvalidSnapshot)
	}
	for k, g := range i.globals {
		g.Set(values[k])
	}
	return nil
}

// discard drops the live wazero instance; committed stays.
func (i *Instance) discard(ctx context.Context) {
	if i.live != nil {
		_ = i.live.Close(ctx)
	}
	i.live, i.alloc, i.handle, i.memory, i.globals = nil, nil, nil, nil, nil
}

// commit records the live state as the state to return to after a failed message. The
// buffer is reused unless Snapshot or Memory handed it out, which saves the allocation (and
// the garbage) of a whole memory per message when the caller does not keep every state.
func (i *Instance) commit() {
	var reuse []byte
	if !i.shared {
		reuse = i.committed
	}
	i.committed, i.memLen = i.m.encodeSnapshot(reuse, i.memory, i.globals)
	i.shared = false
}

// Handle evaluates one message. msg and env are the JSON objects the reference CU passes to
// a module (ao-protocol §2.4). A trap, an exit, a malformed result or an Error in the result
// yields a Result with Error set and leaves the state as it was before the message. A
// returned error means no result was produced (bad input, closed instance, context ended).
func (i *Instance) Handle(ctx context.Context, msg, env []byte) (module.Result, error) {
	in, err := parseInput(msg, env)
	if err != nil {
		return module.Result{}, err
	}
	if len(msg) > math.MaxInt32 || len(env) > math.MaxInt32 || uint64(len(msg))+uint64(len(env)) > uint64(i.m.limitPages)*pageSize {
		return module.Result{}, fmt.Errorf("%w: msg and env of %d bytes cannot fit in memory", ErrInvalidInput, len(msg)+len(env))
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.closed || i.m.closed.Load() {
		return module.Result{}, ErrClosed
	}
	if i.live == nil {
		if err := i.restore(ctx); err != nil {
			return module.Result{}, err
		}
	}
	i.host.reset(in.timestampMs, messageSeed(in.processID, in.messageID, in.timestampMs))
	i.stderr.reset()

	raw, err := i.call(ctx, msg, env)
	if err != nil {
		i.discard(ctx)
		if ctx.Err() != nil {
			return module.Result{}, fmt.Errorf("%w: %w", ErrInterrupted, ctx.Err())
		}
		if i.m.closed.Load() {
			return module.Result{}, fmt.Errorf("%w: %w", ErrClosed, err)
		}
		return module.Result{Error: jsonString(faultText(err, i.stderr.bytes())), Threw: true}, nil
	}
	res, err := parseResult(raw)
	if err != nil {
		i.discard(ctx)
		return module.Result{Error: jsonString("invalid result: " + err.Error()), Threw: true}, nil
	}
	if res.Error != nil {
		i.discard(ctx)
		return res, nil
	}
	i.commit()
	return res, nil
}

// call runs the ABI: two buffers from aonode_alloc, then aonode_handle.
func (i *Instance) call(ctx context.Context, msg, env []byte) ([]byte, error) {
	put := func(what string, b []byte) (uint32, error) {
		r, err := i.alloc.Call(ctx, uint64(len(b)))
		if err != nil {
			return 0, err
		}
		ptr := uint32(r[0])
		if ptr == 0 {
			return 0, fmt.Errorf("%s(%d) for the %s returned 0", exportAlloc, len(b), what)
		}
		if !i.memory.Write(ptr, b) {
			return 0, fmt.Errorf("%s(%d) for the %s returned %#x, outside memory", exportAlloc, len(b), what, ptr)
		}
		return ptr, nil
	}
	mp, err := put("message", msg)
	if err != nil {
		return nil, err
	}
	ep, err := put("env", env)
	if err != nil {
		return nil, err
	}
	r, err := i.handle.Call(ctx, uint64(mp), uint64(len(msg)), uint64(ep), uint64(len(env)))
	if err != nil {
		return nil, err
	}
	ptr, n := uint32(r[0]>>32), uint32(r[0])
	if n > i.m.maxResultBytes {
		return nil, fmt.Errorf("result of %d bytes exceeds the limit of %d", n, i.m.maxResultBytes)
	}
	b, ok := i.memory.Read(ptr, n)
	if !ok {
		return nil, fmt.Errorf("result [%#x, +%d) is outside memory", ptr, n)
	}
	return bytes.Clone(b), nil
}

// Snapshot returns the state after the last successful message: linear memory followed by
// the mutable globals (format in ABI.md). The slice is shared and must not be modified; it
// stays valid after later messages.
func (i *Instance) Snapshot() []byte {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.shared = true
	return i.committed
}

// Memory returns the linear memory within Snapshot, the bytes the reference CU calls Memory.
// The slice is shared and must not be modified.
func (i *Instance) Memory() []byte {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.shared = true
	return i.committed[:i.memLen:i.memLen]
}

// MemorySHA256 returns the SHA-256 of Memory without handing the buffer out, so the next
// message can reuse it.
func (i *Instance) MemorySHA256() [32]byte {
	i.mu.Lock()
	defer i.mu.Unlock()
	return sha256.Sum256(i.committed[:i.memLen])
}

// Close releases the instance. Snapshot and Memory stay readable.
func (i *Instance) Close(ctx context.Context) error {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.discard(ctx)
	i.closed = true
	return nil
}

// Snapshot trailer: after the memory come 8 bytes per mutable global (little-endian value),
// the global count (uint32 little-endian) and the magic.
const snapshotMagic = "aowasi\x00\x01"

// encodeSnapshot writes the state into buf when it has the capacity, else into a new slice.
func (m *Module) encodeSnapshot(buf []byte, mem api.Memory, globals []api.MutableGlobal) ([]byte, int) {
	size := mem.Size()
	view, _ := mem.Read(0, size) // the whole memory is always readable
	n := int(size) + 8*len(globals) + 4 + len(snapshotMagic)
	out := buf[:0]
	if cap(out) < n {
		out = make([]byte, n)
	}
	out = out[:n]
	copy(out, view)
	p := int(size)
	for _, g := range globals {
		binary.LittleEndian.PutUint64(out[p:], g.Get())
		p += 8
	}
	binary.LittleEndian.PutUint32(out[p:], uint32(len(globals)))
	copy(out[p+4:], snapshotMagic)
	return out, int(size)
}

func (m *Module) decodeSnapshot(s []byte) (memLen int, globals []uint64, err error) {
	tail := 4 + len(snapshotMagic)
	if len(s) < tail || string(s[len(s)-len(snapshotMagic):]) != snapshotMagic {
		return 0, nil, fmt.Errorf("%w: missing trailer", ErrInvalidSnapshot)
	}
	count := binary.LittleEndian.Uint32(s[len(s)-tail:])
	if int(count) != len(m.globals) {
		return 0, nil, fmt.Errorf("%w: %d globals, the module has %d", ErrInvalidSnapshot, count, len(m.globals))
	}
	memLen = len(s) - tail - 8*int(count)
	if memLen < 0 || memLen%pageSize != 0 {
		return 0, nil, fmt.Errorf("%w: memory of %d bytes is not whole pages", ErrInvalidSnapshot, memLen)
	}
	if memLen/pageSize > int(m.limitPages) {
		return 0, nil, fmt.Errorf("%w: snapshot memory has %d pages, the limit is %d", ErrMemoryLimit, memLen/pageSize, m.limitPages)
	}
	globals = make([]uint64, count)
	for k := range globals {
		globals[k] = binary.LittleEndian.Uint64(s[memLen+8*k:])
	}
	return memLen, globals, nil
}

// input is what the host itself reads from msg and env: the clock and entropy seed.
type input struct {
	processID   string
	messageID   string
	timestampMs int64
}

func parseInput(msg, env []byte) (input, error) {
	var in input
	if !isObject(msg) || !isObject(env) {
		return in, fmt.Errorf("%w: msg and env must be JSON objects", ErrInvalidInput)
	}
	var m struct {
		ID        *string         `json:"Id"`
		Timestamp json.RawMessage `json:"Timestamp"`
	}
	if err := json.Unmarshal(msg, &m); err != nil {
		return in, fmt.Errorf("%w: msg: %w", ErrInvalidInput, err)
	}
	var e struct {
		Process struct {
			ID *string `json:"Id"`
		} `json:"Process"`
	}
	if err := json.Unmarshal(env, &e); err != nil {
		return in, fmt.Errorf("%w: env: %w", ErrInvalidInput, err)
	}
	if m.ID != nil {
		in.messageID = *m.ID
	}
	if e.Process.ID != nil {
		in.processID = *e.Process.ID
	}
	ts, err := parseTimestamp(m.Timestamp)
	if err != nil {
		return in, err
	}
	in.timestampMs = ts
	return in, nil
}

// parseTimestamp accepts the reference's number and, as the loader's tests send, a decimal
// string; absent or null means 0.
func parseTimestamp(raw json.RawMessage) (int64, error) {
	s := string(bytes.TrimSpace(raw))
	if s == "" || s == "null" {
		return 0, nil
	}
	if strings.HasPrefix(s, `"`) {
		if err := json.Unmarshal(raw, &s); err != nil {
			return 0, fmt.Errorf("%w: Timestamp: %w", ErrInvalidInput, err)
		}
	}
	ts, err := strconv.ParseInt(s, 10, 64)
	if err != nil || ts < 0 || ts > maxTimestampMs {
		return 0, fmt.Errorf("%w: Timestamp %.40q is not a millisecond count in [0, %d]", ErrInvalidInput, s, int64(maxTimestampMs))
	}
	return ts, nil
}

func isObject(b []byte) bool {
	b = bytes.TrimLeft(b, " \t\r\n")
	return len(b) > 0 && b[0] == '{'
}

// parseResult checks the module's result JSON and keeps each field's bytes as produced.
func parseResult(raw []byte) (module.Result, error) {
	if !isObject(raw) {
		return module.Result{}, errors.New("not a JSON object")
	}
	var r struct {
		Output, Messages, Spawns, Assignments, Error, Patches json.RawMessage
	}
	if err := json.Unmarshal(raw, &r); err != nil {
		return module.Result{}, err
	}
	res := module.Result{
		Output:      nonNull(r.Output),
		Messages:    nonNull(r.Messages),
		Spawns:      nonNull(r.Spawns),
		Assignments: nonNull(r.Assignments),
		Error:       nonNull(r.Error),
		Patches:     nonNull(r.Patches),
	}
	for _, f := range []struct {
		name string
		v    json.RawMessage
	}{{"Messages", res.Messages}, {"Spawns", res.Spawns}, {"Assignments", res.Assignments}, {"Patches", res.Patches}} {
		if f.v != nil && f.v[0] != '[' {
			return module.Result{}, fmt.Errorf("%s is not an array", f.name)
		}
	}
	if res.Patches == nil {
		res.Patches = json.RawMessage("[]") // the reference loader's default
	}
	return res, nil
}

func nonNull(v json.RawMessage) json.RawMessage {
	v = bytes.TrimSpace(v)
	if len(v) == 0 || string(v) == "null" {
		return nil
	}
	return v
}

// faultText describes a trap or exit in one deterministic line, followed by the head of
// stderr (where a Go panic or a Rust panic writes its message).
func faultText(err error, stderr []byte) string {
	var text string
	var exit *sys.ExitError
	if errors.As(err, &exit) {
		text = fmt.Sprintf("process exited with code %d", exit.ExitCode())
	} else {
		text, _, _ = strings.Cut(err.Error(), "\n")
	}
	if len(stderr) > 0 {
		if len(stderr) > errorStderrBytes {
			stderr = stderr[:errorStderrBytes]
		}
		text += "\n" + strings.ToValidUTF8(string(stderr), string(utf8.RuneError))
	}
	return text
}

func jsonString(s string) json.RawMessage {
	b, _ := json.Marshal(s) // a string always marshals
	return b
}

// capWriter keeps the first outputCapBytes written and reports every write as complete, so a
// chatty module neither fails nor grows the host's memory.
type capWriter struct {
	buf []byte
}

func (w *capWriter) Write(p []byte) (int, error) {
	if room := outputCapBytes - len(w.buf); room > 0 {
		w.buf = append(w.buf, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

func (w *capWriter) reset()        { w.buf = w.buf[:0] }
func (w *capWriter) bytes() []byte { return w.buf }
