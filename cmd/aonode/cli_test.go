package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aonode/aonode/dataitem"
	"github.com/aonode/aonode/dataitem/aoapi"
)

// vectorDir holds the ANS-104 vectors, which the dataitem package owns.
var vectorDir = filepath.Join("..", "..", "dataitem", "testdata")

type result struct {
	code           int
	stdout, stderr string
}

func run(t *testing.T, args ...string) result {
	t.Helper()
	var out, errOut bytes.Buffer
	code := runMain(context.Background(), args, &out, &errOut)
	return result{code, out.String(), errOut.String()}
}

func (r result) want(t *testing.T, code int, stderrHas string) {
	t.Helper()
	if r.code != code {
		t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", r.code, code, r.stdout, r.stderr)
	}
	if stderrHas != "" && !strings.Contains(r.stderr, stderrHas) {
		t.Fatalf("stderr %q does not mention %q", r.stderr, stderrHas)
	}
}

func withStdin(t *testing.T, b []byte) {
	t.Helper()
	old := stdin
	stdin = bytes.NewReader(b)
	t.Cleanup(func() { stdin = old })
}

type itemVector struct {
	Name          string      `json:"name"`
	RawBase64     string      `json:"raw_base64"`
	SignatureType int         `json:"signature_type"`
	ID            string      `json:"id"`
	Owner         string      `json:"owner"`
	OwnerAddress  string      `json:"owner_sha256_address"`
	EthAddress    string      `json:"eth_address"`
	Target        string      `json:"target"`
	Anchor        string      `json:"anchor"`
	Tags          []aoapi.Tag `json:"tags"`
	DataSize      int         `json:"data_size"`
	Expect        string      `json:"expect"`
	ExpectedError *string     `json:"expected_error"`
	Raw           []byte      `json:"-"`
}

func loadVectors(t *testing.T, file string) []itemVector {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(vectorDir, file))
	if err != nil {
		t.Fatalf("vectors: %v", err)
	}
	var vf struct{ Vectors []itemVector }
	if err := json.Unmarshal(b, &vf); err != nil {
		t.Fatal(err)
	}
	for i := range vf.Vectors {
		if vf.Vectors[i].Raw, err = base64.StdEncoding.DecodeString(vf.Vectors[i].RawBase64); err != nil {
			t.Fatal(err)
		}
	}
	if len(vf.Vectors) == 0 {
		t.Fatalf("%s has no vectors", file)
	}
	return vf.Vectors
}

func writeFile(t *testing.T, dir, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// vectorKeyFiles writes the keys of keys.json as key files, by signature type.
func vectorKeyFiles(t *testing.T, dir string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(vectorDir, "keys.json"))
	if err != nil {
		t.Fatal(err)
	}
	var kf struct {
		Keys map[string]struct {
			SignatureType int `json:"signature_type"`
			Private       struct {
				JWK       json.RawMessage `json:"jwk"`
				SeedHex   string          `json:"seed_hex"`
				PublicHex string          `json:"public_hex"`
				PrivHex   string          `json:"private_key_hex"`
				PubHex    string          `json:"public_key_uncompressed_hex"`
			} `json:"private"`
		} `json:"keys"`
	}
	if err := json.Unmarshal(b, &kf); err != nil {
		t.Fatal(err)
	}
	enc := func(h string) string {
		b, err := hex.DecodeString(h)
		if err != nil {
			t.Fatal(err)
		}
		return base64.RawURLEncoding.EncodeToString(b)
	}
	files := map[string]string{}
	for _, k := range kf.Keys {
		var jwk []byte
		var name string
		switch k.SignatureType {
		case 1:
			name, jwk = "arweave", k.Private.JWK
		case 2:
			name = "ed25519"
			jwk = []byte(`{"kty":"OKP","crv":"Ed25519","d":"` + enc(k.Private.SeedHex) + `","x":"` + enc(k.Private.PublicHex) + `"}`)
		case 4:
			name = "solana"
			jwk = []byte(`{"kty":"OKP","crv":"Ed25519","d":"` + enc(k.Private.SeedHex) + `","x":"` + enc(k.Private.PublicHex) + `","ans104_signature_type":4}`)
		case 3:
			name = "ethereum"
			pub := k.Private.PubHex
			jwk = []byte(`{"kty":"EC","crv":"secp256k1","d":"` + enc(k.Private.PrivHex) + `","x":"` + enc(pub[2:66]) + `","y":"` + enc(pub[66:]) + `"}`)
		default:
			continue
		}
		files[name] = writeFile(t, dir, name+".json", jwk)
	}
	if len(files) != 4 {
		t.Fatalf("%d key files, want 4", len(files))
	}
	return files
}

