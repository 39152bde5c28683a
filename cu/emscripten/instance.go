package emscripten

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/experimental/table"
	"github.com/tetratelabs/wazero/sys"

	"github.com/aonode/aonode/cu/emscripten/jsjson"
	"github.com/aonode/aonode/cu/module"
	"github.com/aonode/aonode/dataitem/utf8lossy"
)

// thisProgram is argv[0] and the "_" environment variable: the reference vectors were made
// with Node's command line set to emscripten's default program name.
const thisProgram = "./this.program"

// MaxMessageBytes bounds one msg or env JSON text.
const MaxMessageBytes = 64 << 20

var (
	// ErrClosed is returned by an instance that was closed, or whose call was cancelled.
	ErrClosed = errors.New("emscripten instance closed")
	// ErrInvalidMessage reports msg/env bytes that are not UTF-8 text of bounded size, or a
	// memory image larger than the module may grow to.
	ErrInvalidMessage = errors.New("invalid message for the module")

	errLongjmp       = errors.New("longjmp")
	errStackOverflow = errors.New("memory access out of bounds")
	//lint:ignore ST1005 the reference loader's own text, which results carry
	errOutOfGas = errors.New("out of gas!")
)

// exitStatus is what the glue throws when the module calls exit().
type exitStatus struct{ code int32 }

func (e *exitStatus) Error() string { return fmt.Sprintf("Program terminated with exit(%d)", e.code) }

// abortError is the glue's abort(): a RuntimeError with the glue's message.
type abortError struct{ msg string }

func (e *abortError) Error() string { return e.msg }

type asyncState int

const (
	asyncNormal asyncState = iota
	asyncUnwinding
	asyncRewinding
)

// Instance is one running module: its memory and the glue's JS-side state.
// It is not safe for concurrent use.
type Instance struct {
	m    *Module
	spec *formatSpec
	wm   api.Module
	mem  api.Memory
	ctx  context.Context // of the export call in progress; host functions call back with it

	handle, main, malloc, free, setThrew, stackSave, stackRestore, stackAlloc api.Function
	ctors, stackInit, stackEnd, fflush, tempretSet, memalign                  api.Function
	startUnwind, stopUnwind, startRewind, stopRewind                          api.Function
	invokeCache                                                               map[uint32][]api.Function // per table index, one function per nesting level
	invokeDepth                                                               map[uint32]int
	stackLimit                                                                uint32       // emscripten_stack_get_end, read once at startup
	dynCall                                                                   api.Function // the export invoke_* calls through (emscripten4.cjs, wasm64), if any

	meter    *meter // nil when the module is not metered
	tempRet0 uint32
	clock    float64 // the glue's Date.now counter
	tzset    bool
	fs       *memFS

	async     asyncState
	asyncData uint32

	prev    []byte // memory before the current/last Handle
	kept    []byte // during HandleKept: the caller's copy of the memory before the message
	restore bool   // the last Handle failed: prev is the kept memory
	closed  bool
}

// Instantiate creates an instance. With memory nil it is a cold start (the glue's startup:
// ctors and, for formats 1-3, main). Otherwise the startup runs too and memory then replaces
// the linear memory, growing it by the glue's rule when it is smaller, as the loader does
// when handed a previous Memory.
func (m *Module) Instantiate(ctx context.Context, memory []byte) (*Instance, error) {
	in := &Instance{m: m, spec: m.spec, clock: 10000, invokeCache: map[uint32][]api.Function{}, invokeDepth: map[uint32]int{}}
	if m.spec.family >= 2 {
		in.fs = newMemFS(in)
	}
	ctx = in.bind(ctx)
	if m.meter != nil {
		mt, err := m.newMeter(ctx)
		if err != nil {
			return nil, err
		}
		in.meter = mt
	}
	ictx := experimental.WithImportResolver(ctx, func(name string) api.Module {
		if name == "metering" && in.meter != nil {
			return in.meter.mod
		}
		return m.resolver[name]
	})
	wm, err := m.eng.rt.InstantiateModule(ictx, m.compiled, wazero.NewModuleConfig().WithName("").WithStartFunctions())
	if err != nil {
		in.closeMeter(ctx)
		return nil, fmt.Errorf("instantiate %s module: %w", m.opts.Format, err)
	}
	in.wm = wm
	in.mem = wm.Memory()
	if in.mem == nil {
		_ = in.Close(ctx)
		return nil, fmt.Errorf("%w: no memory", ErrIncompatibleModule)
	}
	if uint64(in.mem.Size()) > m.heapMax {
		_ = in.Close(ctx)
		return nil, fmt.Errorf("%w: initial memory %d exceeds the memory limit %d", ErrIncompatibleModule, in.mem.Size(), m.heapMax)
	}
	in.lookupExports()
	if err := guard(in.start); err != nil {
		_ = in.Close(ctx)
		return nil, fmt.Errorf("start %s module: %w", m.opts.Format, describe(err))
	}
	if memory != nil {
		if err := guard(func() error { return in.load(memory) }); err != nil {
			_ = in.Close(ctx)
			return nil, err
		}
	}
	return in, nil
}

