package edbatch

import (
	"bytes"
	"crypto/ed25519"
	"fmt"
	mrand "math/rand/v2"
	"testing"
)

func testKey(t testing.TB, seed byte) (ed25519.PrivateKey, *Key) {
	t.Helper()
	priv := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, ed25519.SeedSize))
	k, err := NewKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return priv, k
}

// Every batch size up to a few dozen, messages of many lengths (0, the 48-byte deep hashes
// and the 96-character hex form the signers use, and odd ones), several keys, one Scratch
// reused across sizes: each signature equals crypto/ed25519's and verifies.
func TestSignMatchesStdlib(t *testing.T) {
	rng := mrand.New(mrand.NewPCG(1, 2))
	var scratch Scratch
	for seed := byte(1); seed <= 4; seed++ {
		priv, k := testKey(t, seed)
		if !bytes.Equal(k.Public(), priv.Public().(ed25519.PublicKey)) {
			t.Fatal("Public differs from the stdlib's")
		}
		for n := 1; n <= 40; n++ {
			msgs := make([][]byte, n)
			for i := range msgs {
				msgs[i] = make([]byte, []int{0, 1, 48, 96, 200}[rng.IntN(5)])
				for j := range msgs[i] {
					msgs[i][j] = byte(rng.Uint32())
				}
			}
			sigs := make([][]byte, n)
			if n%2 == 0 {
				for i := range sigs {
					sigs[i] = make([]byte, 0, 64) // reused when there is room
				}
			}
			k.Sign(msgs, sigs, &scratch)
			for i := range msgs {
				want := ed25519.Sign(priv, msgs[i])
				if !bytes.Equal(sigs[i], want) {
					t.Fatalf("key %d batch %d message %d: got %x, want %x", seed, n, i, sigs[i], want)
				}
				if !ed25519.Verify(k.Public(), msgs[i], sigs[i]) {
					t.Fatalf("key %d batch %d message %d: does not verify", seed, n, i)
				}
			}
		}
	}
}

// RFC 8032 section 7.1, test 2: a published key, message and signature.
func TestRFC8032Vector(t *testing.T) {
	seed := mustHex(t, "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb")
	msg := mustHex(t, "72")
	want := mustHex(t, "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da"+
		"085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00")
	k, err := NewKey(ed25519.NewKeyFromSeed(seed))
	if err != nil {
		t.Fatal(err)
	}
	sigs := make([][]byte, 1)
	k.Sign([][]byte{msg}, sigs, nil)
	if !bytes.Equal(sigs[0], want) {
		t.Fatalf("got %x, want %x", sigs[0], want)
	}
}

func TestNewKeyRefusesBadKeys(t *testing.T) {
	if _, err := NewKey(make([]byte, 10)); err == nil {
		t.Fatal("short key accepted")
	}
	priv, _ := testKey(t, 9)
	bad := bytes.Clone(priv)
	bad[40] ^= 1 // public half no longer belongs to the seed
	if _, err := NewKey(bad); err == nil {
		t.Fatal("key with a foreign public half accepted")
	}
}

func TestSignEmptyAndMismatch(t *testing.T) {
	_, k := testKey(t, 3)
	k.Sign(nil, nil, nil) // nothing to do, no panic
	defer func() {
		if recover() == nil {
			t.Fatal("mismatched lengths did not panic")
		}
	}()
	k.Sign([][]byte{{1}}, nil, nil)
}

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	var b []byte
	if _, err := fmt.Sscanf(s, "%x", &b); err != nil {
		t.Fatal(err)
	}
	return b
}

// BenchmarkSign compares the cost per signature of crypto/ed25519 (the baseline) with
// batches of 1 to 64:
//
//	go test -run '^$' -bench . ./dataitem/edbatch
func BenchmarkSign(b *testing.B) {
	priv, k := testKey(b, 5)
	msg := make([]byte, 48)
	b.Run("stdlib", func(b *testing.B) {
		for b.Loop() {
			ed25519.Sign(priv, msg)
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1e3, "µs/sig")
	})
	for _, n := range []int{1, 4, 16, 64} {
		b.Run(fmt.Sprintf("batch=%d", n), func(b *testing.B) {
			msgs := make([][]byte, n)
			sigs := make([][]byte, n)
			for i := range msgs {
				msgs[i] = msg
				sigs[i] = make([]byte, 64)
			}
			var scratch Scratch
			b.ReportAllocs()
			for b.Loop() {
				k.Sign(msgs, sigs, &scratch)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n)/1e3, "µs/sig")
		})
	}
}
