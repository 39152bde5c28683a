package dataitem

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
)

// The ANS-104 vectors are ours and live in testdata/ (copied from
// shared/vectors/ans104 with their README).

type itemVector struct {
	Name          string         `json:"name"`
	KeyID         string         `json:"key_id"`
	RawBase64     string         `json:"raw_base64"`
	RawSize       int            `json:"raw_size"`
	SignatureType *int           `json:"signature_type"`
	ID            string         `json:"id"`
	Signature     string         `json:"signature"`
	Owner         string         `json:"owner"`
	OwnerAddress  string         `json:"owner_sha256_address"`
	EthAddress    string         `json:"eth_address"`
	Target        *string        `json:"target"`
	Anchor        *string        `json:"anchor"`
	TagCount      *uint64        `json:"tag_count"`
	TagBytesLen   *uint64        `json:"tag_bytes_len"`
	Layout        map[string]int `json:"layout"`
	TagsAvro      *string        `json:"tags_avro_base64"`
	TagsB64       []vectorTag    `json:"tags_base64url"`
	DataSize      *int           `json:"data_size"`
	DataSHA256    string         `json:"data_sha256_hex"`
	DataBase64    *string        `json:"data_base64"`
	DeepHashHex   string         `json:"deep_hash_hex"`
	SignedASCII   string         `json:"signed_message_ascii"`
	SignedDigest  string         `json:"signed_digest_hex"`
	Expect        string         `json:"expect"`
	ExpectedError *string        `json:"expected_error"`
}

type vectorTag struct{ Name, Value string }

type vectorFile[T any] struct {
	Count   int `json:"count"`
	Vectors []T `json:"vectors"`
}

func loadJSON(t testing.TB, name string, v any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatalf("reading vectors: %v", err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("decoding %s: %v", name, err)
	}
}

func loadItemVectors(t testing.TB, files ...string) []itemVector {
	t.Helper()
	var all []itemVector
	for _, f := range files {
		var vf vectorFile[itemVector]
		loadJSON(t, f, &vf)
		if len(vf.Vectors) != vf.Count || vf.Count == 0 {
			t.Fatalf("%s: count %d but %d vectors", f, vf.Count, len(vf.Vectors))
		}
		all = append(all, vf.Vectors...)
	}
	return all
}

func mustStd64(t testing.TB, s string) []byte {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatalf("bad base64 in vector: %v", err)
	}
	return b
}

func mustURL64(t testing.TB, s string) []byte {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		t.Fatalf("bad base64url in vector: %v", err)
	}
	return b
}

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("bad hex in vector: %v", err)
	}
	return b
}

// sentinelFor maps an error class to its sentinel.
var sentinels = []*Error{
	ErrTooShort, ErrUnknownSignatureType, ErrTruncated, ErrInvalidPresenceByte, ErrTagBytesTooLarge,
	ErrInvalidTagsEncoding, ErrTagCountMismatch, ErrTagCountExceeded, ErrEmptyTag, ErrTagNameTooLong,
	ErrTagValueTooLong, ErrInvalidSignature, ErrBundleTruncated, ErrBundleSizeMismatch,
	ErrBundleItemInvalid, ErrBundleIDMismatch,
}

func sentinelFor(t testing.TB, class string) *Error {
	t.Helper()
	for _, s := range sentinels {
		if s.Class == class {
			return s
		}
	}
	t.Fatalf("vector names unknown error class %q", class)
	return nil
}