func (in *Instance) bind(ctx context.Context) context.Context {
	ctx = context.WithValue(ctx, instanceKey{}, in)
	in.ctx = ctx
	return ctx
}

func (in *Instance) lookupExports() {
	e, w := in.spec.exports, in.wm
	get := func(name string) api.Function {
		if name == "" || name == "-" {
			return nil
		}
		return w.ExportedFunction(name)
	}
	in.handle, in.main, in.malloc, in.free = get(e.handle), get(e.main), get(e.malloc), get(e.free)
	in.setThrew, in.stackSave, in.stackRestore, in.stackAlloc = get(e.setThrew), get(e.stackSave), get(e.stackRestore), get(e.stackAlloc)
	in.ctors, in.stackInit, in.stackEnd, in.fflush = get(e.ctors), get(e.stackInit), get(e.stackEnd), get(e.fflush)
	in.tempretSet, in.memalign = get(e.tempretSet), get(e.memalign)
	if in.spec.dynCall != "" {
		in.dynCall = w.ExportedFunction(in.spec.dynCall)
	}
	if in.spec.family == 4 {
		in.startUnwind, in.stopUnwind = get("asyncify_start_unwind"), get("asyncify_stop_unwind")
		in.startRewind, in.stopRewind = get("asyncify_start_rewind"), get("asyncify_stop_rewind")
	}
}

// start runs the glue's startup sequence for the format.
func (in *Instance) start() error {
	fam := in.spec.family
	if fam >= 2 {
		in.clock += 3 // FS.init: the /dev/stdin, /dev/stdout and /dev/stderr symlinks
	}
	if fam >= 2 && in.stackInit != nil && in.stackEnd != nil {
		if _, err := in.call(in.stackInit); err != nil {
			return err
		}
		end, err := in.call(in.stackEnd)
		if err != nil {
			return err
		}
		in.stackLimit = uint32(end)
		if fam >= 3 && end == 0 {
			end += 4
		}
		in.writeU32(uint32(end), 34821223)
		in.writeU32(uint32(end)+4, 2310721022)
		in.writeU32(0, 1668509029)
	}
	if _, err := in.call(in.ctors); err != nil {
		return err
	}
	switch fam {
	case 1:
		return ignoreExit(in.callErr(in.main, 0, 0))
	case 2:
		// callMain: argv = [thisProgram, NULL] on the stack, never popped again.
		argv, err := in.call(in.stackAlloc, 8)
		if err != nil {
			return err
		}
		arg, err := in.call(in.stackAlloc, uint64(len(thisProgram)+1))
		if err != nil {
			return err
		}
		in.writeBytes(uint32(arg), append([]byte(thisProgram), 0))
		in.writeU32(uint32(argv), uint32(arg))
		in.writeU32(uint32(argv)+4, 0)
		if err := ignoreExit(in.callErr(in.main, 1, argv)); err != nil {
			return err
		}
		in.flushStdio()
	case 3:
		if err := ignoreExit(in.callErr(in.main, 0, 0)); err != nil {
			return err
		}
		in.flushStdio()
	case 4:
		in.clock++ // the loader's FS_createPath("/", "data")
		in.fs.mkdirAll("/data")
	}
	return nil
}

