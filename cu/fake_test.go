package cu

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/aonode/aonode/cu/module"
)

// fakeFormat is the Module-Format of the test double.
const fakeFormat module.Format = "wasm32-unknown-emscripten2"

// fakeRuntime is a deterministic stand-in for a module runtime. Its "memory" is 64 bytes of
// state: a running SHA-256 over every message (0:32), a counter (32:40), a boot flag (40),
// plus whatever "Grow" appended. Actions: Fail (Error result), Trap (Threw result), HostFail
// (returns an error), Grow (+4 KiB), Spin (runs until its context ends), anything else
// counts. Both Fail and Trap scribble on the memory first, so a CU that does not restore the
// previous memory is caught.
type fakeRuntime struct {
	compiles atomic.Int64
	handles  atomic.Int64
	mu       sync.Mutex
	seen     [][]byte // msg JSON of every Handle, when record is set
	record   bool
}

func (f *fakeRuntime) Compile(_ context.Context, wasm []byte, opts CompileOptions) (Module, error) {
	if string(wasm) == "broken" {
		return nil, errors.New("not a wasm module")
	}
	f.compiles.Add(1)
	return &fakeModule{rt: f, opts: opts}, nil
}

type fakeModule struct {
	rt   *fakeRuntime
	opts CompileOptions
}

func (m *fakeModule) Instantiate(_ context.Context, memory []byte) (Instance, error) {
	mem := make([]byte, 64)
	if memory != nil {
		mem = append([]byte(nil), memory...)
	}
	return &fakeInstance{m: m, mem: mem}, nil
}

func (m *fakeModule) Close(context.Context) error { return nil }

type fakeInstance struct {
	m      *fakeModule
	mem    []byte
	closed bool
}

type fakeMsg struct {
	ID       string `json:"Id"`
	From     string `json:"From"`
	Owner    string `json:"Owner"`
	Data     any    `json:"Data"`
	Tags     []Tag  `json:"Tags"`
	Cron     bool   `json:"Cron"`
	ReadOnly bool   `json:"Read-Only"`
	Nonce    *int64 `json:"Nonce"`
}

func (i *fakeInstance) Handle(ctx context.Context, msg, env []byte) (module.Result, error) {
	if i.closed {
		return module.Result{}, errors.New("instance closed")
	}
	if err := ctx.Err(); err != nil {
		return module.Result{}, err
	}
	i.m.rt.handles.Add(1)
	if i.m.rt.record {
		i.m.rt.mu.Lock()
		i.m.rt.seen = append(i.m.rt.seen, append([]byte(nil), msg...))
		i.m.rt.mu.Unlock()
	}
	var m fakeMsg
	if err := json.Unmarshal(msg, &m); err != nil {
		return module.Result{}, err
	}
	h := sha256.New()
	h.Write(i.mem[:32])
	h.Write(msg)
	h.Write(env)
	copy(i.mem[:32], h.Sum(nil))
	n := binary.BigEndian.Uint64(i.mem[32:40]) + 1
	binary.BigEndian.PutUint64(i.mem[32:40], n)
	action, _ := tagValue(m.Tags, "Action")
	gas := uint64(len(msg))
	switch {
	case action == "Fail":
		return module.Result{Error: json.RawMessage(`"handled failure"`), Output: json.RawMessage(`"partial"`), GasUsed: gas}, nil
	case action == "Trap":
		return module.Result{Threw: true, Error: json.RawMessage(`"unreachable executed"`)}, nil
	case action == "HostFail":
		return module.Result{}, errors.New("host failure")
	case action == "Spin":
		// A message that never ends on its own, like "while true do end" with a huge
		// Compute-Limit: only the context stops it, as it stops the real runtimes.
		<-ctx.Done()
		return module.Result{}, fmt.Errorf("module closed: %w", ctx.Err())
	case action == "Grow":
		i.mem = append(i.mem, make([]byte, 4096)...)
	case m.ID != "" && m.Nonce == nil && !m.Cron:
		i.mem[40] = 1 // the process message of a legacy process (no Nonce)
	}
	out := fmt.Sprintf("count=%d ro=%v cron=%v boot=%d", n, m.ReadOnly, m.Cron, i.mem[40])
	outJSON, _ := json.Marshal(out)
	msgs, _ := json.Marshal([]map[string]any{{"Target": m.From, "Data": "ack", "Tags": []Tag{{Name: "Ref", Value: m.ID}}}})
	return module.Result{Output: outJSON, Messages: msgs, GasUsed: gas}, nil
}

func (i *fakeInstance) Memory() []byte { return i.mem }

func (i *fakeInstance) Close(context.Context) error {
	i.closed = true
	return nil
}
