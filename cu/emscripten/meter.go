package emscripten

import (
	"context"
	"fmt"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

// The aos builds call the imported metering.usegas from every metered block. As a Go host
// function, each call is a wasm→Go transition that costs more than the block it meters (two
// thirds of the CPU of a compute-bound message). meterWasm is that import as a wasm module
// instead, one instance per process instance, so the calls stay wasm→wasm:
//
//	(global $gas (export "gas") (mut i64) (i64.const 0))
//	(global $limit (export "limit") (mut i64) (i64.const 0))
//	(func (export "usegas") (param i32)   ;; i64 for wasm64
//	  (global.set $gas (i64.add (global.get $gas) (i64.extend_i32_s (local.get 0))))
//	  (if (i64.gt_s (global.get $gas) (global.get $limit)) (then unreachable)))
//
// which is the glue's `gasUsed += n; if (gasUsed > limit) throw new Error("out of gas!")`
// with the same signed 64-bit sum. The host sets $limit once, resets $gas before each
// message, reads it for GasUsed, and reports any trap while $gas is above $limit as
// "out of gas!" (once over, every further usegas traps too, so no other trap can follow).
func meterWasm(param64 bool) []byte {
	paramType, extend := byte(0x7f), []byte{0xac} // i32, i64.extend_i32_s
	if param64 {
		paramType, extend = 0x7e, nil
	}
	body := []byte{0x00, 0x23, 0x00, 0x20, 0x00} // no locals; global.get 0; local.get 0
	body = append(body, extend...)
	body = append(body,
		0x7c,       // i64.add
		0x24, 0x00, // global.set 0
		0x23, 0x00, // global.get 0
		0x23, 0x01, // global.get 1
		0x55,       // i64.gt_s
		0x04, 0x40, // if (no result)
		0x00,       // unreachable
		0x0b, 0x0b) // end if; end func
	section := func(id byte, content ...byte) []byte {
		return append([]byte{id, byte(len(content))}, content...)
	}
	name := func(s string) []byte { return append([]byte{byte(len(s))}, s...) }
	globalI64 := []byte{0x7e, 0x01, 0x42, 0x00, 0x0b} // mut i64 = i64.const 0
	var exports []byte
	exports = append(exports, 3)
	exports = append(append(exports, name("usegas")...), 0x00, 0x00)
	exports = append(append(exports, name("gas")...), 0x03, 0x00)
	exports = append(append(exports, name("limit")...), 0x03, 0x01)
	out := []byte{0x00, 'a', 's', 'm', 0x01, 0x00, 0x00, 0x00}
	out = append(out, section(1, 0x01, 0x60, 0x01, paramType, 0x00)...) // type 0: (param) -> ()
	out = append(out, section(3, 0x01, 0x00)...)                        // func 0 has type 0
	out = append(out, section(6, append([]byte{0x02}, append(globalI64, globalI64...)...)...)...)
	out = append(out, section(7, exports...)...)
	out = append(out, section(10, append([]byte{0x01, byte(len(body))}, body...)...)...)
	return out
}

// meterModule returns the engine's compiled metering module for one usegas width.
func (e *Engine) meterModule(ctx context.Context, param64 bool) (wazero.CompiledModule, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if cm := e.meters[param64]; cm != nil {
		return cm, nil
	}
	cm, err := e.rt.CompileModule(ctx, meterWasm(param64))
	if err != nil {
		return nil, fmt.Errorf("compile the metering module: %w", err)
	}
	e.meters[param64] = cm
	return cm, nil
}

// meter is one instance's metering module.
type meter struct {
	mod        api.Module
	gas, limit api.MutableGlobal
}

func (m *Module) newMeter(ctx context.Context) (*meter, error) {
	mod, err := m.eng.rt.InstantiateModule(ctx, m.meter, wazero.NewModuleConfig().WithName("").WithStartFunctions())
	if err != nil {
		return nil, fmt.Errorf("instantiate the metering module: %w", err)
	}
	gas, _ := mod.ExportedGlobal("gas").(api.MutableGlobal)
	limit, _ := mod.ExportedGlobal("limit").(api.MutableGlobal)
	if gas == nil || limit == nil {
		_ = mod.Close(ctx)
		return nil, fmt.Errorf("metering module: globals not mutable")
	}
	limit.Set(uint64(m.gasLimit))
	return &meter{mod: mod, gas: gas, limit: limit}, nil
}
