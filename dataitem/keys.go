package dataitem

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
)

// Key files are JWK (RFC 7517) JSON for every signature type:
//
//	arweave:  {"kty":"RSA","n","e","d","p","q","dp","dq","qi"}, RSA-4096 with
//	          e = 65537: the wallet format arweave-js and aoconnect read
//	ed25519:  {"kty":"OKP","crv":"Ed25519","d":<seed>,"x":<public key>} (RFC 8037)
//	solana:   the ed25519 form plus "ans104_signature_type":4, which selects
//	          type 4 (signing the hex text of the deep hash) for the same key
//	ethereum: {"kty":"EC","crv":"secp256k1","d","x","y"} (RFC 8812)
//
// All values are base64url without padding. "ans104_signature_type" may be
// present on any key; it must then match the key's kind.
const sigTypeMember = "ans104_signature_type"

type jwk struct {
	Kty     string `json:"kty"`
	Crv     string `json:"crv"`
	N       string `json:"n"`
	E       string `json:"e"`
	D       string `json:"d"`
	P       string `json:"p"`
	Q       string `json:"q"`
	DP      string `json:"dp"`
	DQ      string `json:"dq"`
	QI      string `json:"qi"`
	X       string `json:"x"`
	Y       string `json:"y"`
	SigType *int   `json:"ans104_signature_type"`
}

// maxKeyFileBytes bounds what ParseKey will look at; an RSA-4096 JWK is
// about 3.2 KB.
const maxKeyFileBytes = 64 << 10

// GenerateKey makes a new key for signature type t (1 to 4) from crypto/rand.
// Arweave keys are RSA-4096 with e = 65537.
func GenerateKey(t SignatureType) (Signer, error) {
	switch t {
	case Arweave:
		k, err := rsa.GenerateKey(rand.Reader, 4096)
		if err != nil {
			return nil, fmt.Errorf("dataitem: generating RSA key: %w", err)
		}
		if k.E != arweaveExponent {
			return nil, fmt.Errorf("dataitem: generated RSA key has exponent %d", k.E)
		}
		return NewArweaveSigner(k), nil
	case ED25519, Solana:
		_, k, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("dataitem: generating ed25519 key: %w", err)
		}
		if t == Solana {
			return NewSolanaSigner(k), nil
		}
		return NewEd25519Signer(k), nil
	case Ethereum:
		k, err := secp256k1.GeneratePrivateKey()
		if err != nil {
			return nil, fmt.Errorf("dataitem: generating secp256k1 key: %w", err)
		}
		return NewEthereumSigner(k), nil
	}
	return nil, fmt.Errorf("dataitem: cannot make keys for signature type %s", t)
}

// ParseKey reads a JWK key file (see the formats above) and validates it.
func ParseKey(data []byte) (Signer, error) {
	if len(data) > maxKeyFileBytes {
		return nil, fmt.Errorf("%w: key file is %d bytes, more than %d", ErrInvalidKey, len(data), maxKeyFileBytes)
	}
	var k jwk
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&k); err != nil {
		return nil, fmt.Errorf("%w: not a JWK JSON object: %v", ErrInvalidKey, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: data after the JWK object", ErrInvalidKey)
	}
	var s Signer
	var err error
	switch {
	case k.Kty == "RSA":
		s, err = parseRSAKey(&k)
	case k.Kty == "OKP" && k.Crv == "Ed25519":
		s, err = parseEd25519Key(&k)
	case k.Kty == "EC" && k.Crv == "secp256k1":
		s, err = parseSecp256k1Key(&k)
	default:
		return nil, fmt.Errorf("%w: unsupported JWK kty %q crv %q (want RSA, OKP/Ed25519 or EC/secp256k1)", ErrInvalidKey, k.Kty, k.Crv)
	}
	if err != nil {
		return nil, err
	}
	if k.SigType != nil && *k.SigType != int(s.SignatureType()) {
		return nil, fmt.Errorf("%w: %s %d does not fit a %s key", ErrInvalidKey, sigTypeMember, *k.SigType, k.Kty)
	}
	return s, nil
}

