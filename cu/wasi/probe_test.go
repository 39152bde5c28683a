package wasi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aonode/aonode/cu/module"
)

const probeEnv = `{"Process":{"Id":"proc-1","Owner":"owner-1","Tags":[]},"Module":{"Id":"mod-1","Owner":"owner-1","Tags":[]}}`

func probeMsg(id, action, data string, ts int64) []byte {
	b, _ := json.Marshal(map[string]any{
		"Id": id, "Owner": "owner-1", "From": "owner-1", "Target": "proc-1", "Data": data,
		"Timestamp": ts, "Block-Height": 7, "Nonce": 1, "Epoch": 0, "Cron": false,
		"Tags": []map[string]string{{"name": "Action", "value": action}},
	})
	return b
}

// send evaluates one probe message and fails the test on a Go error.
func send(t *testing.T, inst *Instance, id, action, data string, ts int64) module.Result {
	t.Helper()
	res, err := inst.Handle(context.Background(), probeMsg(id, action, data, ts), []byte(probeEnv))
	if err != nil {
		t.Fatalf("%s: Handle: %v", action, err)
	}
	return res
}

// errorText returns the result's Error, which this package always writes as a JSON string.
func errorText(t *testing.T, r module.Result) string {
	t.Helper()
	var s string
	if err := json.Unmarshal(r.Error, &s); err != nil {
		t.Fatalf("Error %s is not a string: %v", r.Error, err)
	}
	return s
}

func TestEchoPassesMessageAndEnv(t *testing.T) {
	inst := instantiate(t, compile(t, probeWasm, Options{}), nil)
	res := send(t, inst, "msg-1", "Echo", "hello", 1700000000123)
	if res.Error != nil {
		t.Fatalf("Error: %s", res.Error)
	}
	var out struct {
		Msg struct {
			ID          string `json:"Id"`
			Data        string
			Timestamp   int64
			BlockHeight int64 `json:"Block-Height"`
		} `json:"msg"`
		Env struct {
			Process struct {
				ID string `json:"Id"`
			}
		} `json:"env"`
	}
	if err := json.Unmarshal(res.Output, &out); err != nil {
		t.Fatalf("Output %s: %v", res.Output, err)
	}
	if out.Msg.ID != "msg-1" || out.Msg.Data != "hello" || out.Msg.Timestamp != 1700000000123 || out.Msg.BlockHeight != 7 || out.Env.Process.ID != "proc-1" {
		t.Fatalf("echo = %+v", out)
	}
	if res.GasUsed != 0 {
		t.Fatalf("GasUsed = %d, want 0 (WASI modules are not metered)", res.GasUsed)
	}
}

func TestClockIsTheMessageTimestamp(t *testing.T) {
	inst := instantiate(t, compile(t, probeWasm, Options{}), nil)
	for _, tc := range []struct {
		ts      int64
		sleepMs string
	}{{1700000000123, "0"}, {1700000000500, "2500"}, {1600000000000, "1"}} {
		res := send(t, inst, "m", "Clock", tc.sleepMs, tc.ts)
		var out struct{ UnixMilli, UnixNano, SleptNano int64 }
		if err := json.Unmarshal(res.Output, &out); err != nil {
			t.Fatalf("Output %s: %v", res.Output, err)
		}
		if out.UnixMilli != tc.ts || out.UnixNano != tc.ts*1_000_000 {
			t.Fatalf("time.Now at %d = %d ms / %d ns", tc.ts, out.UnixMilli, out.UnixNano)
		}
		// Sleeping advances the virtual clock by exactly the duration slept.
		var sleep int64
		fmt.Sscan(tc.sleepMs, &sleep)
		if out.SleptNano != sleep*1_000_000 {
			t.Fatalf("slept %d ms, clock advanced %d ns", sleep, out.SleptNano)
		}
	}
}

