// Package memory64 lowers a WebAssembly module whose linear memory is 64-bit (the memory64
// proposal, as wasm64-unknown-emscripten builds use it) to an equivalent module with a 32-bit
// memory, so that an engine without memory64 (wazero) runs it. The idea is Binaryen's
// --memory64-lowering pass, done on the binary at load time:
//
//   - the memory type becomes 32-bit with the same minimum and maximum page counts;
//   - every load and store (SIMD ones included) gets its i64 address converted to i32 so that
//     an address of 2^32 or more still traps with an out-of-bounds access, never wraps onto a
//     low address; a static offset of 2^32 or more always traps, as it must;
//   - memory.size and memory.grow take and give i64 (a failed grow still gives -1);
//   - memory.fill, memory.copy and memory.init get their i64 operands converted the same way;
//   - active data segments get i32 offsets.
//
// Linear memory then holds the same bytes, at the same addresses, as it would on a 64-bit
// memory, and every access traps exactly when it would trap there. For a memory whose maximum
// is below 4 GiB an address that does not fit 32 bits is replaced by 0xFFFFFFFF, which is out
// of bounds whatever the offset; a memory that may reach exactly 4 GiB gets explicit checks.
//
// What the pass does not handle is refused with an error wrapping ErrUnsupported, never
// guessed at: a memory that may grow beyond 4 GiB (or declares no maximum), a 64-bit table,
// an imported or shared 64-bit memory, several memories, a data segment offset that is not a
// constant below 4 GiB, and any instruction outside what wazero's core features (WebAssembly
// 2.0: bulk memory, reference types, SIMD, sign extension, multi-value) define — atomics,
// exceptions, tail calls, GC. Bytes that are not a WebAssembly module give ErrMalformed.
//
// The package knows nothing of AO or emscripten; cu/emscripten lowers wasm64 process modules
// with it before compiling them.
package memory64
