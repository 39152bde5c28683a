package dataitem

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestKeyRoundTrip(t *testing.T) {
	for id, s := range loadVectorSigners(t) {
		t.Run(id, func(t *testing.T) {
			b, err := MarshalKey(s)
			if err != nil {
				t.Fatal(err)
			}
			back, err := ParseKey(b)
			if err != nil {
				t.Fatalf("ParseKey(MarshalKey): %v\n%s", err, b)
			}
			if back.SignatureType() != s.SignatureType() || !bytes.Equal(back.Owner(), s.Owner()) {
				t.Fatalf("round trip changed the key: %s", b)
			}
			again, err := MarshalKey(back)
			if err != nil || !bytes.Equal(again, b) {
				t.Fatalf("second MarshalKey differs: %v", err)
			}
			it, err := Sign(back, Fields{Data: []byte("x")})
			if err != nil {
				t.Fatal(err)
			}
			if err := it.Verify(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// The vector's RSA JWK is an arweave-js wallet: its members come out in the
// same order and with the same values.
func TestArweaveJWKMatchesWallet(t *testing.T) {
	var kf struct {
		Keys map[string]struct {
			Private struct {
				JWK map[string]string `json:"jwk"`
			} `json:"private"`
		} `json:"keys"`
	}
	loadJSON(t, "keys.json", &kf)
	want := kf.Keys["pub-rsa"].Private.JWK
	b, err := MarshalKey(loadVectorSigners(t)["pub-rsa"])
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]string
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("member %s = %.20s…, want %.20s…", k, got[k], v)
		}
	}
	if len(got) != 9 {
		t.Errorf("%d members, want 9", len(got))
	}
}

func TestGenerateKey(t *testing.T) {
	types := []SignatureType{ED25519, Solana, Ethereum}
	if !testing.Short() {
		types = append(types, Arweave)
	}
	for _, typ := range types {
		t.Run(typ.String(), func(t *testing.T) {
			s, err := GenerateKey(typ)
			if err != nil {
				t.Fatal(err)
			}
			if s.SignatureType() != typ || len(s.Owner()) != typ.OwnerLen() {
				t.Fatalf("generated %s key with %d-byte owner", s.SignatureType(), len(s.Owner()))
			}
			b, err := MarshalKey(s)
			if err != nil {
				t.Fatal(err)
			}
			back, err := ParseKey(b)
			if err != nil || back.SignatureType() != typ {
				t.Fatalf("ParseKey: %v", err)
			}
			it, err := Sign(back, Fields{Data: []byte("generated")})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := ParseVerified(it.Raw()); err != nil {
				t.Fatal(err)
			}
		})
	}
	if _, err := GenerateKey(TypedEthereum); err == nil {
		t.Fatal("GenerateKey(7) succeeded")
	}
}

func TestParseKeyRejects(t *testing.T) {
	signers := loadVectorSigners(t)
	jwkOf := func(id string) map[string]any {
		b, err := MarshalKey(signers[id])
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	with := func(id string, change func(m map[string]any)) []byte {
		m := jwkOf(id)
		change(m)
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	other := jwkOf("pub-solana")
	cases := map[string][]byte{
		"empty":              nil,
		"not json":           []byte("hello"),
		"array":              []byte("[]"),
		"trailing data":      append(with("pub-ed25519", func(map[string]any) {}), []byte(" {}")...),
		"unknown kty":        []byte(`{"kty":"oct","k":"AAAA"}`),
		"okp other curve":    with("pub-ed25519", func(m map[string]any) { m["crv"] = "X25519" }),
		"ed25519 x mismatch": with("pub-ed25519", func(m map[string]any) { m["x"] = other["x"] }),
		"ed25519 short d":    with("pub-ed25519", func(m map[string]any) { m["d"] = "AAAA" }),
		"ed25519 padded d":   with("pub-ed25519", func(m map[string]any) { m["d"] = m["d"].(string) + "=" }),
		"ed25519 type 3":     with("pub-ed25519", func(m map[string]any) { m["ans104_signature_type"] = 3 }),
		"ec missing y":       with("pub-eth", func(m map[string]any) { delete(m, "y") }),
		"ec y mismatch":      with("pub-eth", func(m map[string]any) { m["y"] = m["x"] }),
		"ec zero d":          with("pub-eth", func(m map[string]any) { m["d"] = EncodeID(make([]byte, 32)) }),
		"ec d over order":    with("pub-eth", func(m map[string]any) { m["d"] = EncodeID(bytes.Repeat([]byte{0xff}, 32)) }),
		"rsa exponent 3":     with("pub-rsa", func(m map[string]any) { m["e"] = "Aw" }),
		"rsa missing p":      with("pub-rsa", func(m map[string]any) { delete(m, "p") }),
		"rsa wrong q":        with("pub-rsa", func(m map[string]any) { m["q"] = m["p"] }),
		"rsa wrong dp":       with("pub-rsa", func(m map[string]any) { m["dp"] = m["dq"] }),
		"rsa short n":        with("pub-rsa", func(m map[string]any) { m["n"] = m["n"].(string)[:300] }),
		"rsa type 2":         with("pub-rsa", func(m map[string]any) { m["ans104_signature_type"] = 2 }),
		"huge":               []byte(`{"kty":"RSA","n":"` + strings.Repeat("A", maxKeyFileBytes) + `"}`),
	}
	for name, b := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := ParseKey(b); !errors.Is(err, ErrInvalidKey) {
				t.Fatalf("got %v, want ErrInvalidKey", err)
			}
		})
	}
	// The optional CRT members may be left out.
	s, err := ParseKey(with("pub-rsa", func(m map[string]any) { delete(m, "dp"); delete(m, "dq"); delete(m, "qi") }))
	if err != nil || s.SignatureType() != Arweave {
		t.Fatalf("RSA JWK without CRT values: %v", err)
	}
}

func TestMarshalKeyRejects(t *testing.T) {
	for name, s := range map[string]Signer{
		"nil rsa":      &ArweaveSigner{},
		"nil ed25519":  &Ed25519Signer{},
		"nil solana":   &SolanaSigner{},
		"nil secp256k": &EthereumSigner{},
		"foreign":      badSigner{t: ED25519},
		"rsa e 3":      NewArweaveSigner(wrongExponentKey(t)),
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := MarshalKey(s); !errors.Is(err, ErrInvalidKey) {
				t.Fatalf("got %v, want ErrInvalidKey", err)
			}
		})
	}
	if OwnerAddress([]byte("abc")) != "ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0" {
		t.Fatal("OwnerAddress")
	}
	if (&EthereumSigner{}).EthAddress() != "" {
		t.Fatal("EthAddress of no key")
	}
}
