package cu

import (
	"context"

	"github.com/aonode/aonode/cu/module"
)

// Runtime compiles module binaries of one or more module formats.
type Runtime interface {
	Compile(ctx context.Context, wasm []byte, opts CompileOptions) (Module, error)
}

// CompileOptions are the limits a process runs under, taken from the process or module tags.
type CompileOptions struct {
	Format       module.Format
	ComputeLimit uint64 // gas per message; 0 = the runtime's default
	MemoryLimit  uint64 // bytes of linear memory
}

// Module is a compiled module; it can be instantiated many times.
type Module interface {
	// Instantiate returns a fresh instance. A nil memory starts the module from its initial
	// state; otherwise memory (not retained) becomes the instance's linear memory.
	Instantiate(ctx context.Context, memory []byte) (Instance, error)
	Close(ctx context.Context) error
}

// Instance is one live module instance. It is used by one goroutine at a time.
type Instance interface {
	// Handle evaluates one message. A module-level failure is a Result with Error set (and
	// Threw for a trap, "out of gas!" or a throw); the CU then keeps the previous memory. A
	// returned error is a host-side failure: after a cancelled context nothing is recorded,
	// otherwise it is recorded as an Error result. Either way the CU discards the instance.
	Handle(ctx context.Context, msg, env []byte) (module.Result, error)
	// Memory returns the current linear memory; it may alias the instance and is only valid
	// until the next call on the instance.
	Memory() []byte
	Close(ctx context.Context) error
}

// MemoryRestorer is implemented by instances that put the previous memory back themselves
// after an Error or Threw result, so the CU may keep using them instead of instantiating
// again from its copy.
type MemoryRestorer interface {
	RestoresMemoryOnError() bool
}

// KeptMemoryHandler is implemented by instances that can restore, after an Error or Threw
// result, the memory the caller already keeps instead of copying their own memory before
// every message. The CU keeps the memory after the last message it kept; for aos 2.0 that
// spares one copy of 100 MB or more per message.
type KeptMemoryHandler interface {
	// HandleKept is Handle where kept equals the instance's whole current memory and stays
	// unchanged until the call returns. An instance that cannot tell they are equal (another
	// length) copies its memory as Handle does.
	HandleKept(ctx context.Context, msg, env, kept []byte) (module.Result, error)
}
