package wasi

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"testing"
)

const tokenEnv = `{"Process":{"Id":"token-proc","Owner":"alice","Tags":[{"name":"Module","value":"token-mod"}]},"Module":{"Id":"token-mod","Owner":"alice","Tags":[]}}`

type tokenStep struct {
	from     string
	tags     [][2]string
	output   string // exact Output JSON, "" for none
	messages string // exact Messages JSON, "" for none
	err      string // exact Error JSON, "" for none
}

func (s tokenStep) msg(i int) []byte {
	tags := make([]map[string]string, len(s.tags))
	for k, t := range s.tags {
		tags[k] = map[string]string{"name": t[0], "value": t[1]}
	}
	b, _ := json.Marshal(map[string]any{
		"Id": fmt.Sprintf("msg-%d", i), "Owner": s.from, "From": s.from, "Target": "token-proc",
		"Timestamp": 1700000000000 + int64(i)*1000, "Nonce": i, "Epoch": 0, "Block-Height": 1500000,
		"Data": "", "Cron": false, "Read-Only": false, "Tags": tags,
	})
	return b
}

var tokenSession = []tokenStep{
	{from: "alice", tags: [][2]string{{"Action", "Mint"}, {"Quantity", "1000"}},
		output: `"minted 1000 to alice"`},
	{from: "bob", tags: [][2]string{{"Action", "Mint"}, {"Quantity", "5"}},
		err: `"Mint: only the process owner can mint"`},
	{from: "alice", tags: [][2]string{{"Action", "Transfer"}, {"Recipient", "bob"}, {"Quantity", "250"}},
		output: `"transferred 250 to bob"`,
		messages: `[{"Target":"alice","Anchor":"00000000000000000000000000000001","Tags":[{"name":"Action","value":"Debit-Notice"},{"name":"Recipient","value":"bob"},{"name":"Quantity","value":"250"}]},` +
			`{"Target":"bob","Anchor":"00000000000000000000000000000002","Tags":[{"name":"Action","value":"Credit-Notice"},{"name":"Sender","value":"alice"},{"name":"Quantity","value":"250"}]}]`},
	{from: "bob", tags: [][2]string{{"Action", "Transfer"}, {"Recipient", "carol"}, {"Quantity", "300"}},
		err: `"Transfer: insufficient balance: bob has 250, needs 300"`},
	{from: "bob", tags: [][2]string{{"Action", "Balance"}},
		output:   `"250"`,
		messages: `[{"Target":"bob","Anchor":"00000000000000000000000000000003","Data":"250","Tags":[{"name":"Action","value":"Balance-Response"},{"name":"Balance","value":"250"},{"name":"Ticker","value":"EXT"},{"name":"Account","value":"bob"}]}]`},
	{from: "carol", tags: [][2]string{{"Action", "Balances"}},
		messages: `[{"Target":"carol","Anchor":"00000000000000000000000000000004","Data":"{\"alice\":\"750\",\"bob\":\"250\"}","Tags":[{"name":"Action","value":"Balances-Response"}]}]`},
	{from: "bob", tags: [][2]string{{"Action", "Transfer"}, {"Recipient", "carol"}, {"Quantity", "250"}},
		output: `"transferred 250 to carol"`,
		messages: `[{"Target":"bob","Anchor":"00000000000000000000000000000005","Tags":[{"name":"Action","value":"Debit-Notice"},{"name":"Recipient","value":"carol"},{"name":"Quantity","value":"250"}]},` +
			`{"Target":"carol","Anchor":"00000000000000000000000000000006","Tags":[{"name":"Action","value":"Credit-Notice"},{"name":"Sender","value":"bob"},{"name":"Quantity","value":"250"}]}]`},
	{from: "dave", tags: [][2]string{{"Action", "Info"}},
		messages: `[{"Target":"dave","Anchor":"00000000000000000000000000000007","Tags":[{"name":"Action","value":"Info-Response"},{"name":"Name","value":"Example Token"},{"name":"Ticker","value":"EXT"},{"name":"Denomination","value":"12"},{"name":"Total-Supply","value":"1000"}]}]`},
	{from: "alice", tags: [][2]string{{"Action", "Balances"}},
		messages: `[{"Target":"alice","Anchor":"00000000000000000000000000000008","Data":"{\"alice\":\"750\",\"carol\":\"250\"}","Tags":[{"name":"Action","value":"Balances-Response"}]}]`},
	{from: "alice", tags: [][2]string{{"Action", "Burn"}},
		err: `"Burn: unknown action \"Burn\""`},
}

// stateHashes are the SHA-256 of Memory and of Snapshot after one message.
type stateHashes struct{ memory, snapshot [32]byte }