// flushStdio is the glue's checkUnflushedContent after main: fflush(0), errors ignored.
func (in *Instance) flushStdio() {
	if in.fflush != nil {
		_, _ = in.call(in.fflush, 0)
	}
}

// guard turns the glue's RangeError (a host-side memory access out of bounds, raised as an
// *abortError panic by the memory helpers) into an error when it happens outside a wasm call.
func guard(f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			ab, ok := r.(*abortError)
			if !ok {
				panic(r)
			}
			err = ab
		}
	}()
	return f()
}

func ignoreExit(err error) error {
	var es *exitStatus
	if errors.As(err, &es) {
		return nil
	}
	return err
}

// load copies a previous memory in, as the loader's handle(buffer, …) does.
func (in *Instance) load(memory []byte) error {
	if uint64(in.mem.Size()) < uint64(len(memory)) {
		in.growForRequest(uint64(len(memory)))
	}
	if uint64(in.mem.Size()) < uint64(len(memory)) {
		return fmt.Errorf("%w: memory of %d bytes does not fit (limit %d)", ErrInvalidMessage, len(memory), in.m.heapMax)
	}
	in.writeBytes(0, memory)
	return nil
}

// Memory returns the linear memory the reference CU keeps after the last message: the
// memory before it when it failed. The slice aliases the instance; it is valid until the
// next call on the instance.
func (in *Instance) Memory() []byte {
	if in.restore {
		return in.prev
	}
	b, _ := in.mem.Read(0, in.mem.Size())
	return b
}

// Close releases the instance.
func (in *Instance) Close(ctx context.Context) error {
	in.closed = true
	err := in.wm.Close(ctx)
	in.closeMeter(ctx)
	return err
}

func (in *Instance) closeMeter(ctx context.Context) {
	if in.meter != nil {
		_ = in.meter.mod.Close(ctx)
	}
}

// gasUsed is the gas the current message (or the startup) has used so far.
func (in *Instance) gasUsed() int64 {
	if in.meter == nil {
		return 0
	}
	return int64(in.meter.gas.Get())
}

// outOfGas reports whether the metering module trapped: its sum is above the limit.
func (in *Instance) outOfGas() bool { return in.gasUsed() > in.m.gasLimit }

// Handle evaluates one message. msg and env are the JSON texts the loader would pass
// (JSON.stringify output; see jsjson.Stringify). A module-level failure is a Result with
// Error set (and Threw for a throw); the returned error is for host-side failures only.
func (in *Instance) Handle(ctx context.Context, msg, env []byte) (module.Result, error) {
	if in.closed {
		return module.Result{}, ErrClosed
	}
	for _, b := range [][]byte{msg, env} {
		if len(b) > MaxMessageBytes || !utf8.Valid(b) {
			return module.Result{}, fmt.Errorf("%w: not UTF-8 text of at most %d bytes", ErrInvalidMessage, MaxMessageBytes)
		}
	}
	in.bind(ctx)
	if in.restore {
		if err := in.load(in.prev); err != nil {
			return module.Result{}, err
		}
		in.restore = false
	}
	if in.kept == nil {
		cur, _ := in.mem.Read(0, in.mem.Size())
		in.prev = append(in.prev[:0], cur...)
	}
	if in.meter != nil {
		in.meter.gas.Set(0)
	}

	var res module.Result
	err := guard(func() (err error) {
		res, err = in.run(msg, env)
		return err
	})
	if in.kept != nil && (err != nil || res.Error != nil) {
		// Failed: only now is a copy of the memory before the message needed.
		in.prev = append(in.prev[:0], in.kept...)
	}
	if err != nil {
		if ctx.Err() != nil || isClosed(err) {
			in.closed, in.restore = true, true
			return module.Result{}, fmt.Errorf("%w: %w", ErrClosed, errors.Join(ctx.Err(), err))
		}
		if errors.Is(err, ErrInvalidMessage) {
			return module.Result{}, err
		}
		in.restore = true
		if in.async != asyncNormal {
			// Trapped between an Asyncify unwind and its rewind: the module's own Asyncify
			// state is now inconsistent, so the instance cannot run again.
			in.closed = true
		}
		return module.Result{Threw: true, Error: thrownJSON(err)}, nil
	}
	if res.Error != nil {
		in.restore = true
	}
	return res, nil
}

