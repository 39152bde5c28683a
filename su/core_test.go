package su

import (
	"crypto/ed25519"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/aonode/aonode/dataitem"
)

// Values computed by hand (python hashlib/base64) from the §1.5 definitions:
// pid = bytes 0..31, aid0 = 32×0xAA, aid1 = 32×0x55.
const (
	handPID  = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"
	handHC0  = "Yw3NKWbEM2aRElRIu7JbT_QSpJxzLbLIq8G4WBvXEN0" // sha256(pid)
	handAID0 = "qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqo"
	handHC1  = "CVyXxugSUOEKAkOty46KDEuyJhMvFNki4RFi3_3JgRI" // sha256(aid0 || hc0)
	handAID1 = "VVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVU"
	handHC2  = "m6pqBUcZK9x60DR_gOnB-LrTGkNIt04v6u1M6NNSquo" // sha256(aid1 || hc1)
)

func TestHashChainHandComputed(t *testing.T) {
	seed, err := SeedHashChain(handPID)
	if err != nil || seed != handHC0 {
		t.Fatalf("seed = %q, %v; want %q", seed, err, handHC0)
	}
	hc1, err := NextHashChain(handAID0, handHC0)
	if err != nil || hc1 != handHC1 {
		t.Fatalf("HC(1) = %q, %v; want %q", hc1, err, handHC1)
	}
	hc2, err := NextHashChain(handAID1, handHC1)
	if err != nil || hc2 != handHC2 {
		t.Fatalf("HC(2) = %q, %v; want %q", hc2, err, handHC2)
	}
	// Order matters: chain bytes first gives something else.
	if swapped, _ := NextHashChain(handHC0, handAID0); swapped == handHC1 {
		t.Fatal("hash chain does not depend on operand order")
	}
	for _, bad := range []string{"", "short", handPID + "A", strings.Repeat("!", 43)} {
		if _, err := SeedHashChain(bad); err == nil {
			t.Errorf("SeedHashChain(%q) accepted", bad)
		}
		if _, err := NextHashChain(bad, handHC0); err == nil {
			t.Errorf("NextHashChain(%q, hc) accepted", bad)
		}
		if _, err := NextHashChain(handAID0, bad); err == nil {
			t.Errorf("NextHashChain(aid, %q) accepted", bad)
		}
	}
}

func testSigner(seed byte) *dataitem.Ed25519Signer {
	s := make([]byte, ed25519.SeedSize)
	for i := range s {
		s[i] = seed
	}
	return dataitem.NewEd25519Signer(ed25519.NewKeyFromSeed(s))
}

func tagNames(tags []dataitem.Tag) []string {
	var out []string
	for _, t := range tags {
		out = append(out, t.Name)
	}
	return out
}

func TestAssignProcessThenMessages(t *testing.T) {
	signer := testSigner(1)
	anchor := make([]byte, 32)
	a0, h0, err := Assign(nil, Input{Process: handPID, NowMs: 1000, BlockHeight: 1393008, Anchor: anchor}, signer)
	if err != nil {
		t.Fatal(err)
	}
	if err := a0.Verify(); err != nil {
		t.Fatalf("assignment does not verify: %v", err)
	}
	want0 := []dataitem.Tag{
		{Name: "Process", Value: handPID},
		{Name: "Epoch", Value: "0"},
		{Name: "Nonce", Value: "0"},
		{Name: "Hash-Chain", Value: handHC0},
		{Name: "Block-Height", Value: "000001393008"},
		{Name: "Timestamp", Value: "1000"},
		{Name: "Data-Protocol", Value: "ao"},
		{Name: "Type", Value: "Assignment"},
		{Name: "Variant", Value: "ao.TN.1"},
	}
	if !reflect.DeepEqual(a0.Tags, want0) {
		t.Fatalf("nonce-0 tags:\n got %v\nwant %v", a0.Tags, want0)
	}
	if len(a0.Data) != 0 || len(a0.Target) != 0 || len(a0.Anchor) != 32 {
		t.Fatalf("assignment data %d target %d anchor %d bytes", len(a0.Data), len(a0.Target), len(a0.Anchor))
	}
	if h0 != (Head{Process: handPID, Nonce: 0, Timestamp: 1000, HashChain: handHC0, AssignmentID: a0.ID()}) {
		t.Fatalf("head after nonce 0: %+v", h0)
	}

	// The clock went backwards: the timestamp stays at the head's.
	a1, h1, err := Assign(&h0, Input{Process: handPID, Message: handAID1, Exclude: []string{"Data", "Tags"}, NowMs: 900, Anchor: anchor}, signer)
	if err != nil {
		t.Fatal(err)
	}
	wantNames := []string{"Process", "Epoch", "Nonce", "Hash-Chain", "Block-Height", "Timestamp",
		"Data-Protocol", "Type", "Variant", "Message", "Exclude", "Exclude"}
	if got := tagNames(a1.Tags); !reflect.DeepEqual(got, wantNames) {
		t.Fatalf("nonce-1 tag names %v, want %v", got, wantNames)
	}
	wantHC1, _ := NextHashChain(a0.ID(), handHC0)
	for name, want := range map[string]string{"Nonce": "1", "Timestamp": "1000", "Hash-Chain": wantHC1,
		"Message": handAID1, "Block-Height": "000000000000"} {
		if v, _ := a1.Tag(name); v != want {
			t.Errorf("%s = %q, want %q", name, v, want)
		}
	}
	if h1.Nonce != 1 || h1.Timestamp != 1000 || h1.HashChain != wantHC1 || h1.AssignmentID != a1.ID() {
		t.Fatalf("head after nonce 1: %+v", h1)
	}
	_, h2, err := Assign(&h1, Input{Process: handPID, Message: handAID0, NowMs: 2000, Anchor: anchor}, signer)
	if err != nil || h2.Nonce != 2 || h2.Timestamp != 2000 {
		t.Fatalf("nonce 2: %+v, %v", h2, err)
	}

	slot, err := SlotFromAssignment(a1)
	if err != nil {
		t.Fatal(err)
	}
	if slot.Process != handPID || slot.Nonce != 1 || slot.MessageID != handAID1 || slot.AssignmentID != a1.ID() ||
		slot.Timestamp != 1000 || slot.HashChain != wantHC1 {
		t.Fatalf("slot %+v", slot)
	}
	slot0, err := SlotFromAssignment(a0)
	if err != nil || slot0.MessageID != handPID || slot0.BlockHeight != 1393008 {
		t.Fatalf("slot0 %+v, %v", slot0, err)
	}
}