func TestRandomIsSeededByTheMessage(t *testing.T) {
	m := compile(t, probeWasm, Options{})
	a, b := instantiate(t, m, nil), instantiate(t, m, nil)
	ra := send(t, a, "msg-1", "Random", "", 1000)
	rb := send(t, b, "msg-1", "Random", "", 1000)
	if !bytes.Equal(ra.Output, rb.Output) {
		t.Fatalf("same message, different randomness: %s vs %s", ra.Output, rb.Output)
	}
	rc := send(t, a, "msg-2", "Random", "", 1000)
	var x, y struct{ Crypto string }
	_ = json.Unmarshal(ra.Output, &x)
	_ = json.Unmarshal(rc.Output, &y)
	if x.Crypto == "" || x.Crypto == y.Crypto {
		t.Fatalf("crypto/rand did not follow the message id: %s vs %s", ra.Output, rc.Output)
	}
}

func TestErrorResultKeepsPreviousState(t *testing.T) {
	inst := instantiate(t, compile(t, probeWasm, Options{}), nil)
	send(t, inst, "1", "Count", "", 1)
	before := sha256.Sum256(inst.Snapshot())
	memLen := len(inst.Memory())
	// Fail also allocates 16 MiB, so memory grows inside the failed message.
	res := send(t, inst, "2", "Fail", "16", 2)
	if got := errorText(t, res); got != "failed on purpose" {
		t.Fatalf("Error = %q", got)
	}
	if string(res.Output) != "2" {
		t.Fatalf("Output of the failed message = %s, want 2 (kept as produced)", res.Output)
	}
	if sha256.Sum256(inst.Snapshot()) != before || len(inst.Memory()) != memLen {
		t.Fatal("a failed message changed the committed state")
	}
	if res := send(t, inst, "3", "Count", "", 3); string(res.Output) != "2" {
		t.Fatalf("after the failure Count = %s, want 2", res.Output)
	}
}

func TestTrapsAndExitsKeepPreviousState(t *testing.T) {
	inst := instantiate(t, compile(t, probeWasm, Options{}), nil)
	send(t, inst, "0", "Count", "", 1)
	for _, tc := range []struct {
		action string
		want   []string
	}{
		{"Panic", []string{"panic: assignment to entry in nil map"}},
		{"Exit", []string{"process exited with code 3", "exiting"}},
		{"Crash", []string{"wasm error: unreachable", "panic: crash in a goroutine"}},
		{"Nope", []string{"unknown action Nope"}},
	} {
		t.Run(tc.action, func(t *testing.T) {
			before := sha256.Sum256(inst.Snapshot())
			res := send(t, inst, tc.action, tc.action, "", 2)
			text := errorText(t, res)
			for _, w := range tc.want {
				if !strings.Contains(text, w) {
					t.Fatalf("Error %q lacks %q", text, w)
				}
			}
			if sha256.Sum256(inst.Snapshot()) != before {
				t.Fatal("the failed message changed the committed state")
			}
		})
	}
	if res := send(t, inst, "last", "Count", "", 3); string(res.Output) != "2" {
		t.Fatalf("after the failures Count = %s, want 2", res.Output)
	}
}

func TestMemoryLimit(t *testing.T) {
	m := compile(t, probeWasm, Options{MemoryLimitBytes: 32 << 20})
	inst := instantiate(t, m, nil)
	send(t, inst, "1", "Count", "", 1)
	res := send(t, inst, "2", "Alloc", "64", 2)
	if text := errorText(t, res); !strings.Contains(text, "out of memory") {
		t.Fatalf("Error = %q, want an out-of-memory exit", text)
	}
	if len(inst.Memory()) > 32<<20 {
		t.Fatalf("memory %d exceeds the limit", len(inst.Memory()))
	}
	if res := send(t, inst, "3", "Count", "", 3); string(res.Output) != "2" {
		t.Fatalf("Count = %s, want 2", res.Output)
	}
	if _, err := Compile(context.Background(), probeWasm, Options{MemoryLimitBytes: 1 << 20}); !errors.Is(err, ErrMemoryLimit) {
		t.Fatalf("Compile under the module's initial memory: %v, want ErrMemoryLimit", err)
	}
	if _, err := m.Instantiate(context.Background(), hugeSnapshot(t, m, 64<<20)); !errors.Is(err, ErrMemoryLimit) {
		t.Fatalf("Instantiate from a snapshot over the limit: %v, want ErrMemoryLimit", err)
	}
}

