package dataitem

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"sync"

	"github.com/aonode/aonode/dataitem/internal/rsa4096"
	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"
	lru "github.com/hashicorp/golang-lru/v2"
	voi "github.com/oasisprotocol/curve25519-voi/primitives/ed25519"
	"golang.org/x/crypto/sha3"
)

// arweaveExponent is the public exponent of every Arweave key: the owner
// field holds only the modulus.
const arweaveExponent = 65537

// Verify checks the signature (rule 10) over the deep hash of the item with
// its tag section exactly as received. Failures are invalid_signature errors.
func (it *Item) Verify() error {
	m := it.DeepHash()
	return verifySignature(it.SignatureType, it.Owner, it.Signature, m[:])
}

func verifySignature(t SignatureType, owner, sig, m []byte) error {
	cfg, ok := t.config()
	if !ok {
		return newError(ErrUnknownSignatureType, "signature type %d", uint16(t))
	}
	if len(owner) != cfg.ownerLen || len(sig) != cfg.sigLen {
		return newError(ErrInvalidSignature, "%s owner or signature has the wrong length", t)
	}
	var ok2 bool
	var why string
	switch t {
	case Arweave:
		ok2, why = verifyArweave(owner, sig, m)
	case ED25519:
		ok2, why = verifyEd25519(owner, m, sig), "ed25519 signature does not verify"
	case Solana:
		ok2, why = verifyEd25519(owner, hexMessage(m), sig), "ed25519 signature over the hex deep hash does not verify"
	case InjectedAptos:
		ok2, why = verifyEd25519(owner, aptosMessage(m), sig), "ed25519 signature over the Aptos message does not verify"
	case MultiAptos:
		ok2, why = verifyMultiAptos(owner, sig, m)
	case Ethereum:
		ok2, why = verifyEthereum(owner, sig, eip191Digest(m))
	case TypedEthereum:
		ok2, why = verifyTypedEthereum(owner, sig, m)
	}
	if !ok2 {
		return &Error{Class: ErrInvalidSignature.Class, Msg: why}
	}
	return nil
}

// verifyArweave is crypto/rsa.VerifyPSS with the salt length auto-detected,
// four to five times faster (see rsa4096's doc).
func verifyArweave(owner, sig, m []byte) (bool, string) {
	k, err := arweaveKey(owner)
	if err != nil {
		return false, "RSA-PSS owner is not a usable modulus (odd, first byte not zero)"
	}
	digest := sha256.Sum256(m)
	if err := k.VerifyPSS(digest[:], sig); err != nil {
		return false, "RSA-PSS signature does not verify"
	}
	return true, ""
}

// arweaveKeyCacheSize bounds the moduli whose Montgomery constants are kept:
// about 1.1 KB each. An SU sees the same owners again and again; a modulus
// not in the cache costs one reduction more (about 10 µs, an eighth of a
// verification), so a flood of new owners evicts keys but slows nothing
// much.
const arweaveKeyCacheSize = 1024

// arweaveKeys memoises rsa4096.NewPublicKey, a function of the owner bytes
// alone: sharing it between all callers changes no result.
var arweaveKeys = sync.OnceValue(func() *lru.Cache[[rsa4096.Size]byte, *rsa4096.PublicKey] {
	c, err := lru.New[[rsa4096.Size]byte, *rsa4096.PublicKey](arweaveKeyCacheSize)
	if err != nil {
		panic(err) // only for a size below 1
	}
	return c
})

// arweaveKey returns the prepared key of a 512-byte owner.
func arweaveKey(owner []byte) (*rsa4096.PublicKey, error) {
	id := [rsa4096.Size]byte(owner)
	cache := arweaveKeys()
	if k, ok := cache.Get(id); ok {
		return k, nil
	}
	k, err := rsa4096.NewPublicKey(owner)
	if err != nil {
		return nil, err
	}
	cache.Add(id, k)
	return k, nil
}

// ed25519KeyCacheSize bounds the ed25519 owners whose decompressed, expanded points are
// kept (a few KB each). A key not in the cache is decompressed again: one field inversion
// more, about a fifth of a verification.
const ed25519KeyCacheSize = 1024

// ed25519Keys memoises voi.NewExpandedPublicKey, a function of the owner bytes alone.
var ed25519Keys = sync.OnceValue(func() *lru.Cache[[ed25519.PublicKeySize]byte, *voi.ExpandedPublicKey] {
	c, err := lru.New[[ed25519.PublicKeySize]byte, *voi.ExpandedPublicKey](ed25519KeyCacheSize)
	if err != nil {
		panic(err) // only for a size below 1
	}
	return c
})

// stdlibVerify makes voi accept exactly what crypto/ed25519.Verify accepts: cofactorless,
// small-order and non-canonical public keys and small-order R allowed, non-canonical R and
// S >= L refused (verify_diff_test.go holds it to crypto/ed25519).
var stdlibVerify = &voi.Options{Verify: voi.VerifyOptionsStdLib}

// verifyEd25519 is crypto/ed25519.Verify computed by curve25519-voi with the owner's point
// decompressed once and cached: about half the CPU, which is a third of what an SU spends
// on a POSTed ed25519 item.
func verifyEd25519(pub, m, sig []byte) bool {
	if len(pub) != ed25519.PublicKeySize || len(sig) != ed25519.SignatureSize {
		return false
	}
	id := [ed25519.PublicKeySize]byte(pub)
	cache := ed25519Keys()
	k, ok := cache.Get(id)
	if !ok {
		var err error
		if k, err = voi.NewExpandedPublicKey(voi.PublicKey(pub)); err != nil {
			return false // not a point: crypto/ed25519 refuses it too
		}
		cache.Add(id, k)
	}
	return voi.VerifyExpandedWithOptions(k, m, sig, stdlibVerify)
}