// HandleKept is Handle for a caller that keeps the memory before the message itself: kept
// must equal the whole current memory and stay unchanged during the call. The instance then
// copies its memory only when the message fails, instead of before every message. With a
// restore pending, or kept of another length, it is Handle.
func (in *Instance) HandleKept(ctx context.Context, msg, env, kept []byte) (module.Result, error) {
	if in.closed || in.restore || uint64(len(kept)) != uint64(in.mem.Size()) {
		return in.Handle(ctx, msg, env)
	}
	in.kept = kept
	defer func() { in.kept = nil }()
	return in.Handle(ctx, msg, env)
}

func isClosed(err error) bool {
	var ee *sys.ExitError
	return errors.As(err, &ee)
}

// run is the loader's ccall("handle", "string", ["string","string"]) and result envelope.
func (in *Instance) run(msg, env []byte) (module.Result, error) {
	sp, err := in.call(in.stackSave)
	if err != nil {
		return module.Result{}, err
	}
	msgPtr, err := in.pushString(uint32(sp), msg)
	if err != nil {
		return module.Result{}, err
	}
	envPtr, err := in.pushString(msgPtr, env)
	if err != nil {
		return module.Result{}, err
	}
	ret, err := in.callHandle(uint64(msgPtr), uint64(envPtr))
	if err != nil {
		return module.Result{}, err
	}
	if _, err := in.call(in.stackRestore, sp); err != nil {
		return module.Result{}, err
	}
	return in.envelope(decodeUTF8JS(in.cString(uint32(ret))))
}

// pushString writes a NUL-terminated string on the wasm stack, reserving what the glue
// reserves. sp is the current stack pointer; only stackAlloc is called, as in the glue,
// because every export call is metered.
func (in *Instance) pushString(sp uint32, s []byte) (uint32, error) {
	size := uint64(len(s)) + 1
	if in.spec.family <= 2 {
		size = uint64(utf16Len(s))<<2 + 1 // ccall's (str.length << 2) + 1
	}
	if size > uint64(sp) || (uint64(sp)-size)&^15 < uint64(in.stackLimit) {
		// The glue would write past the stack (silently dropping what falls outside the
		// memory) and the module then traps; report that trap without corrupting anything.
		return 0, errStackOverflow
	}
	ptr, err := in.call(in.stackAlloc, size)
	if err != nil {
		return 0, err
	}
	in.writeBytes(uint32(ptr), append(s, 0))
	return uint32(ptr), nil
}

func utf16Len(s []byte) int {
	n := 0
	for _, r := range string(s) {
		n++
		if r >= 0x10000 {
			n++
		}
	}
	return n
}

// callHandle calls handle; for the Asyncify build it drives unwind/rewind like the glue does
// when an __asyncjs__ import suspends.
func (in *Instance) callHandle(msgPtr, envPtr uint64) (uint64, error) {
	ret, err := in.call(in.handle, msgPtr, envPtr)
	for err == nil && in.async == asyncUnwinding {
		if _, err = in.call(in.stopUnwind); err != nil {
			break
		}
		in.async = asyncRewinding
		if _, err = in.call(in.startRewind, uint64(in.asyncData)); err != nil {
			break
		}
		// Asyncify.doRewind calls the export again without arguments; the newer glue of
		// wasm64 then passes the arguments of the first call again.
		if in.spec.ptr64 {
			ret, err = in.call(in.handle, msgPtr, envPtr)
		} else {
			ret, err = in.call(in.handle, 0, 0)
		}
	}
	return ret, err
}

