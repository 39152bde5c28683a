package dataitem

import "strconv"

// SignatureType is the 2-byte type at the start of an item; it fixes the
// lengths of the signature and the owner and what exactly is signed.
type SignatureType uint16

// The signature types of ANS-104. Types 1 to 4 can be signed and verified;
// 5 to 7 can only be verified.
const (
	Arweave       SignatureType = 1 // RSA-PSS 4096
	ED25519       SignatureType = 2
	Ethereum      SignatureType = 3 // EIP-191 over the deep hash, secp256k1, low-S, v in {27,28}
	Solana        SignatureType = 4 // ed25519 over the lowercase hex text of the deep hash
	InjectedAptos SignatureType = 5 // ed25519 over "APTOS\nmessage: <hex>\nnonce: bundlr"
	MultiAptos    SignatureType = 6 // up to 32 ed25519 signatures selected by a bitmap
	TypedEthereum SignatureType = 7 // EIP-712, owner is the ASCII 0x address
)

type sigConfig struct {
	sigLen, ownerLen int
	name             string
}

func (t SignatureType) config() (sigConfig, bool) {
	switch t {
	case Arweave:
		return sigConfig{512, 512, "arweave"}, true
	case ED25519:
		return sigConfig{64, 32, "ed25519"}, true
	case Ethereum:
		return sigConfig{65, 65, "ethereum"}, true
	case Solana:
		return sigConfig{64, 32, "solana"}, true
	case InjectedAptos:
		return sigConfig{64, 32, "injectedAptos"}, true
	case MultiAptos:
		return sigConfig{2052, 1025, "multiAptos"}, true
	case TypedEthereum:
		return sigConfig{65, 42, "typedEthereum"}, true
	}
	return sigConfig{}, false
}

// Known reports whether t is a signature type this package can parse and verify.
func (t SignatureType) Known() bool {
	_, ok := t.config()
	return ok
}

// SignatureLen is the length of t's signatures, 0 for an unknown type.
func (t SignatureType) SignatureLen() int {
	c, _ := t.config()
	return c.sigLen
}

// OwnerLen is the length of t's owner (public key) field, 0 for an unknown type.
func (t SignatureType) OwnerLen() int {
	c, _ := t.config()
	return c.ownerLen
}

// String returns the arbundles name of t ("arweave", "ed25519", ...), or
// "unknown(N)".
func (t SignatureType) String() string {
	if c, ok := t.config(); ok {
		return c.name
	}
	return "unknown(" + strconv.Itoa(int(t)) + ")"
}