// hugeSnapshot is a syntactically valid snapshot of memLen bytes of memory.
func hugeSnapshot(t *testing.T, m *Module, memLen int) []byte {
	t.Helper()
	s := make([]byte, memLen+8*len(m.globals)+4)
	s[memLen+8*len(m.globals)] = byte(len(m.globals))
	return append(s, snapshotMagic...)
}

func TestContextDeadlineInterruptsAndKeepsState(t *testing.T) {
	inst := instantiate(t, compile(t, probeWasm, Options{}), nil)
	send(t, inst, "1", "Count", "", 1)
	before := sha256.Sum256(inst.Snapshot())
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err := inst.Handle(ctx, probeMsg("2", "Spin", "", 2), []byte(probeEnv))
	if !errors.Is(err, ErrInterrupted) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Handle(Spin) = %v, want ErrInterrupted wrapping DeadlineExceeded", err)
	}
	if sha256.Sum256(inst.Snapshot()) != before {
		t.Fatal("an interrupted message changed the committed state")
	}
	if res := send(t, inst, "3", "Count", "", 3); string(res.Output) != "2" {
		t.Fatalf("Count = %s, want 2", res.Output)
	}
}

func TestOutputIsCappedAndDiscarded(t *testing.T) {
	inst := instantiate(t, compile(t, probeWasm, Options{}), nil)
	res := send(t, inst, "1", "Chatter", "300", 1) // 300 KiB to each stream
	if res.Error != nil || string(res.Output) != `"ok"` {
		t.Fatalf("Chatter = %s / %s", res.Output, res.Error)
	}
	if len(inst.stderr.bytes()) != outputCapBytes {
		t.Fatalf("kept %d bytes of stderr, want the cap %d", len(inst.stderr.bytes()), outputCapBytes)
	}
}

func TestSnapshotRestoresIntoAFreshInstance(t *testing.T) {
	m := compile(t, probeWasm, Options{})
	a := instantiate(t, m, nil)
	for i := range 3 {
		send(t, a, fmt.Sprint(i), "Count", "", int64(i))
	}
	send(t, a, "alloc", "Alloc", "8", 4) // grow memory past its initial size
	b := instantiate(t, m, a.Snapshot())
	if !bytes.Equal(a.Snapshot(), b.Snapshot()) {
		t.Fatal("a restored instance does not report the snapshot it was given")
	}
	ra := send(t, a, "4", "Count", "", 5)
	rb := send(t, b, "4", "Count", "", 5)
	if string(ra.Output) != "4" || string(rb.Output) != "4" {
		t.Fatalf("Count after restore = %s (live) / %s (restored), want 4", ra.Output, rb.Output)
	}
	if !bytes.Equal(a.Snapshot(), b.Snapshot()) {
		t.Fatal("live and restored instances diverged")
	}
}

func TestInstantiateRejectsBadSnapshots(t *testing.T) {
	m := compile(t, probeWasm, Options{})
	good := instantiate(t, m, nil).Snapshot()
	memLen := len(good) - 8*len(m.globals) - 4 - len(snapshotMagic)
	for name, s := range map[string][]byte{
		"empty":        {},
		"no magic":     good[:len(good)-1],
		"bad count":    append(append(bytes.Clone(good[:len(good)-12]), 0xff, 0, 0, 0), snapshotMagic...),
		"partial page": append(make([]byte, 100), good[memLen:]...),
		"too small":    good[memLen:],
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := m.Instantiate(context.Background(), s); !errors.Is(err, ErrInvalidSnapshot) {
				t.Fatalf("Instantiate = %v, want ErrInvalidSnapshot", err)
			}
		})
	}
}

