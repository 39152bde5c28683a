package dataitem

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"fmt"
	voi "github.com/oasisprotocol/curve25519-voi/primitives/ed25519"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"
)

// Fields are what a signer puts into a new item.
type Fields struct {
	Target []byte // nil (or empty) when absent, else 32 bytes
	Anchor []byte // nil (or empty) when absent, else 32 bytes
	Tags   []Tag
	Data   []byte
}

// Signer signs the 48-byte deep hash, transforming it as its type requires.
type Signer interface {
	SignatureType() SignatureType
	Owner() []byte // the public key bytes as stored in the item
	Sign(deepHash []byte) ([]byte, error)
}

// Sign builds the canonical item (tags in one positive block then 0; no tags
// is zero tag bytes), enforces the tag limits, signs it and returns it parsed.
// Signers of other packages have their signature verified before it is
// returned; the signers of this package are trusted to be correct.
func Sign(s Signer, f Fields) (*Item, error) {
	t := s.SignatureType()
	cfg, ok := t.config()
	if !ok {
		return nil, newError(ErrUnknownSignatureType, "signer has signature type %d", uint16(t))
	}
	target, err := optionalField(f.Target, "target")
	if err != nil {
		return nil, err
	}
	anchor, err := optionalField(f.Anchor, "anchor")
	if err != nil {
		return nil, err
	}
	tagBytes, err := EncodeTags(f.Tags)
	if err != nil {
		return nil, err
	}
	owner := s.Owner()
	if len(owner) != cfg.ownerLen {
		return nil, fmt.Errorf("%w: %s owner is %d bytes, want %d", ErrInvalidKey, t, len(owner), cfg.ownerLen)
	}
	m := signatureMessage(t, owner, target, anchor, tagBytes, f.Data)
	sig, err := s.Sign(m[:])
	if err != nil {
		return nil, fmt.Errorf("dataitem: signing: %w", err)
	}
	if len(sig) != cfg.sigLen {
		return nil, fmt.Errorf("dataitem: %s signer returned %d signature bytes, want %d", t, len(sig), cfg.sigLen)
	}
	if !ownSigner(s) {
		if err := verifySignature(t, owner, sig, m[:]); err != nil {
			return nil, fmt.Errorf("dataitem: signer produced a bad signature: %w", err)
		}
	}
	return assemble(t, sig, owner, target, anchor, f.Tags, tagBytes, f.Data), nil
}

// Assemble lays out a signed item from its parts without parsing it back: for callers that
// sign the deep hash themselves (a scheduler signing assignments in bulk). tagBytes must be
// EncodeTags(tags); the signature and owner must have the type's lengths, target and
// anchor be nil or 32 bytes. The signature is not checked.
func Assemble(t SignatureType, sig, owner, target, anchor []byte, tags []Tag, tagBytes, data []byte) (*Item, error) {
	cfg, ok := t.config()
	switch {
	case !ok:
		return nil, newError(ErrUnknownSignatureType, "signature type %d", uint16(t))
	case len(sig) != cfg.sigLen || len(owner) != cfg.ownerLen:
		return nil, fmt.Errorf("%w: %s signature of %d bytes or owner of %d bytes", ErrInvalidFields, t, len(sig), len(owner))
	case target != nil && len(target) != 32, anchor != nil && len(anchor) != 32:
		return nil, fmt.Errorf("%w: target or anchor not 32 bytes", ErrInvalidFields)
	case len(tagBytes) > MaxTagBytes:
		return nil, newError(ErrTagBytesTooLarge, "tag section is %d bytes, the limit is %d", len(tagBytes), MaxTagBytes)
	}
	return assemble(t, sig, owner, target, anchor, tags, tagBytes, data), nil
}

// assemble is Assemble for parts already checked: the item's fields alias its raw bytes, as
// Parse's do, and its tags are the (immutable) tags it was built from.
func assemble(t SignatureType, sig, owner, target, anchor []byte, tags []Tag, tagBytes, data []byte) *Item {
	raw := serialise(t, sig, owner, target, anchor, len(tags), tagBytes, data)
	it := &Item{SignatureType: t, raw: raw, Tags: append([]Tag(nil), tags...)}
	off := 2
	next := func(n int) []byte {
		b := raw[off : off+n : off+n]
		off += n
		return b
	}
	it.Signature = next(len(sig))
	it.Owner = next(len(owner))
	for _, f := range []*[]byte{&it.Target, &it.Anchor} {
		present := raw[off] == 1
		off++
		if present {
			*f = next(32)
		}
	}
	_ = next(8) // tag count
	_ = next(8) // tag bytes length
	it.tagBytes = next(len(tagBytes))
	it.Data = raw[off:len(raw):len(raw)]
	return it
}

func ownSigner(s Signer) bool {
	switch s.(type) {
	case *Ed25519Signer, *SolanaSigner, *ArweaveSigner, *EthereumSigner:
		return true
	}
	return false
}

func optionalField(b []byte, what string) ([]byte, error) {
	switch len(b) {
	case 0:
		return nil, nil
	case 32:
		return bytes.Clone(b), nil
	}
	return nil, fmt.Errorf("%w: %s is %d bytes, want 32 or none", ErrInvalidFields, what, len(b))
}

// Ed25519Signer signs type-2 items: ed25519 over the deep hash (deterministic).
type Ed25519Signer struct{ Key ed25519.PrivateKey }

// NewEd25519Signer returns a type-2 signer for k.
func NewEd25519Signer(k ed25519.PrivateKey) *Ed25519Signer { return &Ed25519Signer{Key: k} }