func hexMessage(m []byte) []byte {
	out := make([]byte, hex.EncodedLen(len(m)))
	hex.Encode(out, m)
	return out
}

func aptosMessage(m []byte) []byte {
	b := append([]byte("APTOS\nmessage: "), hexMessage(m)...)
	return append(b, "\nnonce: bundlr"...)
}

// verifyMultiAptos checks a multi-ed25519 signature: 32 slots of 64 bytes and
// a 4-byte bitmap (bit i, most significant first, selects slot i, signed by
// key i). arbundles accepts an empty bitmap; here at least one signature and at
// least the owner's threshold (its last byte) of them are required, because an
// item nobody signed is not signed.
func verifyMultiAptos(owner, sig, m []byte) (bool, string) {
	bitmap := sig[32*64:]
	threshold := int(owner[32*32])
	n := 0
	for i := range 32 {
		if bitmap[i/8]&(0x80>>(i%8)) == 0 {
			continue
		}
		n++
		if !verifyEd25519(owner[i*32:(i+1)*32], m, sig[i*64:(i+1)*64]) {
			return false, "multi-ed25519 signature in slot " + itoa(i) + " does not verify"
		}
	}
	if n == 0 || n < threshold {
		return false, "multi-ed25519 signature has " + itoa(n) + " signatures, threshold " + itoa(threshold)
	}
	return true, ""
}

func keccak256(parts ...[]byte) []byte {
	h := sha3.NewLegacyKeccak256()
	for _, p := range parts {
		h.Write(p)
	}
	return h.Sum(nil)
}

// eip191Digest is what type 3 signs: personal_sign of the 48 raw bytes.
func eip191Digest(m []byte) []byte {
	return keccak256([]byte("\x19Ethereum Signed Message:\n48"), m)
}

// recoverEthereum recovers the public key from r‖s‖v (v in {27, 28}),
// rejecting high-S signatures as go-ethereum and arbundles do.
func recoverEthereum(sig, digest []byte) (*secp256k1.PublicKey, string) {
	v := sig[64]
	if v != 27 && v != 28 {
		return nil, "v byte is " + itoa(int(v)) + ", want 27 or 28"
	}
	var s secp256k1.ModNScalar
	if overflow := s.SetByteSlice(sig[32:64]); overflow || s.IsZero() {
		return nil, "s is out of range"
	}
	if s.IsOverHalfOrder() {
		return nil, "s is in the upper half of the order (high-S, malleable)"
	}
	var compact [65]byte
	compact[0] = v
	copy(compact[1:], sig[:64])
	pub, _, err := ecdsa.RecoverCompact(compact[:], digest)
	if err != nil {
		return nil, "cannot recover a public key: " + err.Error()
	}
	return pub, ""
}

// ethAddressBytes is the Ethereum address of an uncompressed key X‖Y.
func ethAddressBytes(xy []byte) []byte { return keccak256(xy)[12:] }

// eip55 formats a 20-byte address with the EIP-55 mixed-case checksum.
func eip55(addr []byte) string {
	lower := hex.EncodeToString(addr)
	h := keccak256([]byte(lower))
	out := []byte("0x" + lower)
	for i := range 40 {
		c := out[2+i]
		nibble := h[i/2] >> 4
		if i%2 == 1 {
			nibble = h[i/2] & 0x0f
		}
		if c >= 'a' && c <= 'f' && nibble >= 8 {
			out[2+i] = c - 'a' + 'A'
		}
	}
	return string(out)
}

// parseEthAddress reads "0x" and 40 hex digits. Mixed case must carry a valid
// EIP-55 checksum, as ethers requires.
func parseEthAddress(s []byte) ([]byte, bool) {
	if len(s) != 42 || s[0] != '0' || (s[1] != 'x' && s[1] != 'X') {
		return nil, false
	}
	addr, err := hex.DecodeString(string(s[2:]))
	if err != nil {
		return nil, false
	}
	digits := s[2:]
	if !bytes.Equal(digits, bytes.ToLower(digits)) && !bytes.Equal(digits, bytes.ToUpper(digits)) &&
		eip55(addr)[2:] != string(digits) {
		return nil, false
	}
	return addr, true
}

// typedDataDigest is the EIP-712 digest type 7 signs: domain
// {name: "Bundlr", version: "1"} and the struct
// Bundlr(bytes Transaction hash,address address).
func typedDataDigest(m, addr []byte) []byte {
	domainType := keccak256([]byte("EIP712Domain(string name,string version)"))
	domain := keccak256(domainType, keccak256([]byte("Bundlr")), keccak256([]byte("1")))
	structType := keccak256([]byte("Bundlr(bytes Transaction hash,address address)"))
	var paddedAddr [32]byte
	copy(paddedAddr[12:], addr)
	structHash := keccak256(structType, keccak256(m), paddedAddr[:])
	return keccak256([]byte{0x19, 0x01}, domain, structHash)
}

func verifyTypedEthereum(owner, sig, m []byte) (bool, string) {
	addr, ok := parseEthAddress(owner)
	if !ok {
		return false, "owner is not a 0x Ethereum address"
	}
	pub, why := recoverEthereum(sig, typedDataDigest(m, addr))
	if pub == nil {
		return false, why
	}
	if !bytes.Equal(ethAddressBytes(pub.SerializeUncompressed()[1:]), addr) {
		return false, "signature does not recover the owner address"
	}
	return true, ""
}

func itoa(i int) string      { return strconv.Itoa(i) }
func itoa64(v uint64) string { return strconv.FormatUint(v, 10) }
