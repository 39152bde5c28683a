package emscripten

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"github.com/aonode/aonode/cu/module"
)

// TestHandleKeptMatchesHandle runs aos messages that succeed, fail with an Error (a handler
// that changes state, then throws) and run out of gas, once through Handle and once through
// HandleKept with the caller's copy of the memory: every result and the memory after every
// message are the same, so the instance restores from the caller's copy exactly as from its own.
func TestHandleKeptMatchesHandle(t *testing.T) {
	if raceEnabled {
		t.Skip("runs aos (slow under -race)")
	}
	wasm := fixture(t, "aos.wasm")
	ctx := context.Background()
	mod, err := newEngine(t).Compile(ctx, wasm, Options{Format: module.Emscripten2, ComputeLimit: 20_000_000_000})
	if err != nil {
		t.Fatal(err)
	}
	env := []byte(`{"Process":{"Id":"pid","Owner":"tom","Tags":[{"name":"Module","value":"m"}]},"Module":{"Id":"m","Owner":"tom","Tags":[]}}`)
	msg := func(i int, action, data string) []byte {
		return fmt.Appendf(nil, `{"Id":"m%d","Owner":"tom","From":"tom","Target":"pid","Module":"m","Block-Height":1,"Timestamp":%d,"Tags":[{"name":"Action","value":%q}],"Data":%q}`,
			i, 1700000000000+i, action, data)
	}
	msgs := [][]byte{
		msg(0, "Eval", "X = 1\nHandlers.add('boom', Handlers.utils.hasMatchingTag('Action','Boom'), function(m) X = X + 1; error('boom') end)\nreturn X"),
		msg(1, "Boom", ""),
		msg(2, "Eval", "X = X + 1\nreturn X"),
		msg(3, "Eval", "local i = 0\nwhile true do i = i + 1 end"),
		msg(4, "Eval", "return X"),
		msg(5, "Boom", ""),
		msg(6, "Eval", "return X"),
	}
	plain, err := mod.Instantiate(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close(ctx)
	kept, err := mod.Instantiate(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer kept.Close(ctx)
	copyMem := append([]byte(nil), kept.Memory()...)
	for i, m := range msgs {
		want, err := plain.Handle(ctx, m, env)
		if err != nil {
			t.Fatal(err)
		}
		got, err := kept.HandleKept(ctx, m, env, copyMem)
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("message %d: HandleKept %s\nHandle %s", i, got.Error, want.Error)
		}
		if !bytes.Equal(plain.Memory(), kept.Memory()) {
			t.Fatalf("message %d: memory differs", i)
		}
		if got.Error == nil {
			copyMem = append(copyMem[:0], kept.Memory()...) // as the CU keeps it
		}
		if i == 3 && string(got.Error) != `"out of gas!"` {
			t.Fatalf("message 3: %s, want out of gas", got.Error)
		}
	}
}
