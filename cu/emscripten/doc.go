// Package emscripten runs AO process modules built with emscripten — Module-Format
// wasm32-unknown-emscripten, …emscripten2, …emscripten3, …emscripten4 and
// wasm64-unknown-emscripten-draft_2024_02_15 — on wazero, exactly as @permaweb/ao-loader
// 0.0.49 runs them on Node (ao-protocol.md §4): the same imports per glue file, invoke_vii
// (invoke_vjj) with longjmp semantics (Lua error/pcall), the Date.now counter of formats
// 3/4/wasm64 and the constant 0 of formats 1/2, no host entropy, the fixed environment (none
// for format 4 and wasm64), argv ["./this.program"], per-message gas refill and "out of
// gas!", the emscripten_resize_heap growth rule, the message strings on the wasm stack with
// the glue's reservation, and the Asyncify unwind/rewind of format 4 and wasm64 for the
// WeaveDrive imports. Output, Messages, Spawns, Assignments, Error, Patches and GasUsed are
// the bytes the reference loader's result gives (as JSON.stringify writes them), and the
// whole linear memory after every message is byte-identical to the reference loader's: the
// vectors of ../shared/vectors/aoloader and aoloader64 check this for formats 1, 2, 4 and
// wasm64 (format 3 has no reference fixture).
//
// A wasm64 module (memory64, today's aos) is lowered to a 32-bit memory at compile time by
// cu/memory64, which keeps every byte at its address and every out-of-bounds trap; a module
// whose memory could outgrow 4 GiB is refused. Its glue (wasm64.go) is emscripten4's with
// i64 pointers and size_t: 16-byte iovecs, 8-byte environ entries, the 64-bit struct stat,
// struct tm's 8-byte tm_gmtoff and tm_zone, the 24-byte Asyncify data header, invoke_vjj
// through dynCall_vjj, and the newer glue's ioctl and fcntl answers. A pointer argument
// beyond 32 bits reads as 0xFFFFFFFF, out of bounds, never as a wrapped low address.
//
// Every module is first checked with cu/wasmcheck, because wazero's decoder allocates the
// counts and lengths a module declares before reading them.
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
// so open returns null after the Asyncify round trip and read/close trap; on wasm64 a host
// function given a pointer beyond 32 bits fails as out of bounds (the glue would read
// undefined). The formats with load-time metering (wasm32-unknown-emscripten-metering,
// wasm64-unknown-emscripten-draft_2024_10_16-metering) return ErrUnsupportedFormat: the
// reference instruments them with @permaweb/wasm-metering, whose cost table this package
// does not reproduce, so their GasUsed could not match. Format 3 follows emscripten3.cjs;
// no reference session checks it.
package emscripten