func b64field(name, v string, size int) ([]byte, error) {
	if v == "" {
		return nil, fmt.Errorf("%w: JWK member %q is missing", ErrInvalidKey, name)
	}
	b, err := base64.RawURLEncoding.DecodeString(v)
	if err != nil {
		return nil, fmt.Errorf("%w: JWK member %q is not base64url: %v", ErrInvalidKey, name, err)
	}
	if size > 0 && len(b) != size {
		return nil, fmt.Errorf("%w: JWK member %q is %d bytes, want %d", ErrInvalidKey, name, len(b), size)
	}
	return b, nil
}

func b64int(name, v string) (*big.Int, error) {
	b, err := b64field(name, v, 0)
	if err != nil {
		return nil, err
	}
	return new(big.Int).SetBytes(b), nil
}

func parseRSAKey(k *jwk) (Signer, error) {
	n, err := b64field("n", k.N, 512)
	if err != nil {
		return nil, err
	}
	e, err := b64int("e", k.E)
	if err != nil {
		return nil, err
	}
	if !e.IsInt64() || e.Int64() != arweaveExponent {
		return nil, fmt.Errorf("%w: RSA exponent is %v, Arweave keys use %d", ErrInvalidKey, e, arweaveExponent)
	}
	var ints [3]*big.Int
	for i, f := range []struct{ name, v string }{{"d", k.D}, {"p", k.P}, {"q", k.Q}} {
		if ints[i], err = b64int(f.name, f.v); err != nil {
			return nil, err
		}
	}
	key := &rsa.PrivateKey{
		PublicKey: rsa.PublicKey{N: new(big.Int).SetBytes(n), E: arweaveExponent},
		D:         ints[0],
		Primes:    []*big.Int{ints[1], ints[2]},
	}
	if err := checkArweaveKey(key); err != nil {
		return nil, err
	}
	if err := key.Validate(); err != nil {
		return nil, fmt.Errorf("%w: RSA key is inconsistent: %v", ErrInvalidKey, err)
	}
	key.Precompute()
	// The CRT values are optional in a JWK but must be right when given.
	for _, f := range []struct {
		name, v string
		want    *big.Int
	}{{"dp", k.DP, key.Precomputed.Dp}, {"dq", k.DQ, key.Precomputed.Dq}, {"qi", k.QI, key.Precomputed.Qinv}} {
		if f.v == "" {
			continue
		}
		got, err := b64int(f.name, f.v)
		if err != nil {
			return nil, err
		}
		if f.want != nil && got.Cmp(f.want) != 0 {
			return nil, fmt.Errorf("%w: JWK member %q does not match the key", ErrInvalidKey, f.name)
		}
	}
	return NewArweaveSigner(key), nil
}

func parseEd25519Key(k *jwk) (Signer, error) {
	seed, err := b64field("d", k.D, ed25519.SeedSize)
	if err != nil {
		return nil, err
	}
	pub, err := b64field("x", k.X, ed25519.PublicKeySize)
	if err != nil {
		return nil, err
	}
	priv := ed25519.NewKeyFromSeed(seed)
	if !bytes.Equal(priv[32:], pub) {
		return nil, fmt.Errorf("%w: ed25519 public key x does not match the seed d", ErrInvalidKey)
	}
	if k.SigType != nil && *k.SigType == int(Solana) {
		return NewSolanaSigner(priv), nil
	}
	return NewEd25519Signer(priv), nil
}

func parseSecp256k1Key(k *jwk) (Signer, error) {
	d, err := b64field("d", k.D, 32)
	if err != nil {
		return nil, err
	}
	x, err := b64field("x", k.X, 32)
	if err != nil {
		return nil, err
	}
	y, err := b64field("y", k.Y, 32)
	if err != nil {
		return nil, err
	}
	var scalar secp256k1.ModNScalar
	if overflow := scalar.SetByteSlice(d); overflow || scalar.IsZero() {
		return nil, fmt.Errorf("%w: secp256k1 private key is out of range", ErrInvalidKey)
	}
	priv := secp256k1.NewPrivateKey(&scalar)
	pub := priv.PubKey().SerializeUncompressed()
	if !bytes.Equal(pub[1:33], x) || !bytes.Equal(pub[33:], y) {
		return nil, fmt.Errorf("%w: secp256k1 public key x, y does not match d", ErrInvalidKey)
	}
	return NewEthereumSigner(priv), nil
}