func TestItemVectors(t *testing.T) {
	vectors := loadItemVectors(t, "items.json", "items_large.json", "invalid.json")
	for _, v := range vectors {
		t.Run(v.Name, func(t *testing.T) {
			raw := mustStd64(t, v.RawBase64)
			if len(raw) != v.RawSize {
				t.Fatalf("raw is %d bytes, vector says %d", len(raw), v.RawSize)
			}
			it, err := ParseVerified(raw)
			switch v.Expect {
			case "valid":
				if err != nil {
					t.Fatalf("valid vector rejected: %v", err)
				}
				checkItemFields(t, v, it, raw)
			case "invalid":
				if v.ExpectedError == nil {
					t.Fatal("invalid vector without expected_error")
				}
				if err == nil {
					t.Fatalf("invalid vector accepted, want %s", *v.ExpectedError)
				}
				if got := ErrorClass(err); got != *v.ExpectedError {
					t.Fatalf("error class %q (%v), want %q", got, err, *v.ExpectedError)
				}
				if !errors.Is(err, sentinelFor(t, *v.ExpectedError)) {
					t.Fatalf("errors.Is(%v, sentinel %s) is false", err, *v.ExpectedError)
				}
				// Items that parse and only fail the signature still have
				// the recorded fields.
				if *v.ExpectedError == "invalid_signature" {
					parsed, err := Parse(raw)
					if err != nil {
						t.Fatalf("Parse: %v", err)
					}
					checkItemFields(t, v, parsed, raw)
				}
			default:
				t.Fatalf("unknown expect %q", v.Expect)
			}
		})
	}
}

func checkItemFields(t *testing.T, v itemVector, it *Item, raw []byte) {
	t.Helper()
	if v.SignatureType == nil || int(it.SignatureType) != *v.SignatureType {
		t.Errorf("signature type %d, want %v", it.SignatureType, v.SignatureType)
	}
	if got := it.ID(); got != v.ID {
		t.Errorf("id %s, want %s", got, v.ID)
	}
	if id := it.RawID(); EncodeID(id[:]) != v.ID {
		t.Errorf("raw id does not match id")
	}
	if got := EncodeID(it.Signature); got != v.Signature {
		t.Errorf("signature differs")
	}
	if got := EncodeID(it.Owner); got != v.Owner {
		t.Errorf("owner differs")
	}
	if got := it.Address(); got != v.OwnerAddress {
		t.Errorf("address %s, want %s", got, v.OwnerAddress)
	}
	if got := it.EthAddress(); got != v.EthAddress {
		t.Errorf("eth address %q, want %q", got, v.EthAddress)
	}
	if v.Target != nil && EncodeID(it.Target) != *v.Target {
		t.Errorf("target %q, want %q", EncodeID(it.Target), *v.Target)
	}
	if v.Target != nil && *v.Target == "" && it.Target != nil {
		t.Errorf("absent target is not nil")
	}
	if v.Anchor != nil && EncodeID(it.Anchor) != *v.Anchor {
		t.Errorf("anchor %q, want %q", EncodeID(it.Anchor), *v.Anchor)
	}
	if v.Anchor != nil && *v.Anchor == "" && it.Anchor != nil {
		t.Errorf("absent anchor is not nil")
	}
	if v.TagCount != nil && uint64(len(it.Tags)) != *v.TagCount {
		t.Errorf("%d tags, want %d", len(it.Tags), *v.TagCount)
	}
	if v.TagBytesLen != nil && uint64(len(it.TagBytes())) != *v.TagBytesLen {
		t.Errorf("%d tag bytes, want %d", len(it.TagBytes()), *v.TagBytesLen)
	}
	if v.TagsAvro != nil && !bytes.Equal(it.TagBytes(), mustStd64(t, *v.TagsAvro)) {
		t.Errorf("tag bytes differ")
	}
	if len(v.TagsB64) != len(it.Tags) {
		t.Errorf("%d tags, vector lists %d", len(it.Tags), len(v.TagsB64))
	} else {
		for i, tag := range v.TagsB64 {
			if it.Tags[i].Name != string(mustURL64(t, tag.Name)) || it.Tags[i].Value != string(mustURL64(t, tag.Value)) {
				t.Errorf("tag %d is %q=%q, want %q=%q", i, it.Tags[i].Name, it.Tags[i].Value, mustURL64(t, tag.Name), mustURL64(t, tag.Value))
			}
		}
	}
	if len(it.Tags) > 0 {
		if val, ok := it.Tag(it.Tags[0].Name); !ok || val != it.Tags[0].Value {
			t.Errorf("Tag(%q) = %q, %v", it.Tags[0].Name, val, ok)
		}
	}
	if v.DataSize != nil && len(it.Data) != *v.DataSize {
		t.Errorf("data is %d bytes, want %d", len(it.Data), *v.DataSize)
	}
	if v.DataSHA256 != "" {
		sum := sha256.Sum256(it.Data)
		if hex.EncodeToString(sum[:]) != v.DataSHA256 {
			t.Errorf("data sha256 differs")
		}
	}
	if v.DataBase64 != nil && !bytes.Equal(it.Data, mustStd64(t, *v.DataBase64)) {
		t.Errorf("data differs")
	}
	if off, ok := v.Layout["data_offset"]; ok && len(raw)-len(it.Data) != off {
		t.Errorf("data at offset %d, want %d", len(raw)-len(it.Data), off)
	}
	m := it.DeepHash()
	if v.DeepHashHex != "" && hex.EncodeToString(m[:]) != v.DeepHashHex {
		t.Errorf("deep hash %x, want %s", m, v.DeepHashHex)
	}
	if v.SignedASCII != "" && string(hexMessage(m[:])) != v.SignedASCII {
		t.Errorf("signed message %q, want %q", hexMessage(m[:]), v.SignedASCII)
	}
	if v.SignedDigest != "" {
		var digest []byte
		switch it.SignatureType {
		case Ethereum:
			digest = eip191Digest(m[:])
		case TypedEthereum:
			addr, ok := parseEthAddress(it.Owner)
			if !ok {
				t.Fatalf("type 7 owner %q is not an address", it.Owner)
			}
			digest = typedDataDigest(m[:], addr)
		}
		if hex.EncodeToString(digest) != v.SignedDigest {
			t.Errorf("signed digest %x, want %s", digest, v.SignedDigest)
		}
	}
	if !bytes.Equal(it.Raw(), raw) {
		t.Errorf("Raw differs from the input")
	}
	// Re-serialising the parsed fields gives the same bytes.
	if re := serialise(it.SignatureType, it.Signature, it.Owner, it.Target, it.Anchor, len(it.Tags), it.TagBytes(), it.Data); !bytes.Equal(re, raw) {
		t.Errorf("re-serialised item differs")
	}
}

