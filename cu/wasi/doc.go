// Package wasi runs process modules of aonode's own format, wasm32-wasip1-aonode: stock
// WASI reactors (Go with GOOS=wasip1, Rust, C, Zig) that export aonode_alloc and
// aonode_handle. ABI.md beside this file is the specification; cu/wasi/guest is the Go guest
// side and examples/token a complete process.
//
// The package owns evaluation determinism for this format: the WASI clock reads the
// message's Timestamp, random_get is a stream seeded from the process and message ids,
// sleeping advances a virtual clock, and nothing of the host (files, environment, stdin) is
// visible. A process state (Snapshot) is linear memory plus the module's mutable globals,
// because a Go runtime keeps its stack pointer in a global.
//
// Usage:
//
//	m, err := wasi.Compile(ctx, wasmBytes, wasi.Options{MemoryLimitBytes: limit})
//	inst, err := m.Instantiate(ctx, previousSnapshot) // nil starts the process afresh
//	res, err := inst.Handle(ctx, msgJSON, envJSON)    // module.Result; Error means "reverted"
//	checkpoint := inst.Snapshot()
//
// It never meters compute (GasUsed is 0); the caller's context deadline bounds a message and
// yields ErrInterrupted, never a result.
package wasi
