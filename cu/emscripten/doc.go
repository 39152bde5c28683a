// Package emscripten runs AO process modules built with emscripten — Module-Format
// wasm32-unknown-emscripten, …emscripten2, …emscripten3 and …emscripten4 — on wazero,
// exactly as @permaweb/ao-loader 0.0.49 runs them on Node (ao-protocol.md §4): the same
// imports per glue file, invoke_vii with longjmp semantics (Lua error/pcall), the Date.now
// counter of formats 3/4 and the constant 0 of formats 1/2, no host entropy, the fixed
// environment (none for format 4), argv ["./this.program"], per-message gas refill and
// "out of gas!", the emscripten_resize_heap growth rule, the message strings on the wasm
// stack with the glue's reservation, and format 4's Asyncify unwind/rewind for the
// WeaveDrive imports. Output, Messages, Spawns, Assignments, Error, Patches and GasUsed are
// the bytes the reference loader's result gives (as JSON.stringify writes them), and the
// whole linear memory after every message is byte-identical to the reference loader's: the
// vectors of ../shared/vectors/aoloader check this for formats 1, 2 and 4 (format 3 has no
// reference fixture).
//
// API:
//
//	eng, err := NewEngine(ctx, EngineConfig{CacheDir: dir}) // one per node; shares the wazero runtime
//	mod, err := eng.Compile(ctx, wasm, Options{Format: module.Emscripten2, ComputeLimit: n, MemoryLimit: m})
//	inst, err := mod.Instantiate(ctx, memory)   // memory nil: cold start (ctors, main)
//	res, err := inst.Handle(ctx, msgJSON, envJSON)
//	mem := inst.Memory()                        // memory kept after the message
//	inst.Close(ctx); mod.Close(ctx); eng.Close(ctx)
//
// msgJSON and envJSON are the texts JSON.stringify would give the loader; jsjson.Stringify
// makes them from any JSON. Handle reports module-level failures in the Result: Error set
// (the module's own error, or what the loader threw) and Threw for a trap, "out of gas!" or
// the module's {ok:false}. In both cases Memory returns the memory from before the message.
// Process mirrors the reference CU on top of this: after any Error it drops the instance
// and evaluates the next message on a new instance given the kept memory.
//
// Differences from running the reference under Node, all on paths a deterministic process
// must not depend on: the host shell is never run (system() fails with ENOSYS);
// /dev/random and /dev/urandom read as zeros instead of host entropy (the lsqlite3 build
// seeds from them, which is why its reference memory is not reproducible); a message too
// large for the module's stack traps with "memory access out of bounds" before anything is
// written (the reference writes past the stack first); the WeaveDrive extension is absent,
// so open returns null after the Asyncify round trip and read/close trap. The formats with
// load-time metering (…-metering) and the wasm64 formats return ErrUnsupportedFormat
// (wazero has no memory64). Format 3 follows emscripten3.cjs; no reference session checks it.
package emscripten