// TestMain keeps the client commands' environment out of the tests: they set it themselves.
func TestMain(m *testing.M) {
	os.Unsetenv(envNode)
	os.Unsetenv(envKey)
	os.Exit(m.Run())
}

func TestUsage(t *testing.T) {
	// A zero default is shown as what it means; a set one once.
	if r := run(t, "dev", "--help"); !strings.Contains(r.stderr, "monitored processes (default 1s)") || strings.Contains(r.stderr, "(0: ") {
		t.Fatalf("dev --help:\n%s", r.stderr)
	}
	if r := run(t, "run", "--help"); !strings.Contains(r.stderr, "monitored processes (default 10s)") || !strings.Contains(r.stderr, "-public-url") {
		t.Fatalf("run --help:\n%s", r.stderr)
	}
	run(t, "keygen", "--help").want(t, 0, "usage: aonode keygen")
	run(t, "item", "--help").want(t, 0, "subcommands")
	run(t, "item", "sign", "--help").want(t, 0, "--anchor")
	run(t, "item", "inspect", "--help").want(t, 0, "signatureType")
	run(t, "item", "verify", "--help").want(t, 0, "--bundle")
	run(t, "item").want(t, 2, "subcommand is required")
	run(t, "item", "frobnicate").want(t, 2, "unknown subcommand")
	run(t, "keygen", "--nope").want(t, 2, "flag provided but not defined")
}

func TestKeygen(t *testing.T) {
	dir := t.TempDir()
	types := []string{"ed25519", "solana", "ethereum"}
	if !testing.Short() {
		types = append(types, "arweave")
	}
	want := map[string]dataitem.SignatureType{"ed25519": 2, "solana": 4, "ethereum": 3, "arweave": 1}
	for _, typ := range types {
		t.Run(typ, func(t *testing.T) {
			out := filepath.Join(dir, typ+".jwk")
			r := run(t, "keygen", "--type", typ, "--out", out)
			r.want(t, 0, "")
			if !strings.Contains(r.stdout, "address: ") {
				t.Fatalf("stdout %q lacks the address", r.stdout)
			}
			st, err := os.Stat(out)
			if err != nil {
				t.Fatal(err)
			}
			if st.Mode().Perm() != 0o600 {
				t.Fatalf("mode %v, want 0600", st.Mode().Perm())
			}
			b, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			s, err := dataitem.ParseKey(b)
			if err != nil || s.SignatureType() != want[typ] {
				t.Fatalf("key file does not parse as %s: %v", typ, err)
			}
			if !strings.Contains(r.stdout, dataitem.OwnerAddress(s.Owner())) {
				t.Fatalf("stdout %q lacks the key's address", r.stdout)
			}
			// Never overwrite.
			run(t, "keygen", "--type", typ, "--out", out).want(t, 1, "refusing to overwrite")
			if again, _ := os.ReadFile(out); !bytes.Equal(again, b) {
				t.Fatal("key file changed")
			}
		})
	}
	run(t, "keygen", "--type", "dsa", "--out", filepath.Join(dir, "x")).want(t, 2, "--type must be")
	run(t, "keygen", "--type", "ed25519").want(t, 2, "--out FILE is required")
	run(t, "keygen", "--type", "ed25519", "--out", filepath.Join(dir, "missing", "k")).want(t, 1, "no such file")
}