type bundleVector struct {
	Name          string  `json:"name"`
	RawBase64     string  `json:"raw_base64"`
	ItemCount     int     `json:"item_count"`
	Expect        string  `json:"expect"`
	ExpectedError *string `json:"expected_error"`
	Items         []struct {
		ID            string `json:"id"`
		SignatureType int    `json:"signature_type"`
		Size          int    `json:"size"`
	} `json:"items"`
}

func TestBundleVectors(t *testing.T) {
	var vf vectorFile[bundleVector]
	loadJSON(t, "bundles.json", &vf)
	if len(vf.Vectors) == 0 {
		t.Fatal("no bundle vectors")
	}
	for _, v := range vf.Vectors {
		t.Run(v.Name, func(t *testing.T) {
			raw := mustStd64(t, v.RawBase64)
			items, err := ParseBundle(raw)
			if v.Expect == "invalid" {
				if err == nil || v.ExpectedError == nil || ErrorClass(err) != *v.ExpectedError {
					t.Fatalf("got %v, want class %v", err, v.ExpectedError)
				}
				if !errors.Is(err, sentinelFor(t, *v.ExpectedError)) {
					t.Fatalf("errors.Is(%v, sentinel) is false", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("valid bundle rejected: %v", err)
			}
			if len(items) != v.ItemCount || len(items) != len(v.Items) {
				t.Fatalf("%d items, want %d", len(items), v.ItemCount)
			}
			for i, want := range v.Items {
				if items[i].ID() != want.ID || int(items[i].SignatureType) != want.SignatureType || len(items[i].Raw()) != want.Size {
					t.Errorf("item %d: id %s type %d size %d, want %+v", i, items[i].ID(), items[i].SignatureType, len(items[i].Raw()), want)
				}
			}
			if !bytes.Equal(BuildBundle(items), raw) {
				t.Error("BuildBundle does not reproduce the bundle")
			}
		})
	}
}

type deepHashInput struct {
	Blob *string          `json:"blob"`
	List []*deepHashInput `json:"list"`
}

func (in *deepHashInput) hash(t *testing.T) [48]byte {
	if in.Blob != nil {
		return DeepHashBlob(mustStd64(t, *in.Blob))
	}
	children := make([][48]byte, len(in.List))
	for i, c := range in.List {
		children[i] = c.hash(t)
	}
	return DeepHashList(children...)
}

func TestDeepHashVectors(t *testing.T) {
	var vf vectorFile[struct {
		Name  string        `json:"name"`
		Input deepHashInput `json:"input"`
		Hex   string        `json:"deep_hash_hex"`
	}]
	loadJSON(t, "deephash.json", &vf)
	if len(vf.Vectors) == 0 {
		t.Fatal("no deep hash vectors")
	}
	for _, v := range vf.Vectors {
		t.Run(v.Name, func(t *testing.T) {
			got := v.Input.hash(t)
			if hex.EncodeToString(got[:]) != v.Hex {
				t.Fatalf("deep hash %x, want %s", got, v.Hex)
			}
			// A list made only of blobs hashes the same through DeepHashBlobs.
			if v.Input.Blob == nil {
				blobs := make([][]byte, 0, len(v.Input.List))
				for _, c := range v.Input.List {
					if c.Blob == nil {
						return
					}
					blobs = append(blobs, mustStd64(t, *c.Blob))
				}
				if h := DeepHashBlobs(blobs...); h != got {
					t.Fatalf("DeepHashBlobs %x, want %x", h, got)
				}
			}
		})
	}
}

func TestAvroTagVectors(t *testing.T) {
	var vf vectorFile[struct {
		Name    string `json:"name"`
		Tags    []Tag  `json:"tags"`
		AvroHex string `json:"avro_hex"`
	}]
	loadJSON(t, "avro_tags.json", &vf)
	if len(vf.Vectors) == 0 {
		t.Fatal("no avro vectors")
	}
	for _, v := range vf.Vectors {
		t.Run(v.Name, func(t *testing.T) {
			want := mustHex(t, v.AvroHex)
			var got []byte
			if len(v.Tags) > 0 {
				got = appendTags(nil, v.Tags)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("encoded %x, want %x", got, want)
			}
			enc, err := EncodeTags(v.Tags)
			if checkErr := checkTags(v.Tags); checkErr != nil {
				// arbundles writes tags the ANS-104 limits forbid (an empty
				// value); EncodeTags refuses them with the same class.
				if ErrorClass(err) != ErrorClass(checkErr) {
					t.Fatalf("EncodeTags error %v, want %v", err, checkErr)
				}
			} else if err != nil || !bytes.Equal(enc, want) {
				t.Fatalf("EncodeTags = %x, %v; want %x", enc, err, want)
			}
			if len(v.Tags) == 0 && enc != nil {
				t.Fatalf("no tags must encode as nil, got %x", enc)
			}
			dec, err := DecodeTags(want)
			if err != nil {
				t.Fatalf("DecodeTags: %v", err)
			}
			if len(dec) != len(v.Tags) {
				t.Fatalf("decoded %d tags, want %d", len(dec), len(v.Tags))
			}
			for i := range dec {
				if dec[i] != v.Tags[i] {
					t.Fatalf("tag %d = %+v, want %+v", i, dec[i], v.Tags[i])
				}
			}
		})
	}
}

// vectorKeys are the signers of keys.json, by key id (types 1 to 4).
type vectorKey struct {
	SignatureType int    `json:"signature_type"`
	Owner         string `json:"owner"`
	Private       struct {
		JWK           json.RawMessage `json:"jwk"`
		SeedHex       string          `json:"seed_hex"`
		PublicHex     string          `json:"public_hex"`
		PrivateKeyHex string          `json:"private_key_hex"`
		PublicHexEth  string          `json:"public_key_uncompressed_hex"`
		Address       string          `json:"address"`
	} `json:"private"`
}

func loadVectorSigners(t testing.TB) map[string]Signer {
	t.Helper()
	var kf struct {
		Keys map[string]vectorKey `json:"keys"`
	}
	loadJSON(t, "keys.json", &kf)
	out := map[string]Signer{}
	for id, k := range kf.Keys {
		var s Signer
		switch SignatureType(k.SignatureType) {
		case Arweave:
			var err error
			if s, err = ParseKey(k.Private.JWK); err != nil {
				t.Fatalf("%s: ParseKey of the vector JWK: %v", id, err)
			}
		case ED25519, Solana:
			priv := ed25519.NewKeyFromSeed(mustHex(t, k.Private.SeedHex))
			if hex.EncodeToString(priv[32:]) != k.Private.PublicHex {
				t.Fatalf("%s: public key does not match seed", id)
			}
			if k.SignatureType == int(Solana) {
				s = NewSolanaSigner(priv)
			} else {
				s = NewEd25519Signer(priv)
			}
		case Ethereum:
			s = NewEthereumSigner(secp256k1.PrivKeyFromBytes(mustHex(t, k.Private.PrivateKeyHex)))
			if got := s.(*EthereumSigner).EthAddress(); got != k.Private.Address {
				t.Fatalf("%s: address %s, want %s", id, got, k.Private.Address)
			}
		default:
			continue
		}
		if EncodeID(s.Owner()) != k.Owner {
			t.Fatalf("%s: owner does not match keys.json", id)
		}
		out[id] = s
	}
	if len(out) != 4 {
		t.Fatalf("%d signers of types 1-4 in keys.json, want 4", len(out))
	}
	return out
}

// TestResignVectors re-signs every valid vector of types 1-4 whose tags are
// canonical with the vector's key: the result verifies, and the deterministic
// types (2, 3 and 4) reproduce the vector's signature and id exactly.
func TestResignVectors(t *testing.T) {
	signers := loadVectorSigners(t)
	for _, v := range loadItemVectors(t, "items.json", "items_large.json") {
		s, ok := signers[v.KeyID]
		if !ok {
			continue
		}
		t.Run(v.Name, func(t *testing.T) {
			orig, err := Parse(mustStd64(t, v.RawBase64))
			if err != nil {
				t.Fatal(err)
			}
			canon, err := EncodeTags(orig.Tags)
			if err != nil || !bytes.Equal(canon, orig.TagBytes()) {
				t.Skip("tag section is not canonical: Sign would write other bytes")
			}
			it, err := Sign(s, Fields{Target: orig.Target, Anchor: orig.Anchor, Tags: orig.Tags, Data: orig.Data})
			if err != nil {
				t.Fatalf("Sign: %v", err)
			}
			if _, err := ParseVerified(it.Raw()); err != nil {
				t.Fatalf("re-signed item does not verify: %v", err)
			}
			if it.DeepHash() != orig.DeepHash() {
				t.Fatal("re-signed item has another deep hash")
			}
			if s.SignatureType() == Arweave {
				if orig.SignatureType == Arweave && len(it.Raw()) != len(orig.Raw()) {
					t.Fatal("re-signed item has another size")
				}
				return
			}
			if it.ID() != v.ID || !bytes.Equal(it.Raw(), orig.Raw()) {
				t.Fatalf("re-signed id %s, want %s", it.ID(), v.ID)
			}
		})
	}
}