// runTokenSession evaluates tokenSession, checking every result, and returns the state
// hashes after each message. With rehydrate, every message runs in a fresh instance restored
// from the previous message's snapshot, as a CU does after a restart.
func runTokenSession(t *testing.T, m *Module, rehydrate bool) []stateHashes {
	t.Helper()
	ctx := context.Background()
	inst := instantiate(t, m, nil)
	var hashes []stateHashes
	for i, step := range tokenSession {
		if rehydrate {
			inst = instantiate(t, m, inst.Snapshot())
		}
		before := sha256.Sum256(inst.Snapshot())
		res, err := inst.Handle(ctx, step.msg(i), []byte(tokenEnv))
		if err != nil {
			t.Fatalf("step %d: Handle: %v", i, err)
		}
		checkField(t, i, "Output", res.Output, step.output)
		checkField(t, i, "Messages", res.Messages, step.messages)
		checkField(t, i, "Error", res.Error, step.err)
		checkField(t, i, "Spawns", res.Spawns, "[]")
		checkField(t, i, "Assignments", res.Assignments, "[]")
		h := stateHashes{sha256.Sum256(inst.Memory()), sha256.Sum256(inst.Snapshot())}
		if step.err != "" && h.snapshot != before {
			t.Fatalf("step %d: an Error changed the state", i)
		}
		hashes = append(hashes, h)
	}
	return hashes
}

func checkField(t *testing.T, step int, name string, got []byte, want string) {
	t.Helper()
	switch {
	case name == "Spawns" || name == "Assignments" || name == "Messages" && want == "":
		// encoding/json writes nil slices as null, which the host drops.
		if got != nil && string(got) != "[]" {
			t.Fatalf("step %d: %s = %s, want none", step, name, got)
		}
	case string(got) != want:
		t.Fatalf("step %d: %s = %s\nwant %s", step, name, got, want)
	}
}

// TestTokenDeterministic is the acceptance test of the WASI format: the example token, built
// from source, evaluated by two independent runtimes (one of them restoring every message
// from the previous snapshot, and using the other wazero engine) yields the same results and
// the same memory after every message.
func TestTokenDeterministic(t *testing.T) {
	live := runTokenSession(t, compile(t, tokenWasm, Options{}), false)
	// A second Module with its own runtime, no shared cache and wazero's interpreter (the
	// first uses the compiler unless the race detector is on).
	independent, err := Compile(context.Background(), tokenWasm, Options{Interpreter: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = independent.Close(context.Background()) })
	rehydrated := runTokenSession(t, independent, true)
	for i := range live {
		if live[i] != rehydrated[i] {
			t.Fatalf("step %d: memory %x / snapshot %x vs memory %x / snapshot %x",
				i, live[i].memory, live[i].snapshot, rehydrated[i].memory, rehydrated[i].snapshot)
		}
	}
	t.Logf("memory SHA-256 after the session: %x", live[len(live)-1].memory)
}

// BenchmarkTokenTransfer measures one Transfer message, including the copy of memory that
// commits the new state.
func BenchmarkTokenTransfer(b *testing.B) {
	m := compile(b, tokenWasm, Options{CompilationCache: testCache})
	inst := instantiate(b, m, nil)
	ctx := context.Background()
	env := []byte(tokenEnv)
	mint := tokenStep{from: "alice", tags: [][2]string{{"Action", "Mint"}, {"Quantity", "1000000000"}}}
	if res, err := inst.Handle(ctx, mint.msg(0), env); err != nil || res.Error != nil {
		b.Fatalf("mint: %v %s", err, res.Error)
	}
	msgs := make([][]byte, 64)
	for k := range msgs {
		step := tokenStep{from: "alice", tags: [][2]string{{"Action", "Transfer"}, {"Recipient", fmt.Sprintf("acct-%d", k)}, {"Quantity", "1"}}}
		msgs[k] = step.msg(k + 1)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		res, err := inst.Handle(ctx, msgs[i%len(msgs)], env)
		if err != nil || res.Error != nil {
			b.Fatalf("transfer: %v %s", err, res.Error)
		}
	}
	b.ReportMetric(float64(len(inst.Memory())), "memory-bytes")
}

// BenchmarkRestore measures hydrating an instance from a snapshot.
func BenchmarkRestore(b *testing.B) {
	m := compile(b, tokenWasm, Options{CompilationCache: testCache})
	snap := instantiate(b, m, nil).Snapshot()
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		inst, err := m.Instantiate(ctx, snap)
		if err != nil {
			b.Fatal(err)
		}
		_ = inst.Close(ctx)
	}
}
