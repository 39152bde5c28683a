// Package module holds what every process-module runtime of the CU shares: the names of the
// module formats and the shape of one message's result, as the reference loader returns it.
// It has no runtime of its own; cu/emscripten and cu/wasi implement the formats.
package module

import "encoding/json"

// Format is a module ABI, spelled as the Module-Format tag spells it.
type Format string

const (
	Emscripten         Format = "wasm32-unknown-emscripten"
	Emscripten2        Format = "wasm32-unknown-emscripten2"
	Emscripten3        Format = "wasm32-unknown-emscripten3"
	Emscripten4        Format = "wasm32-unknown-emscripten4"
	EmscriptenMetering Format = "wasm32-unknown-emscripten-metering"
	// Wasm64 is today's aos: emscripten with a 64-bit memory (memory64) and i64 pointers.
	Wasm64 Format = "wasm64-unknown-emscripten-draft_2024_02_15"
	// Wasm64Metering is Wasm64 instrumented at load time by @permaweb/wasm-metering.
	Wasm64Metering Format = "wasm64-unknown-emscripten-draft_2024_10_16-metering"
	// WASI is aonode's own format for modules built with a stock WASI toolchain.
	WASI Format = "wasm32-wasip1-aonode"
)

// Result is the outcome of one message. The JSON values are kept exactly as the module
// produced them, because CUs compare results byte for byte. A nil field was absent
// (undefined) in the reference loader's result; a field holding "null" was null.
type Result struct {
	Output      json.RawMessage `json:"Output,omitempty"`
	Messages    json.RawMessage `json:"Messages,omitempty"`
	Spawns      json.RawMessage `json:"Spawns,omitempty"`
	Assignments json.RawMessage `json:"Assignments,omitempty"`
	Error       json.RawMessage `json:"Error,omitempty"`
	GasUsed     uint64          `json:"GasUsed"`
	// Patches is response.Patches, or [] when the module gave none (the loader's default).
	Patches json.RawMessage `json:"Patches,omitempty"`
	// Threw is set when the call did not complete: a trap, "out of gas!", or the module's
	// {ok:false} envelope. Error then holds what the loader threw, and the reference CU
	// discards the instance. Threw results carry no GasUsed.
	Threw bool `json:"-"`
}
