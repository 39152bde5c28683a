package cu

import (
	"context"
	"errors"
	"testing"

	"github.com/aonode/aonode/cu/module"
)

func TestDefaultRuntimes(t *testing.T) {
	ctx := context.Background()
	rts, closeAll, err := DefaultRuntimes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := closeAll(ctx); err != nil {
			t.Fatal(err)
		}
	}()
	for _, f := range append(EmscriptenFormats, module.WASI) {
		if rts[f] == nil {
			t.Errorf("no runtime for %s", f)
		}
	}
	// A format the emscripten runtime refuses is a 422, not a 500.
	_, err = rts[module.Emscripten].Compile(ctx, []byte("\x00asm\x01\x00\x00\x00"), CompileOptions{Format: module.Wasm64Metering})
	if !errors.Is(err, ErrUnsupportedFormat) {
		t.Fatalf("wasm64 metering: %v", err)
	}
	if _, err := rts[module.WASI].Compile(ctx, []byte("not wasm"), CompileOptions{Format: module.WASI}); err == nil {
		t.Fatal("garbage compiled")
	}
}
