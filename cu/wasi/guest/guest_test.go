package guest

import (
	"encoding/json"
	"testing"
)

func TestEvaluate(t *testing.T) {
	t.Cleanup(func() { handler = nil })
	if got := string(Evaluate([]byte(`{}`), []byte(`{}`))); got != `{"Error":"guest: no handler registered"}` {
		t.Fatalf("without handler: %s", got)
	}
	Handle(func(msg *Message, env *Env) Result {
		if v, _ := msg.Tag("Action"); v == "Panic" {
			panic("boom")
		}
		return Result{Output: map[string]any{
			"ts": msg.Timestamp, "height": msg.BlockHeight, "proc": env.Process.ID, "fwd": msg.ForwardedBy,
		}}
	})
	for name, tc := range map[string]struct{ msg, want string }{
		"numbers": {`{"Timestamp":1700000000000,"Block-Height":"12","Forwarded-By":"mu","Tags":[]}`,
			`{"Output":{"fwd":"mu","height":12,"proc":"p","ts":1700000000000},"Messages":null,"Spawns":null,"Assignments":null}`},
		"panic":     {`{"Tags":[{"name":"Action","value":"Panic"}]}`, `{"Error":"panic: boom"}`},
		"bad msg":   {`[]`, `{"Error":"guest: decoding msg: json: cannot unmarshal array into Go value of type guest.Message"}`},
		"bad int":   {`{"Nonce":"x"}`, `{"Error":"guest: decoding msg: guest: \"x\" is not an integer"}`},
		"null time": {`{"Timestamp":null}`, `{"Output":{"fwd":"","height":0,"proc":"p","ts":0},"Messages":null,"Spawns":null,"Assignments":null}`},
	} {
		t.Run(name, func(t *testing.T) {
			got := Evaluate([]byte(tc.msg), []byte(`{"Process":{"Id":"p"}}`))
			if string(got) != tc.want {
				t.Fatalf("Evaluate = %s\nwant       %s", got, tc.want)
			}
			if !json.Valid(got) {
				t.Fatal("invalid JSON")
			}
		})
	}
}
