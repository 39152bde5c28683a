package emscripten

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/aonode/aonode/cu/module"
)

// TestSqliteModule runs the lsqlite3 build (no vector file: its memory is not deterministic
// in the reference, which seeds sqlite from host entropy). The expected Outputs were observed
// from @permaweb/ao-loader@0.0.49 on Node 20 for these exact messages.
func TestSqliteModule(t *testing.T) {
	if short() {
		t.Skip("compiling the 2 MiB lsqlite3 build takes most of a minute under -race; set AONODE_SOAK=1")
	}
	eng := newEngine(t)
	ctx := context.Background()
	mod, err := eng.Compile(ctx, fixture(t, "emscripten2_sqlite.wasm"), Options{Format: module.Emscripten2, ComputeLimit: 9e12})
	if err != nil {
		t.Fatal(err)
	}
	proc := mod.NewProcess(nil)
	defer proc.Close(ctx)
	env := []byte(`{"Process":{"Id":"ctr-id-456","Owner":"tom","Tags":[{"name":"Module","value":"1234"}]},"Module":{"Id":"1234","Owner":"tom","Tags":[]}}`)
	msg := func(id, data string) []byte {
		b, err := json.Marshal(map[string]any{"Id": id, "Owner": "tom", "From": "tom", "Target": "ctr-id-456", "Module": "1234",
			"Block-Height": 1000, "Timestamp": 1700000001000, "Tags": []map[string]string{{"name": "Action", "value": "Eval"}}, "Data": data})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	steps := []struct{ data, output string }{
		{"local sqlite3 = require('lsqlite3')\nlocal db = sqlite3.open_memory()\ndb:exec('CREATE TABLE t(x INTEGER); INSERT INTO t VALUES (41),(1)')\nlocal s = 0\nfor row in db:nrows('SELECT x FROM t') do s = s + row.x end\nreturn s",
			`{"data":{"output":42,"json":"undefined","prompt":"aos> "}}`},
		{"return sqlite3 == nil", `{"data":{"output":true,"json":"undefined","prompt":"aos> "}}`},
	}
	for i, s := range steps {
		res, err := proc.Eval(ctx, msg("msg-"+string(rune('1'+i)), s.data), env)
		if err != nil {
			t.Fatal(err)
		}
		if res.Error != nil || !sameBytes(res.Output, json.RawMessage(s.output)) || res.GasUsed != 0 {
			t.Errorf("step %d: Output %s Error %s GasUsed %d, want %s", i, res.Output, res.Error, res.GasUsed, s.output)
		}
		if got := len(proc.Memory()); got != 7602176 {
			t.Errorf("step %d: memory %d bytes, want 7602176", i, got)
		}
	}
}
