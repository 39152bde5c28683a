package evidence_test

import (
	"encoding/base64"
	"testing"

	"github.com/aonode/aonode/su/evidence"
	et "github.com/aonode/aonode/su/evidence/evidencetest"
)

func encode(b []byte) string          { return base64.RawURLEncoding.EncodeToString(b) }
func decode(s string) ([]byte, error) { return base64.RawURLEncoding.DecodeString(s) }

// FuzzParse feeds the evidence parser arbitrary bytes, seeded with valid evidence: it must
// never panic, and whatever it accepts must encode back to evidence that parses to the same.
func FuzzParse(f *testing.F) {
	k, s := et.Key(f), et.Key(f)
	p := et.Process(f, k, et.Address(s))
	e, err := evidence.New(et.Assignment(f, s, p.ID(), 1, et.MessageID(), 1), et.Assignment(f, s, p.ID(), 1, et.MessageID(), 2))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(e.Marshal())
	f.Add(e.WithProcess(p).Marshal())
	f.Add([]byte(`{"process":"","nonce":0,"assignments":["",""]}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := evidence.Parse(data)
		if err != nil {
			return
		}
		_ = e.Verify(nil)
		back, err := evidence.Parse(e.Marshal())
		if err != nil {
			t.Fatalf("accepted evidence does not round-trip: %v", err)
		}
		if back.Key() != e.Key() || back.Nonce() != e.Nonce() || back.Process() != e.Process() {
			t.Fatal("round trip changed the evidence")
		}
	})
}
