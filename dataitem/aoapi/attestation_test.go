package aoapi

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"strings"
	"testing"

	"github.com/aonode/aonode/dataitem"
)

func testAttestation() Attestation {
	rs, ms := sha256.Sum256([]byte("result")), sha256.Sum256([]byte("memory"))
	return Attestation{
		Format: 2, Process: dataitem.EncodeID(bytes.Repeat([]byte{1}, 32)), Slot: 7,
		Message: dataitem.EncodeID(bytes.Repeat([]byte{2}, 32)), Timestamp: 1700000000000, BlockHeight: 1500000,
		HashChain: dataitem.EncodeID(bytes.Repeat([]byte{3}, 32)), ResultSHA256: rs[:], Memory: ms[:],
	}
}

func signAttestation(t testing.TB, a Attestation, edit func(*dataitem.Fields)) []byte {
	t.Helper()
	f, err := AttestationFields(a)
	if err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(&f)
	}
	seed := sha256.Sum256([]byte("aoapi attestation test"))
	it, err := dataitem.Sign(dataitem.NewEd25519Signer(ed25519.NewKeyFromSeed(seed[:])), f)
	if err != nil {
		t.Fatal(err)
	}
	return it.Raw()
}

func TestAttestationRoundTrip(t *testing.T) {
	for _, format := range []int{1, 2} {
		a := testAttestation()
		a.Format = format
		got, err := ParseAttestation(signAttestation(t, a, nil))
		if err != nil {
			t.Fatal(err)
		}
		got.Signer = ""
		if got.Format != format || got.Key() != a.Key() || !got.SameEvaluation(a) || got.HashChain != a.HashChain || got.Message != a.Message {
			t.Fatalf("format %d: %+v", format, got)
		}
	}
	cron := testAttestation()
	cron.Message, cron.Cron, cron.CronSeq, cron.HashChain = "", "0-10-minutes", 3, ""
	if got, err := ParseAttestation(signAttestation(t, cron, nil)); err != nil || got.CronSeq != 3 || got.Cron != cron.Cron {
		t.Fatalf("cron: %+v %v", got, err)
	}
}

func TestParseAttestationRejects(t *testing.T) {
	set := func(name, value string) func(*dataitem.Fields) {
		return func(f *dataitem.Fields) {
			for i := range f.Tags {
				if f.Tags[i].Name == name {
					f.Tags[i].Value = value
				}
			}
		}
	}
	cases := map[string]func(*dataitem.Fields){
		"type":         set("Type", "Message"),
		"slot":         set("Slot", "07"),
		"format":       set("Attestation-Format", "3"),
		"result hash":  set("Result-SHA256", strings.Repeat("A", 64)),
		"memory short": set("Memory-Root", "00"),
		"process":      set("Process", "x"),
		"target":       func(f *dataitem.Fields) { f.Target = make([]byte, 32) },
		"repeated":     func(f *dataitem.Fields) { f.Tags = append(f.Tags, dataitem.Tag{Name: "Slot", Value: "7"}) },
		"cron and message": func(f *dataitem.Fields) {
			f.Tags = append(f.Tags, dataitem.Tag{Name: "Cron", Value: "1"}, dataitem.Tag{Name: "Cron-Seq", Value: "1"})
		},
	}
	for name, edit := range cases {
		if _, err := ParseAttestation(signAttestation(t, testAttestation(), edit)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	raw := signAttestation(t, testAttestation(), nil)
	raw[len(raw)-1] ^= 1
	if _, err := ParseAttestation(raw); err == nil {
		t.Error("bad signature accepted")
	}
	if _, err := ParseAttestation(make([]byte, MaxAttestationBytes+1)); err == nil {
		t.Error("oversized accepted")
	}
}

// FuzzParseAttestation: no input panics, and whatever parses re-encodes to the same fields.
func FuzzParseAttestation(f *testing.F) {
	f.Add(signAttestation(f, testAttestation(), nil))
	a1 := testAttestation()
	a1.Format = 1
	f.Add(signAttestation(f, a1, nil))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, raw []byte) {
		a, err := ParseAttestation(raw)
		if err != nil {
			return
		}
		fields, err := AttestationFields(a)
		if err != nil {
			t.Fatalf("parsed attestation does not re-encode: %v", err)
		}
		if len(fields.Tags) == 0 || len(a.ResultSHA256) != 32 || len(a.Memory) != 32 {
			t.Fatalf("parsed %+v", a)
		}
	})
}