// envelope turns the module's {"ok":…,"response":…} string into the loader's result.
func (in *Instance) envelope(text string) (module.Result, error) {
	var top any
	if err := json.Unmarshal([]byte(text), &top); err != nil {
		return module.Result{}, &abortError{msg: jsonParseMessage(text, err)}
	}
	obj, isObj := top.(map[string]any)
	if !isObj {
		if top == nil {
			return module.Result{}, &abortError{msg: "Cannot destructure property 'ok' of 'JSON.parse(...)' as it is null."}
		}
		// {ok, response} of a primitive or array: ok is undefined, so the loader throws undefined.
		return module.Result{Threw: true, Error: json.RawMessage("null")}, nil
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal([]byte(text), &fields); err != nil {
		return module.Result{}, &abortError{msg: jsonParseMessage(text, err)}
	}
	if !truthy(obj["ok"]) {
		resp := fields["response"]
		if resp == nil {
			resp = json.RawMessage("null")
		}
		return module.Result{Threw: true, Error: normalize(resp)}, nil
	}
	resp, ok := obj["response"].(map[string]any)
	if !ok {
		if obj["response"] == nil {
			return module.Result{}, &abortError{msg: "TypeError: Cannot read properties of null (reading 'Error')"}
		}
		return module.Result{Patches: json.RawMessage("[]"), GasUsed: in.gasReported()}, nil
	}
	var rf map[string]json.RawMessage
	if err := json.Unmarshal(fields["response"], &rf); err != nil {
		return module.Result{}, &abortError{msg: jsonParseMessage(text, err)}
	}
	r := module.Result{
		Output:      normalize(rf["Output"]),
		Messages:    normalize(rf["Messages"]),
		Spawns:      normalize(rf["Spawns"]),
		Assignments: normalize(rf["Assignments"]),
		Error:       normalize(rf["Error"]),
		Patches:     json.RawMessage("[]"),
		GasUsed:     in.gasReported(),
	}
	if truthy(resp["Patches"]) {
		r.Patches = normalize(rf["Patches"])
	}
	return r, nil
}

// jsonParseMessage approximates V8's JSON.parse error message (exact for truncated input,
// which is what a module that wrote to stdout or crashed mid-string returns).
func jsonParseMessage(text string, err error) string {
	var se *json.SyntaxError
	if !errors.As(err, &se) || se.Offset >= int64(len(text)) || strings.TrimSpace(text) == "" {
		return "Unexpected end of JSON input"
	}
	r, _ := utf8.DecodeRuneInString(text[max(se.Offset-1, 0):])
	snippet := text
	if len(snippet) > 40 {
		snippet = snippet[:40] + "..."
	}
	return fmt.Sprintf("Unexpected token '%c', %q is not valid JSON", r, snippet)
}

func (in *Instance) gasReported() uint64 {
	if g := in.gasUsed(); g > 0 {
		return uint64(g)
	}
	return 0
}

// normalize re-serialises a value the way JSON.stringify(JSON.parse(…)) would.
func normalize(raw json.RawMessage) json.RawMessage {
	if raw == nil {
		return nil
	}
	out, err := jsjson.Stringify(raw)
	if err != nil {
		return raw
	}
	return out
}

func truthy(v any) bool {
	switch x := v.(type) {
	case nil:
		return false
	case bool:
		return x
	case float64:
		return x != 0 && !math.IsNaN(x)
	case string:
		return x != ""
	default:
		return true
	}
}

// thrownJSON is the Error a throw leaves in the result: what the loader threw, as the CU keeps it.
func thrownJSON(err error) json.RawMessage {
	msg := describe(err).Error()
	var es *exitStatus
	if errors.As(err, &es) {
		b, _ := json.Marshal(map[string]any{"name": "ExitStatus", "message": msg, "status": es.code})
		return b
	}
	u := utf16.Encode([]rune(msg))
	return jsjson.AppendString(nil, u)
}

// describe maps host and wazero errors to the messages V8 and the glue would produce.
func describe(err error) error {
	var es *exitStatus
	var ab *abortError
	switch {
	case errors.Is(err, errOutOfGas):
		return errOutOfGas
	case errors.As(err, &es):
		return es
	case errors.As(err, &ab):
		return ab
	}
	if msg, ok := trapMessage(err); ok {
		return errors.New(msg)
	}
	return err
}

func (in *Instance) call(f api.Function, args ...uint64) (uint64, error) {
	if f == nil {
		return 0, fmt.Errorf("%w: missing export", ErrIncompatibleModule)
	}
	res, err := f.Call(in.ctx, args...)
	if err != nil {
		if in.outOfGas() && in.ctx.Err() == nil {
			return 0, errOutOfGas
		}
		return 0, err
	}
	if len(res) > 0 {
		return res[0], nil
	}
	return 0, nil
}

func (in *Instance) callErr(f api.Function, args ...uint64) error {
	_, err := in.call(f, args...)
	return err
}

// mustCall is for exports called from inside host functions: a failure propagates as a trap.
func (in *Instance) mustCall(f api.Function, args ...uint64) uint64 {
	v, err := in.call(f, args...)
	if err != nil {
		panic(err)
	}
	return v
}

// invokeVII is the glue's invoke_vii (invoke_vjj on wasm64): call table[idx](a, b); a
// longjmp (thrown by _emscripten_throw_longjmp) unwinds to here and becomes setThrew(1, 0).
func (in *Instance) invokeVII(s []uint64) {
	idx, a, b := uint32(s[0]), s[1], s[2] // Number(index), then ToInt32 when passed on
	argType := i64
	if !in.spec.ptr64 {
		a, b, argType = uint64(uint32(a)), uint64(uint32(b)), i32
	}
	sp := in.mustCall(in.stackSave)
	// An api.Function is not re-entrant, and setjmp-heavy code nests invokes of the same
	// table entry (Lua's pcall inside pcall): keep one function object per nesting level.
	level := in.invokeDepth[idx]
	fns := in.invokeCache[idx]
	if level == len(fns) {
		if in.dynCall != nil {
			// emscripten4.cjs goes through the dynCall_vii export, a wasm frame that Asyncify
			// saves in its unwind buffer; calling the table entry directly would change those bytes.
			fns = append(fns, in.wm.ExportedFunction(in.spec.dynCall))
		} else {
			fns = append(fns, table.LookupFunction(in.wm, 0, idx, []api.ValueType{argType, argType}, nil))
		}
		in.invokeCache[idx] = fns
	}
	in.invokeDepth[idx] = level + 1
	var err error
	if in.dynCall != nil {
		st := [3]uint64{uint64(idx), a, b}
		err = fns[level].CallWithStack(in.ctx, st[:])
	} else {
		st := [2]uint64{a, b}
		err = fns[level].CallWithStack(in.ctx, st[:])
	}
	in.invokeDepth[idx] = level
	if err != nil {
		in.mustCall(in.stackRestore, sp)
		if !errors.Is(err, errLongjmp) {
			panic(err)
		}
		in.mustCall(in.setThrew, 1, 0)
	}
}

func (in *Instance) throwLongjmp(_ []uint64) { panic(errLongjmp) }

// useGas is never called: metering.usegas is the wasm module of meter.go. The import's entry
// in the format specs stays for its signature check.
func (in *Instance) useGas(_ []uint64) { panic(errors.New("metering.usegas is provided in wasm")) }

func (in *Instance) meteringGasUsed(s []uint64) { s[0] = uint64(uint32(in.gasUsed())) }

// resizeHeap is emscripten_resize_heap with the glue's growth rule (ao-protocol.md §4.1).
func (in *Instance) resizeHeap(s []uint64) {
	req := uint64(uint32(s[0]))
	if in.spec.ptr64 {
		// wasm64-emscripten.cjs asserts requestedSize > oldSize on the i53 it converted.
		if x := i53From64(s[0]); !(x > float64(in.mem.Size())) {
			panic(&abortError{msg: "Aborted(Assertion failed)"})
		}
		req = s[0]
	}
	if in.growForRequest(req) {
		s[0] = 1
	} else {
		s[0] = 0
	}
}

func (in *Instance) growForRequest(req uint64) bool {
	oldSize := float64(in.mem.Size())
	requested := float64(req)
	heapMax := float64(in.m.heapMax)
	if requested > heapMax {
		return false
	}
	alignUp := func(x, m float64) float64 { return x + math.Mod(m-math.Mod(x, m), m) }
	for cutDown := 1.0; cutDown <= 4; cutDown *= 2 {
		over := oldSize * (1 + 0.2/cutDown)
		over = math.Min(over, requested+100663296)
		newSize := math.Min(heapMax, alignUp(math.Max(requested, over), 65536))
		pages := toUint32(newSize-float64(in.mem.Size())+65535) >> 16
		if _, ok := in.mem.Grow(pages); ok {
			return true
		}
	}
	return false
}

// toUint32 is ECMAScript ToUint32.
func toUint32(x float64) uint32 {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return 0
	}
	return uint32(int64(math.Mod(math.Trunc(x), 4294967296)))
}

