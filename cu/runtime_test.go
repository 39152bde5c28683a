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
	// A wasm64 format reaching the emscripten runtime is a 422, not a 500.
	_, err = rts[module.Emscripten].Compile(ctx, []byte("\x00asm\x01\x00\x00\x00"), CompileOptions{Format: "wasm64-unknown-emscripten-draft_2024_02_15"})
	if !errors.Is(err, ErrUnsupportedFormat) {
		t.Fatalf("wasm64: %v", err)
	}
	if _, err := rts[module.WASI].Compile(ctx, []byte("not wasm"), CompileOptions{Format: module.WASI}); err == nil {
		t.Fatal("garbage compiled")
	}
}
