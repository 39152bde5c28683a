package evidence_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/aonode/aonode/dataitem"
	"github.com/aonode/aonode/dataitem/aoapi"
	"github.com/aonode/aonode/su/evidence"
	et "github.com/aonode/aonode/su/evidence/evidencetest"
)

type fixture struct {
	a, b, outsider dataitem.Signer
	process        *dataitem.Item
}

func newFixture(t *testing.T) fixture {
	f := fixture{a: et.Key(t), b: et.Key(t), outsider: et.Key(t)}
	f.process = et.Process(t, et.Key(t), et.Address(f.b), et.Address(f.a), et.Address(et.Key(t)))
	return f
}

func TestEvidenceVerifies(t *testing.T) {
	f := newFixture(t)
	pid := f.process.ID()
	for name, signers := range map[string][2]dataitem.Signer{
		"one signer":  {f.a, f.a},
		"two signers": {f.a, f.b},
	} {
		t.Run(name, func(t *testing.T) {
			x := et.Assignment(t, signers[0], pid, 7, et.MessageID(), 1000)
			y := et.Assignment(t, signers[1], pid, 7, et.MessageID(), 1001)
			e, err := evidence.New(y, x)
			if err != nil {
				t.Fatal(err)
			}
			if err := e.Verify(f.process); err != nil {
				t.Fatal(err)
			}
			if e.Process() != pid || e.Nonce() != 7 {
				t.Fatalf("process %s nonce %d", e.Process(), e.Nonce())
			}
			// The order of the pair does not change the evidence.
			e2, err := evidence.New(x, y)
			if err != nil || e2.Key() != e.Key() || string(e2.Marshal()) != string(e.Marshal()) {
				t.Fatalf("order changed the evidence: %v", err)
			}
			// Round trip with the process item: verifiable with nothing else.
			back, err := evidence.Parse(e.WithProcess(f.process).Marshal())
			if err != nil {
				t.Fatal(err)
			}
			if err := back.Verify(nil); err != nil {
				t.Fatal(err)
			}
			if back.Key() != e.Key() {
				t.Fatal("key changed in the round trip")
			}
			// Without it, Verify needs the process.
			back, err = evidence.Parse(e.Marshal())
			if err != nil {
				t.Fatal(err)
			}
			if err := back.Verify(nil); !errors.Is(err, evidence.ErrNoProcess) {
				t.Fatalf("verify without process: %v", err)
			}
		})
	}
}

func TestEvidenceRefused(t *testing.T) {
	f := newFixture(t)
	pid := f.process.ID()
	other := et.Process(t, et.Key(t), et.Address(f.a))
	x := et.Assignment(t, f.a, pid, 3, et.MessageID(), 1000)
	cases := map[string]struct {
		y       *dataitem.Item
		process *dataitem.Item
	}{
		"same item":          {x, f.process},
		"other nonce":        {et.Assignment(t, f.b, pid, 4, et.MessageID(), 1000), f.process},
		"other process":      {et.Assignment(t, f.b, other.ID(), 3, et.MessageID(), 1000), f.process},
		"outsider signed":    {et.Assignment(t, f.outsider, pid, 3, et.MessageID(), 1000), f.process},
		"wrong process item": {et.Assignment(t, f.b, pid, 3, et.MessageID(), 1000), other},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			e, err := evidence.New(x, c.y)
			if err == nil {
				err = e.Verify(c.process)
			}
			if !errors.Is(err, evidence.ErrInvalid) {
				t.Fatalf("want ErrInvalid, got %v", err)
			}
		})
	}
}

// TestForgedRefused edits valid evidence the ways a forger would.
func TestForgedRefused(t *testing.T) {
	f := newFixture(t)
	pid := f.process.ID()
	e, err := evidence.New(et.Assignment(t, f.a, pid, 3, et.MessageID(), 1), et.Assignment(t, f.b, pid, 3, et.MessageID(), 2))
	if err != nil {
		t.Fatal(err)
	}
	good := e.WithProcess(f.process).API()
	tamper := func(raw string) string {
		b, _ := dataitemRaw(raw)
		b[len(b)-1] ^= 1 // the last tag byte or anchor: the signature no longer holds
		return encode(b)
	}
	cases := map[string]func(w *aoapi.Evidence){
		"nonce changed":       func(w *aoapi.Evidence) { w.Nonce = 4 },
		"process changed":     func(w *aoapi.Evidence) { w.Process = other(t) },
		"assignment tampered": func(w *aoapi.Evidence) { w.Assignments[1] = tamper(w.Assignments[1]) },
		"process tampered":    func(w *aoapi.Evidence) { w.ProcessItem = tamper(w.ProcessItem) },
		"twice the same":      func(w *aoapi.Evidence) { w.Assignments[1] = w.Assignments[0] },
		"not base64":          func(w *aoapi.Evidence) { w.Assignments[0] = "!!" },
		"empty":               func(w *aoapi.Evidence) { w.Assignments = [2]string{} },
		"other process's item": func(w *aoapi.Evidence) {
			w.ProcessItem = encode(et.Process(t, et.Key(t), et.Address(f.a), et.Address(f.b)).Raw())
		},
	}
	for name, edit := range cases {
		t.Run(name, func(t *testing.T) {
			w := good
			edit(&w)
			raw, _ := json.Marshal(w)
			e, err := evidence.Parse(raw)
			if err == nil {
				err = e.Verify(nil)
			}
			if !errors.Is(err, evidence.ErrInvalid) {
				t.Fatalf("want ErrInvalid, got %v", err)
			}
		})
	}
}

func other(t *testing.T) string { return et.Process(t, et.Key(t), "x").ID() }

func dataitemRaw(s string) ([]byte, error) {
	b, err := decode(s)
	return b, err
}

func TestWitness(t *testing.T) {
	f := newFixture(t)
	pid := f.process.ID()
	stored := et.Assignment(t, f.a, pid, 0, "", 1)
	w := evidence.NewWitness(2, func(p string, n uint64) (*dataitem.Item, bool) {
		if p == pid && n == 0 {
			return stored, true
		}
		return nil, false
	})
	x := et.Assignment(t, f.a, pid, 1, et.MessageID(), 2)
	if e, err := w.Observe(x); e != nil || err != nil {
		t.Fatalf("first sight: %v %v", e, err)
	}
	if e, err := w.Observe(x); e != nil || err != nil {
		t.Fatalf("same again: %v %v", e, err)
	}
	y := et.Assignment(t, f.b, pid, 1, et.MessageID(), 2)
	e, err := w.Observe(y)
	if err != nil || e == nil {
		t.Fatalf("conflict not seen: %v", err)
	}
	if err := e.Verify(f.process); err != nil {
		t.Fatal(err)
	}
	// The first stays the reference: a third conflicts with it, not with the second.
	z := et.Assignment(t, f.b, pid, 1, et.MessageID(), 3)
	if e, _ := w.Observe(z); e == nil || (e.Assignments()[0].ID() != x.ID() && e.Assignments()[1].ID() != x.ID()) {
		t.Fatal("third push not compared with the first")
	}
	// A slot only the store knows.
	if e, _ := w.Observe(et.Assignment(t, f.b, pid, 0, "", 5)); e == nil {
		t.Fatal("conflict with the stored slot not seen")
	}
	if e, _ := w.Observe(stored); e != nil {
		t.Fatal("the stored assignment conflicts with itself")
	}
}