func TestItemSignAllTypes(t *testing.T) {
	dir := t.TempDir()
	keys := vectorKeyFiles(t, dir)
	target := base64.RawURLEncoding.EncodeToString(bytes.Repeat([]byte{9}, 32))
	data := writeFile(t, dir, "data.bin", []byte{0, 1, 2, 0xff})
	for name, key := range keys {
		t.Run(name, func(t *testing.T) {
			out := filepath.Join(dir, name+".item")
			r := run(t, "item", "sign", "--key", key, "--target", target, "--anchor", "abcdefghijklmnopqrstuvwxyz012345",
				"--tag", "Action=Eval", "--tag", "Expr=a=b", "--data-file", data, "--out", out)
			r.want(t, 0, "")
			raw, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			it, err := dataitem.ParseVerified(raw)
			if err != nil {
				t.Fatalf("signed item does not verify: %v", err)
			}
			if strings.TrimSpace(r.stdout) != it.ID() {
				t.Fatalf("stdout %q, want the id %s", r.stdout, it.ID())
			}
			if v, _ := it.Tag("Expr"); v != "a=b" || string(it.Anchor) != "abcdefghijklmnopqrstuvwxyz012345" || !bytes.Equal(it.Data, []byte{0, 1, 2, 0xff}) {
				t.Fatalf("fields differ: %q %q %x", v, it.Anchor, it.Data)
			}
			r = run(t, "item", "verify", "--json", out)
			r.want(t, 0, "")
			var vr map[string]any
			if err := json.Unmarshal([]byte(r.stdout), &vr); err != nil || vr["valid"] != true || vr["id"] != it.ID() || vr["error"] != nil {
				t.Fatalf("verify output %q (%v)", r.stdout, err)
			}
			r = run(t, "item", "inspect", out)
			r.want(t, 0, "")
			var in map[string]any
			if err := json.Unmarshal([]byte(r.stdout), &in); err != nil {
				t.Fatal(err)
			}
			if in["id"] != it.ID() || in["target"] != target || in["signatureValid"] != true || in["dataSize"] != 4.0 {
				t.Fatalf("inspect output %s", r.stdout)
			}
			if _, ok := in["ethAddress"]; ok != (name == "ethereum") {
				t.Fatalf("ethAddress presence wrong: %s", r.stdout)
			}
		})
	}
	// Data from --data, anchor as base64url, item to standard output.
	anchorB64 := base64.RawURLEncoding.EncodeToString(bytes.Repeat([]byte{0xfe}, 32))
	r := run(t, "item", "sign", "--key", keys["ed25519"], "--anchor", anchorB64, "--data", "hello", "--out", "-")
	r.want(t, 0, "")
	it, err := dataitem.ParseVerified([]byte(r.stdout))
	if err != nil || string(it.Data) != "hello" || !bytes.Equal(it.Anchor, bytes.Repeat([]byte{0xfe}, 32)) {
		t.Fatalf("item on stdout: %v", err)
	}
	// Data from standard input.
	withStdin(t, []byte("from stdin"))
	out := filepath.Join(dir, "stdin.item")
	run(t, "item", "sign", "--key", keys["ed25519"], "--data-file", "-", "--out", out).want(t, 0, "")
	raw, _ := os.ReadFile(out)
	if it, err := dataitem.ParseVerified(raw); err != nil || string(it.Data) != "from stdin" {
		t.Fatalf("item with stdin data: %v", err)
	}
}