func (in *Instance) getHeapMax(s []uint64) {
	if in.spec.ptr64 {
		s[0] = in.m.heapMax
		return
	}
	s[0] = uint64(uint32(in.m.heapMax))
}

func (in *Instance) getTempRet0(s []uint64) { s[0] = uint64(in.tempRet0) }
func (in *Instance) setTempRet0(s []uint64) { in.tempRet0 = uint32(s[0]) }

func (in *Instance) memcpy(s []uint64) {
	dst, src, n := uint32(s[0]), uint32(s[1]), uint32(s[2])
	buf, _ := in.mem.Read(0, in.mem.Size())
	if uint64(src)+uint64(n) > uint64(len(buf)) || uint64(dst)+uint64(n) > uint64(len(buf)) {
		panic(&abortError{msg: "RangeError: offset is out of bounds"})
	}
	copy(buf[dst:dst+n], buf[src:src+n])
}

func (in *Instance) exit(s []uint64) {
	if in.spec.family >= 2 {
		in.flushStdio()
	}
	panic(&exitStatus{code: int32(uint32(s[0]))})
}

func (in *Instance) abort(_ []uint64) {
	if in.spec.family == 1 {
		panic(&abortError{msg: "Aborted(). Build with -sASSERTIONS for more info."})
	}
	panic(&abortError{msg: "Aborted(native code called abort())"})
}

