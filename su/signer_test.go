package su

import (
	"bytes"
	"testing"

	"github.com/aonode/aonode/dataitem"
)

// wrappedSigner is a Signer from outside dataitem, which takes the checked path.
type wrappedSigner struct{ dataitem.Signer }

func TestAssignmentSignerMatchesSign(t *testing.T) {
	eth, err := dataitem.GenerateKey(dataitem.Ethereum)
	if err != nil {
		t.Fatal(err)
	}
	pid := handAID0
	cases := [][]dataitem.Tag{
		AssignmentTags(pid, 0, "h", 7, 1700000000000, "", nil),
		AssignmentTags(pid, 12345, pid, 1393008, 1700000000001, pid, []string{"Data", "Tags"}),
	}
	anchor := bytes.Repeat([]byte{0xA5}, 32)
	for _, signer := range []dataitem.Signer{testSigner(1), eth, wrappedSigner{testSigner(2)}} {
		a := newAssignmentSigner(signer)
		for _, tags := range cases {
			got, err := a.sign(assignmentFields{Anchor: anchor, Tags: tags})
			if err != nil {
				t.Fatalf("%T: %v", signer, err)
			}
			if _, err := dataitem.ParseVerified(got.Raw()); err != nil {
				t.Fatalf("%T: assignment does not verify: %v", signer, err)
			}
			want, err := dataitem.Sign(signer, dataitem.Fields{Anchor: anchor, Tags: tags})
			if err != nil {
				t.Fatal(err)
			}
			// ed25519 signatures are deterministic: the bytes must be identical. Other
			// types may randomise the signature, so compare everything after it.
			if signer.SignatureType() == dataitem.ED25519 && !bytes.Equal(got.Raw(), want.Raw()) {
				t.Fatalf("%T: bytes differ from dataitem.Sign", signer)
			}
			if !bytes.Equal(got.TagBytes(), want.TagBytes()) || !bytes.Equal(got.Owner, want.Owner) || !bytes.Equal(got.Anchor, want.Anchor) {
				t.Fatalf("%T: fields differ from dataitem.Sign", signer)
			}
			if got.DeepHash() != want.DeepHash() {
				t.Fatalf("%T: deep hash differs from dataitem.Sign", signer)
			}
		}
		if _, err := a.sign(assignmentFields{Anchor: anchor[:31], Tags: cases[0]}); err == nil {
			t.Fatalf("%T: a 31-byte anchor was accepted", signer)
		}
	}
}

func TestFormatBlockHeight(t *testing.T) {
	for h, want := range map[uint64]string{0: "000000000000", 1393008: "000001393008", 999999999999: "999999999999", 1234567890123: "1234567890123"} {
		if got := FormatBlockHeight(h); got != want {
			t.Errorf("FormatBlockHeight(%d) = %q, want %q", h, got, want)
		}
	}
}