func TestItemSignErrors(t *testing.T) {
	dir := t.TempDir()
	keys := vectorKeyFiles(t, dir)
	bad := writeFile(t, dir, "bad.json", []byte(`{"kty":"OKP","crv":"Ed25519","d":"AAAA","x":"AAAA"}`))
	out := filepath.Join(dir, "o")
	cases := []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"missing key file", []string{"--key", filepath.Join(dir, "nope.json"), "--out", out}, 1, "no such file"},
		{"bad key", []string{"--key", bad, "--out", out}, 1, "invalid key"},
		{"not a key", []string{"--key", writeFile(t, dir, "x.json", []byte("hello")), "--out", out}, 1, "not a JWK"},
		{"no key flag", []string{"--out", out}, 2, "--key FILE is required"},
		{"no out flag", []string{"--key", keys["ed25519"]}, 2, "--out FILE is required"},
		{"tag without =", []string{"--key", keys["ed25519"], "--tag", "Action", "--out", out}, 2, "not Name=Value"},
		{"tag empty name", []string{"--key", keys["ed25519"], "--tag", "=v", "--out", out}, 2, "empty name"},
		{"tag empty value", []string{"--key", keys["ed25519"], "--tag", "n=", "--out", out}, 1, "empty_tag"},
		{"bad target", []string{"--key", keys["ed25519"], "--target", "abc", "--out", out}, 2, "--target"},
		{"bad anchor", []string{"--key", keys["ed25519"], "--anchor", "short", "--out", out}, 2, "--anchor must be"},
		{"both data flags", []string{"--key", keys["ed25519"], "--data", "", "--data-file", out, "--out", out}, 2, "not both"},
		{"missing data file", []string{"--key", keys["ed25519"], "--data-file", filepath.Join(dir, "nope"), "--out", out}, 1, "no such file"},
		{"extra argument", []string{"--key", keys["ed25519"], "--out", out, "extra"}, 2, "unexpected argument"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			run(t, append([]string{"item", "sign"}, c.args...)...).want(t, c.code, c.stderr)
			if _, err := os.Stat(out); err == nil {
				t.Fatal("an item was written")
			}
		})
	}
}

// TestInspectVectors: inspect agrees with every public item vector that parses.
func TestInspectVectors(t *testing.T) {
	dir := t.TempDir()
	for _, file := range []string{"items.json", "invalid.json"} {
		for _, v := range loadVectors(t, file) {
			t.Run(v.Name, func(t *testing.T) {
				p := writeFile(t, dir, v.Name, v.Raw)
				r := run(t, "item", "inspect", p)
				parses := v.Expect == "valid" || *v.ExpectedError == "invalid_signature"
				if !parses {
					r.want(t, 1, *v.ExpectedError)
					return
				}
				r.want(t, 0, "")
				var got struct {
					ID             string      `json:"id"`
					SignatureType  int         `json:"signatureType"`
					Owner          string      `json:"owner"`
					Address        string      `json:"address"`
					Target         string      `json:"target"`
					Anchor         string      `json:"anchor"`
					Tags           []aoapi.Tag `json:"tags"`
					DataSize       int         `json:"dataSize"`
					EthAddress     string      `json:"ethAddress"`
					SignatureValid bool        `json:"signatureValid"`
				}
				dec := json.NewDecoder(strings.NewReader(r.stdout))
				dec.DisallowUnknownFields()
				if err := dec.Decode(&got); err != nil {
					t.Fatalf("inspect output %s: %v", r.stdout, err)
				}
				if got.ID != v.ID || got.SignatureType != v.SignatureType || got.Owner != v.Owner || got.Address != v.OwnerAddress ||
					got.Target != v.Target || got.Anchor != v.Anchor || got.DataSize != v.DataSize || got.EthAddress != v.EthAddress ||
					got.SignatureValid != (v.Expect == "valid") {
					t.Fatalf("inspect output %s differs from the vector", r.stdout)
				}
				if len(got.Tags) != len(v.Tags) {
					t.Fatalf("%d tags, want %d", len(got.Tags), len(v.Tags))
				}
				for i := range got.Tags {
					if got.Tags[i] != v.Tags[i] {
						t.Fatalf("tag %d = %+v, want %+v", i, got.Tags[i], v.Tags[i])
					}
				}
			})
		}
	}
	run(t, "item", "inspect").want(t, 2, "exactly one FILE")
	run(t, "item", "inspect", filepath.Join(dir, "nope")).want(t, 1, "no such file")
}