func (in *Instance) assertFail(s []uint64) {
	str := func(p uint32, def string) string {
		if p == 0 {
			return def
		}
		return decodeUTF8JS(in.cString(p))
	}
	panic(&abortError{msg: fmt.Sprintf("Aborted(Assertion failed: %s, at: %s,%d,%s)",
		str(in.ptr(s[0]), ""), str(in.ptr(s[1]), "unknown filename"), int32(uint32(s[2])), str(in.ptr(s[3]), "unknown function"))})
}

// systemErrno is emscripten.cjs/emscripten2.cjs _system: no shell, errno ENOSYS.
func (in *Instance) systemErrno(s []uint64) {
	if uint32(s[0]) == 0 {
		s[0] = 0
		return
	}
	in.setErrno(52)
	s[0] = uint64(uint32(0xffffffff))
}

// systemNeg is the newer glue's _emscripten_system without a shell: -ENOSYS. The host's
// shell is never used (the reference would spawn one under Node).
func (in *Instance) systemNeg(s []uint64) {
	if in.ptr(s[0]) == 0 {
		s[0] = 0
		return
	}
	s[0] = uint64(uint32(0xffffffff - 52 + 1))
}

func (in *Instance) setErrno(v uint32) {
	f := in.wm.ExportedFunction("__errno_location")
	if in.spec.family == 1 {
		f = in.wm.ExportedFunction("K")
	}
	if f == nil {
		return
	}
	in.writeU32(uint32(in.mustCall(f)), v)
}

// environStrings is the glue's getEnvStrings; emscripten4.cjs is patched to expose none.
func (in *Instance) environStrings() []string {
	if !in.spec.env {
		return nil
	}
	return []string{"USER=web_user", "LOGNAME=web_user", "PATH=/", "PWD=/", "HOME=/home/web_user", "LANG=C.UTF-8", "_=" + thisProgram}
}

func (in *Instance) environGet(s []uint64) {
	environ, buf := in.ptr(s[0]), in.ptr(s[1])
	for i, str := range in.environStrings() {
		in.writePtr(environ+uint32(i)*in.ptrSize(), uint64(buf))
		in.writeBytes(buf, append([]byte(str), 0))
		buf += uint32(len(str)) + 1
	}
	s[0] = 0
}