func TestAssignRefusesInputsThatBreakTheChain(t *testing.T) {
	signer := testSigner(1)
	anchor := make([]byte, 32)
	if _, _, err := Assign(nil, Input{Process: handPID, Message: handAID0, Anchor: anchor}, signer); !errors.Is(err, ErrChain) {
		t.Errorf("message before nonce 0: %v", err)
	}
	h := &Head{Process: handPID, HashChain: handHC0, AssignmentID: handAID0}
	if _, _, err := Assign(h, Input{Process: handPID, Anchor: anchor}, signer); !errors.Is(err, ErrChain) {
		t.Errorf("second nonce 0: %v", err)
	}
	if _, _, err := Assign(h, Input{Process: handAID1, Message: handAID0, Anchor: anchor}, signer); !errors.Is(err, ErrChain) {
		t.Errorf("head of another process: %v", err)
	}
	if _, _, err := Assign(h, Input{Process: handPID, Message: "nope", Anchor: anchor}, signer); err == nil {
		t.Error("bad message id accepted")
	}
	if _, _, err := Assign(nil, Input{Process: "nope", Anchor: anchor}, signer); err == nil {
		t.Error("bad process id accepted")
	}
}

func TestSlotFromAssignmentRejectsMalformed(t *testing.T) {
	signer := testSigner(2)
	good := AssignmentTags(handPID, 3, handHC1, 5, 77, handAID0, nil)
	cases := map[string]func([]dataitem.Tag) []dataitem.Tag{
		"no process":    func(t []dataitem.Tag) []dataitem.Tag { return t[1:] },
		"bad nonce":     func(t []dataitem.Tag) []dataitem.Tag { t[2].Value = "x"; return t },
		"bad chain":     func(t []dataitem.Tag) []dataitem.Tag { t[3].Value = "short"; return t },
		"bad height":    func(t []dataitem.Tag) []dataitem.Tag { t[4].Value = "-1"; return t },
		"bad timestamp": func(t []dataitem.Tag) []dataitem.Tag { t[5].Value = "1e3"; return t },
		"wrong type":    func(t []dataitem.Tag) []dataitem.Tag { t[7].Value = "Message"; return t },
		"no message":    func(t []dataitem.Tag) []dataitem.Tag { return t[:9] },
		"bad message":   func(t []dataitem.Tag) []dataitem.Tag { t[9].Value = "zz"; return t },
	}
	for name, mutate := range cases {
		t.Run(name, func(t *testing.T) {
			tags := mutate(append([]dataitem.Tag(nil), good...))
			it, err := dataitem.Sign(signer, dataitem.Fields{Tags: tags})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := SlotFromAssignment(it); !errors.Is(err, ErrBadAssignment) {
				t.Fatalf("accepted or wrong error: %v", err)
			}
		})
	}
}