func TestHandleRejectsBadInput(t *testing.T) {
	inst := instantiate(t, compile(t, probeWasm, Options{}), nil)
	env := []byte(probeEnv)
	for name, tc := range map[string]struct{ msg, env string }{
		"msg not object":   {`[1]`, probeEnv},
		"env not object":   {`{}`, `null`},
		"bad json":         {`{"Id":`, probeEnv},
		"id not string":    {`{"Id":5}`, probeEnv},
		"negative time":    {`{"Timestamp":-1}`, probeEnv},
		"fractional time":  {`{"Timestamp":1.5}`, probeEnv},
		"time overflow":    {`{"Timestamp":99999999999999999}`, probeEnv},
		"time not numeric": {`{"Timestamp":"soon"}`, probeEnv},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := inst.Handle(context.Background(), []byte(tc.msg), []byte(tc.env))
			if !errors.Is(err, ErrInvalidInput) {
				t.Fatalf("Handle = %v, want ErrInvalidInput", err)
			}
		})
	}
	// A string timestamp, as the reference loader's tests send, is accepted.
	if _, err := inst.Handle(context.Background(), []byte(`{"Timestamp":"42","Tags":[{"name":"Action","value":"Count"}]}`), env); err != nil {
		t.Fatalf("string Timestamp: %v", err)
	}
}

func TestClosed(t *testing.T) {
	ctx := context.Background()
	m, err := Compile(ctx, probeWasm, Options{CompilationCache: testCache, Interpreter: raceEnabled})
	if err != nil {
		t.Fatal(err)
	}
	inst, err := m.Instantiate(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	snap := inst.Snapshot()
	if err := inst.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := inst.Handle(ctx, probeMsg("1", "Count", "", 1), []byte(probeEnv)); !errors.Is(err, ErrClosed) {
		t.Fatalf("Handle after Close = %v, want ErrClosed", err)
	}
	if !bytes.Equal(inst.Snapshot(), snap) {
		t.Fatal("Snapshot changed after Close")
	}
	if err := m.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Instantiate(ctx, snap); !errors.Is(err, ErrClosed) {
		t.Fatalf("Instantiate after Module.Close = %v, want ErrClosed", err)
	}
}

func TestSnapshotsHandedOutStayValid(t *testing.T) {
	inst := instantiate(t, compile(t, probeWasm, Options{}), nil)
	send(t, inst, "1", "Count", "", 1)
	snap := inst.Snapshot()
	kept := sha256.Sum256(snap)
	if inst.MemorySHA256() != sha256.Sum256(inst.Memory()) {
		t.Fatal("MemorySHA256 differs from the hash of Memory")
	}
	for i := range 3 {
		send(t, inst, fmt.Sprint("n", i), "Count", "", 2)
	}
	if sha256.Sum256(snap) != kept {
		t.Fatal("a later message overwrote a snapshot that was handed out")
	}
	if sha256.Sum256(inst.Snapshot()) == kept {
		t.Fatal("the state did not change")
	}
}

// TestGoReactorNeedsItsGlobals shows why a snapshot holds the mutable globals: the memory of
// a Go reactor restored without them (globals at their initial values) is unusable.
func TestGoReactorNeedsItsGlobals(t *testing.T) {
	ctx := context.Background()
	m := compile(t, probeWasm, Options{})
	a := instantiate(t, m, nil)
	send(t, a, "1", "Count", "", 1)

	b := &Instance{m: m}
	if err := b.instantiate(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close(ctx) })
	mem := a.Memory()
	if _, ok := b.memory.Grow(uint32(len(mem)/pageSize) - b.memory.Size()/pageSize); !ok {
		t.Fatal("grow failed")
	}
	b.memory.Write(0, mem)
	b.commit()
	res := send(t, b, "2", "Count", "", 2)
	if !res.Threw || !strings.Contains(errorText(t, res), "before runtime initialization") {
		t.Fatalf("memory-only restore: %s / %s, want the Go runtime's initialisation failure", res.Output, res.Error)
	}
	// The same memory with the globals works.
	c := instantiate(t, m, a.Snapshot())
	if res := send(t, c, "2", "Count", "", 2); string(res.Output) != "2" {
		t.Fatalf("full restore: %s / %s", res.Output, res.Error)
	}
}

func TestHandleAfterModuleClose(t *testing.T) {
	ctx := context.Background()
	m, err := Compile(ctx, probeWasm, Options{CompilationCache: testCache, Interpreter: raceEnabled})
	if err != nil {
		t.Fatal(err)
	}
	inst, err := m.Instantiate(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := inst.Handle(ctx, probeMsg("1", "Count", "", 1), []byte(probeEnv)); !errors.Is(err, ErrClosed) {
		t.Fatalf("Handle after Module.Close = %v, want ErrClosed", err)
	}
}
