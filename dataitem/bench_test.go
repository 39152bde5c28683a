package dataitem

import (
	"testing"
)

func benchSigners(b *testing.B) []Signer {
	signers := loadVectorSigners(b)
	return []Signer{signers["pub-rsa"], signers["pub-ed25519"], signers["pub-eth"], signers["pub-solana"]}
}

var benchFields = Fields{
	Tags: []Tag{{Name: "Action", Value: "Eval"}, {Name: "Data-Protocol", Value: "ao"}, {Name: "Variant", Value: "ao.TN.1"}},
	Data: []byte("return 1 + 1"),
}

// BenchmarkVerify measures Verify of a small item per signature type.
func BenchmarkVerify(b *testing.B) {
	for _, s := range benchSigners(b) {
		it, err := Sign(s, benchFields)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(s.SignatureType().String(), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := it.Verify(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "verifies/s")
		})
	}
}

// BenchmarkVerifyAB compares, on the same item and signature, the type-1
// verifier with crypto/rsa.VerifyPSS, which it replaced (stdArweave in
// verify_diff_test.go). The deep hash is computed once outside the loop, so
// only the signature check is timed.
// cpu-ns/op is the process CPU time per verification, which a busy machine
// disturbs less than ns/op.
func BenchmarkVerifyAB(b *testing.B) {
	it, err := Sign(loadVectorSigners(b)["pub-rsa"], benchFields)
	if err != nil {
		b.Fatal(err)
	}
	m := it.DeepHash()
	for _, c := range []struct {
		name     string
		verifier func(owner, sig, m []byte) bool
	}{
		{"crypto-rsa", stdArweave},
		{"rsa4096", func(o, s, m []byte) bool { return verifySignature(Arweave, o, s, m) == nil }},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			cpu := processCPU()
			for b.Loop() {
				if !c.verifier(it.Owner, it.Signature, m[:]) {
					b.Fatal("does not verify")
				}
			}
			b.ReportMetric(float64(processCPU()-cpu)/float64(b.N), "cpu-ns/op")
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "verifies/s")
		})
	}
}

// BenchmarkSign measures Sign of a small item per signature type.
func BenchmarkSign(b *testing.B) {
	for _, s := range benchSigners(b) {
		b.Run(s.SignatureType().String(), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Sign(s, benchFields); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "signs/s")
		})
	}
}

func largeItem(b *testing.B) []byte {
	v := loadItemVectors(b, "items_large.json")[0]
	return mustStd64(b, v.RawBase64)
}

// BenchmarkParse1MiB measures Parse of the 1 MiB vector (no signature check).
func BenchmarkParse1MiB(b *testing.B) {
	raw := largeItem(b)
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(raw); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseVerified1MiB adds the deep hash of 1 MiB and the signature.
func BenchmarkParseVerified1MiB(b *testing.B) {
	raw := largeItem(b)
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseVerified(raw); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyEthAB compares, on the same type-3 item, the whole
// verification as it was (deep hash, then recover the key from r‖s‖v and
// compare it with the owner: recoverEthereumRef) with Item.Verify, which
// checks the signature against the owner key with the owner's cached table
// (internal/secpverify). "sig" variants time the signature check alone.
// Run with -count to interleave them.
func BenchmarkVerifyEthAB(b *testing.B) {
	it, err := Sign(loadVectorSigners(b)["pub-eth"], benchFields)
	if err != nil {
		b.Fatal(err)
	}
	m := it.DeepHash()
	for _, c := range []struct {
		name string
		ok   func() bool
	}{
		{"item-recover", func() bool { m := it.DeepHash(); return recoverEthereumRef(it.Owner, it.Signature, m[:]) }},
		{"item-verify", func() bool { return it.Verify() == nil }},
		{"sig-recover", func() bool { return recoverEthereumRef(it.Owner, it.Signature, m[:]) }},
		{"sig-verify", func() bool { return verifySignature(Ethereum, it.Owner, it.Signature, m[:]) == nil }},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for range 10 { // the owner's and G's tables built: the steady state of a known owner
				c.ok()
			}
			cpu := processCPU()
			for b.Loop() {
				if !c.ok() {
					b.Fatal("does not verify")
				}
			}
			b.ReportMetric(float64(processCPU()-cpu)/float64(b.N), "cpu-ns/op")
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "verifies/s")
		})
	}
}