// TestVerifyVectors: verify --json gives every public vector's verdict and
// error class, in one run over all files.
func TestVerifyVectors(t *testing.T) {
	dir := t.TempDir()
	var vectors []itemVector
	for _, file := range []string{"items.json", "items_large.json", "invalid.json"} {
		vectors = append(vectors, loadVectors(t, file)...)
	}
	args := []string{"item", "verify", "--json"}
	for _, v := range vectors {
		args = append(args, writeFile(t, dir, v.Name, v.Raw))
	}
	r := run(t, args...)
	r.want(t, 1, "")
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != len(vectors) {
		t.Fatalf("%d lines for %d inputs", len(lines), len(vectors))
	}
	for i, v := range vectors {
		t.Run(v.Name, func(t *testing.T) {
			var got struct {
				File    string  `json:"file"`
				ID      string  `json:"id"`
				Valid   bool    `json:"valid"`
				Error   *string `json:"error"`
				Message string  `json:"message"`
			}
			if err := json.Unmarshal([]byte(lines[i]), &got); err != nil {
				t.Fatal(err)
			}
			if got.File != args[3+i] || got.Valid != (v.Expect == "valid") {
				t.Fatalf("line %s, want expect %s", lines[i], v.Expect)
			}
			if v.Expect == "valid" {
				if got.Error != nil || got.ID != v.ID {
					t.Fatalf("line %s, want id %s", lines[i], v.ID)
				}
				return
			}
			if got.Error == nil || *got.Error != *v.ExpectedError || got.Message == "" {
				t.Fatalf("line %s, want error %s", lines[i], *v.ExpectedError)
			}
			if *v.ExpectedError == "invalid_signature" && got.ID != v.ID {
				t.Fatalf("line %s, want id %s", lines[i], v.ID)
			}
		})
	}
	// Only valid inputs: exit 0, plain output.
	valid := writeFile(t, dir, "valid", vectors[0].Raw)
	r = run(t, "item", "verify", valid, valid)
	r.want(t, 0, "")
	if strings.Count(r.stdout, ": valid "+vectors[0].ID) != 2 {
		t.Fatalf("plain output %q", r.stdout)
	}
	// Standard input, a missing file, and an invalid file in plain mode.
	withStdin(t, vectors[0].Raw)
	r = run(t, "item", "verify", "--json", "-", filepath.Join(dir, "nope"))
	r.want(t, 1, "")
	if !strings.Contains(r.stdout, `"file":"-","id":"`+vectors[0].ID+`","valid":true`) || !strings.Contains(r.stdout, `"error":"read_error"`) {
		t.Fatalf("output %q", r.stdout)
	}
	invalid := writeFile(t, dir, "short", []byte("short"))
	r = run(t, "item", "verify", invalid)
	r.want(t, 1, "")
	if !strings.Contains(r.stdout, "invalid: too_short") {
		t.Fatalf("plain output %q", r.stdout)
	}
	run(t, "item", "verify").want(t, 2, "at least one FILE")
}

func TestVerifyBundles(t *testing.T) {
	dir := t.TempDir()
	b, err := os.ReadFile(filepath.Join(vectorDir, "bundles.json"))
	if err != nil {
		t.Fatal(err)
	}
	var bf struct {
		Vectors []struct {
			Name          string  `json:"name"`
			RawBase64     string  `json:"raw_base64"`
			ItemCount     int     `json:"item_count"`
			Expect        string  `json:"expect"`
			ExpectedError *string `json:"expected_error"`
		}
	}
	if err := json.Unmarshal(b, &bf); err != nil || len(bf.Vectors) == 0 {
		t.Fatalf("bundle vectors: %v", err)
	}
	for _, v := range bf.Vectors {
		t.Run(v.Name, func(t *testing.T) {
			raw, err := base64.StdEncoding.DecodeString(v.RawBase64)
			if err != nil {
				t.Fatal(err)
			}
			p := writeFile(t, dir, v.Name, raw)
			r := run(t, "item", "verify", "--bundle", "--json", p)
			var got struct {
				Valid bool    `json:"valid"`
				Error *string `json:"error"`
				Items *int    `json:"items"`
			}
			if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
				t.Fatalf("output %q: %v", r.stdout, err)
			}
			if v.Expect == "valid" {
				r.want(t, 0, "")
				if !got.Valid || got.Items == nil || *got.Items != v.ItemCount {
					t.Fatalf("output %q", r.stdout)
				}
				return
			}
			r.want(t, 1, "")
			if got.Valid || got.Error == nil || *got.Error != *v.ExpectedError {
				t.Fatalf("output %q, want %s", r.stdout, *v.ExpectedError)
			}
		})
	}
}