func (s *Ed25519Signer) SignatureType() SignatureType { return ED25519 }
func (s *Ed25519Signer) Owner() []byte                { return ed25519Public(s.Key) }
func (s *Ed25519Signer) Sign(deepHash []byte) ([]byte, error) {
	if len(s.Key) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("%w: ed25519 private key is %d bytes", ErrInvalidKey, len(s.Key))
	}
	return signEd25519(s.Key, deepHash), nil
}

// SolanaSigner signs type-4 items: ed25519 over the 96-character lowercase hex
// text of the deep hash, as Solana wallets sign messages (deterministic).
type SolanaSigner struct{ Key ed25519.PrivateKey }

// NewSolanaSigner returns a type-4 signer for k.
func NewSolanaSigner(k ed25519.PrivateKey) *SolanaSigner { return &SolanaSigner{Key: k} }

func (s *SolanaSigner) SignatureType() SignatureType { return Solana }
func (s *SolanaSigner) Owner() []byte                { return ed25519Public(s.Key) }
func (s *SolanaSigner) Sign(deepHash []byte) ([]byte, error) {
	if len(s.Key) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("%w: ed25519 private key is %d bytes", ErrInvalidKey, len(s.Key))
	}
	return signEd25519(s.Key, hexMessage(deepHash)), nil
}

// signEd25519 is ed25519.Sign, computed by curve25519-voi: the same RFC 8032 signature,
// byte for byte (tests compare them), in about half the time, which is most of what an SU
// spends per assignment. Verification stays with crypto/ed25519, whose acceptance rules the
// reference's clients share.
func signEd25519(k ed25519.PrivateKey, msg []byte) []byte {
	return voi.Sign(voi.PrivateKey(k), msg)
}

func ed25519Public(k ed25519.PrivateKey) []byte {
	if len(k) != ed25519.PrivateKeySize {
		return nil
	}
	return bytes.Clone(k[32:])
}

// ArweaveSigner signs type-1 items: RSA-PSS with SHA-256 and MGF1-SHA-256 over
// SHA-256 of the deep hash, with a 32-byte salt (what WebCrypto wallets and
// HyperBEAM use; verifiers detect the salt length). The key must be RSA-4096
// with e = 65537, since the item stores only the modulus.
type ArweaveSigner struct{ Key *rsa.PrivateKey }

// NewArweaveSigner returns a type-1 signer for k.
func NewArweaveSigner(k *rsa.PrivateKey) *ArweaveSigner { return &ArweaveSigner{Key: k} }

// ArweavePSSSaltLength is the salt length of the signatures ArweaveSigner makes.
const ArweavePSSSaltLength = 32

func (s *ArweaveSigner) SignatureType() SignatureType { return Arweave }
func (s *ArweaveSigner) Owner() []byte {
	if s.Key == nil || s.Key.N == nil || s.Key.N.BitLen() > 4096 {
		return nil
	}
	return s.Key.N.FillBytes(make([]byte, 512))
}
func (s *ArweaveSigner) Sign(deepHash []byte) ([]byte, error) {
	if err := checkArweaveKey(s.Key); err != nil {
		return nil, err
	}
	digest := sha256.Sum256(deepHash)
	return rsa.SignPSS(rand.Reader, s.Key, crypto.SHA256, digest[:], &rsa.PSSOptions{SaltLength: ArweavePSSSaltLength})
}

func checkArweaveKey(k *rsa.PrivateKey) error {
	switch {
	case k == nil || k.N == nil:
		return fmt.Errorf("%w: no RSA key", ErrInvalidKey)
	case k.N.BitLen() != 4096:
		return fmt.Errorf("%w: RSA modulus is %d bits, Arweave keys are 4096", ErrInvalidKey, k.N.BitLen())
	case k.E != arweaveExponent:
		return fmt.Errorf("%w: RSA exponent is %d, Arweave keys use %d", ErrInvalidKey, k.E, arweaveExponent)
	}
	return nil
}

// EthereumSigner signs type-3 items: secp256k1 ECDSA (RFC 6979, low-S) over
// the EIP-191 digest of the deep hash, as r‖s‖v with v in {27, 28}.
type EthereumSigner struct{ Key *secp256k1.PrivateKey }

// NewEthereumSigner returns a type-3 signer for k.
func NewEthereumSigner(k *secp256k1.PrivateKey) *EthereumSigner { return &EthereumSigner{Key: k} }

func (s *EthereumSigner) SignatureType() SignatureType { return Ethereum }
func (s *EthereumSigner) Owner() []byte {
	if s.Key == nil {
		return nil
	}
	return s.Key.PubKey().SerializeUncompressed()
}
func (s *EthereumSigner) Sign(deepHash []byte) ([]byte, error) {
	if s.Key == nil || s.Key.Key.IsZero() {
		return nil, fmt.Errorf("%w: no secp256k1 key", ErrInvalidKey)
	}
	compact := ecdsa.SignCompact(s.Key, eip191Digest(deepHash), false)
	// Recovery codes 2 and 3 (r overflowed the order) cannot be written as
	// v = 27/28; they occur with probability about 2^-127.
	if compact[0] != 27 && compact[0] != 28 {
		return nil, fmt.Errorf("dataitem: secp256k1 signature needs recovery code %d, which Ethereum cannot express", compact[0]-27)
	}
	sig := make([]byte, 65)
	copy(sig, compact[1:])
	sig[64] = compact[0]
	return sig, nil
}

// EthAddress is the EIP-55 address of the signer's key.
func (s *EthereumSigner) EthAddress() string {
	owner := s.Owner()
	if owner == nil {
		return ""
	}
	return eip55(ethAddressBytes(owner[1:]))
}