type rsaJWK struct {
	Kty string `json:"kty"`
	N   string `json:"n"`
	E   string `json:"e"`
	D   string `json:"d"`
	P   string `json:"p"`
	Q   string `json:"q"`
	DP  string `json:"dp"`
	DQ  string `json:"dq"`
	QI  string `json:"qi"`
}

type okpJWK struct {
	Kty     string `json:"kty"`
	Crv     string `json:"crv"`
	D       string `json:"d"`
	X       string `json:"x"`
	SigType int    `json:"ans104_signature_type,omitempty"`
}

type ecJWK struct {
	Kty string `json:"kty"`
	Crv string `json:"crv"`
	D   string `json:"d"`
	X   string `json:"x"`
	Y   string `json:"y"`
}

// MarshalKey writes the JWK key file of one of this package's signers.
func MarshalKey(s Signer) ([]byte, error) {
	enc := base64.RawURLEncoding.EncodeToString
	var v any
	switch s := s.(type) {
	case *ArweaveSigner:
		k := s.Key
		if err := checkArweaveKey(k); err != nil {
			return nil, err
		}
		if len(k.Primes) != 2 {
			return nil, fmt.Errorf("%w: RSA key has %d primes, a JWK holds 2", ErrInvalidKey, len(k.Primes))
		}
		// Precompute on a copy: the signer's key may be shared.
		c := *k
		c.Precomputed = rsa.PrecomputedValues{}
		c.Precompute()
		if c.Precomputed.Dp == nil {
			return nil, fmt.Errorf("%w: RSA key cannot be precomputed", ErrInvalidKey)
		}
		v = rsaJWK{
			Kty: "RSA",
			N:   enc(k.N.FillBytes(make([]byte, 512))),
			E:   enc(big.NewInt(int64(k.E)).Bytes()),
			D:   enc(k.D.Bytes()),
			P:   enc(k.Primes[0].Bytes()),
			Q:   enc(k.Primes[1].Bytes()),
			DP:  enc(c.Precomputed.Dp.Bytes()),
			DQ:  enc(c.Precomputed.Dq.Bytes()),
			QI:  enc(c.Precomputed.Qinv.Bytes()),
		}
	case *Ed25519Signer:
		if len(s.Key) != ed25519.PrivateKeySize {
			return nil, fmt.Errorf("%w: ed25519 private key is %d bytes", ErrInvalidKey, len(s.Key))
		}
		v = okpJWK{Kty: "OKP", Crv: "Ed25519", D: enc(s.Key.Seed()), X: enc(s.Key[32:])}
	case *SolanaSigner:
		if len(s.Key) != ed25519.PrivateKeySize {
			return nil, fmt.Errorf("%w: ed25519 private key is %d bytes", ErrInvalidKey, len(s.Key))
		}
		v = okpJWK{Kty: "OKP", Crv: "Ed25519", D: enc(s.Key.Seed()), X: enc(s.Key[32:]), SigType: int(Solana)}
	case *EthereumSigner:
		if s.Key == nil {
			return nil, fmt.Errorf("%w: no secp256k1 key", ErrInvalidKey)
		}
		pub := s.Key.PubKey().SerializeUncompressed()
		v = ecJWK{Kty: "EC", Crv: "secp256k1", D: enc(s.Key.Serialize()), X: enc(pub[1:33]), Y: enc(pub[33:])}
	default:
		return nil, fmt.Errorf("%w: cannot write a key file for %T", ErrInvalidKey, s)
	}
	out, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("dataitem: encoding key: %w", err)
	}
	return append(out, '\n'), nil
}

// OwnerAddress is the Arweave-style address of an owner: base64url(sha256(owner)).
func OwnerAddress(owner []byte) string {
	a := sha256.Sum256(owner)
	return EncodeID(a[:])
}