func (in *Instance) environSizesGet(s []uint64) {
	strs := in.environStrings()
	size := 0
	for _, str := range strs {
		size += len(str) + 1
	}
	in.writePtr(in.ptr(s[0]), uint64(len(strs)))
	in.writePtr(in.ptr(s[1]), uint64(size))
	s[0] = 0
}

// dateNow: formats 1/2 return 0; formats 3/4 read the glue's counter (10000, 10001, …).
func (in *Instance) dateNow(s []uint64) {
	if in.spec.family <= 2 {
		s[0] = math.Float64bits(0)
		return
	}
	s[0] = math.Float64bits(in.now())
}

// getNowNaN is emscripten2.cjs emscripten_get_now: process.hrtime was replaced by the
// Date.now counter, so t[0]*1e3 + t[1]/1e6 is NaN.
func (in *Instance) getNowNaN(s []uint64) {
	in.now()
	s[0] = math.Float64bits(math.NaN())
}

func (in *Instance) now() float64 {
	t := in.clock
	in.clock++
	return t
}

// weavedriveOpen suspends like the glue's Asyncify.handleAsync when no WeaveDrive extension is
// configured: the module unwinds, is rewound, and open returns null (0). The unwind buffer is
// malloc'd and freed exactly as the glue does, so the memory matches byte for byte.
func (in *Instance) weavedriveOpen(s []uint64) {
	switch in.async {
	case asyncNormal:
		in.async = asyncUnwinding
		// The data header is the unwind stack's start and end pointers, then the i32
		// callStackId of "handle", the only export that suspends.
		hdr := 3 * in.ptrSize()
		data := uint32(in.mustCall(in.malloc, uint64(hdr+asyncStack)))
		in.writePtr(data, uint64(data+hdr))
		in.writePtr(data+in.ptrSize(), uint64(data+hdr+asyncStack))
		in.writeU32(data+2*in.ptrSize(), 0)
		in.asyncData = data
		in.mustCall(in.startUnwind, uint64(data))
	case asyncRewinding:
		in.async = asyncNormal
		in.mustCall(in.stopRewind)
		in.mustCall(in.free, uint64(in.asyncData))
		in.asyncData = 0
	default:
		panic(&abortError{msg: "Aborted(invalid state: 1)"})
	}
	s[0] = 0
}

func (in *Instance) weavedriveUnavailable(_ []uint64) {
	panic(&abortError{msg: "TypeError: Module.WeaveDrive is not a function"})
}

func (in *Instance) readU32(p uint32) uint32 {
	v, ok := in.mem.ReadUint32Le(p)
	if !ok {
		panic(&abortError{msg: "RangeError: offset is out of bounds"})
	}
	return v
}

func (in *Instance) writeU32(p, v uint32) {
	if !in.mem.WriteUint32Le(p, v) {
		panic(&abortError{msg: "RangeError: offset is out of bounds"})
	}
}

func (in *Instance) writeBytes(p uint32, b []byte) {
	if !in.mem.Write(p, b) {
		panic(&abortError{msg: "RangeError: offset is out of bounds"})
	}
}

func (in *Instance) readBytes(p, n uint32) []byte {
	b, ok := in.mem.Read(p, n)
	if !ok {
		panic(&abortError{msg: "RangeError: offset is out of bounds"})
	}
	return b
}

// cString returns the bytes of the NUL-terminated string at p (empty for p == 0).
func (in *Instance) cString(p uint32) []byte {
	if p == 0 {
		return nil
	}
	buf, _ := in.mem.Read(0, in.mem.Size())
	if p >= uint32(len(buf)) {
		return nil
	}
	end := p
	for end < uint32(len(buf)) && buf[end] != 0 {
		end++
	}
	return buf[p:end]
}

// decodeUTF8JS decodes like TextDecoder: each maximal invalid subpart becomes U+FFFD.
func decodeUTF8JS(b []byte) string { return utf8lossy.Bytes(b) }
