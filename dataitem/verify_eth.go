package dataitem

import (
	"sync"

	"github.com/aonode/aonode/dataitem/internal/secpverify"
	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	lru "github.com/hashicorp/golang-lru/v2"
)

// verifyEthereum checks r‖s‖v against the owner key without recovering a
// key: secpverify accepts exactly the signatures whose recovery gives the
// owner (see its doc), and keeps per-owner multiples that make it about
// 2.7 times faster than recovery (README). The v, range and low-S rules are recovery's.
func verifyEthereum(owner, sig, digest []byte) (bool, string) {
	if owner[0] != 4 {
		return false, "owner is not an uncompressed secp256k1 key"
	}
	r, s, why := ethereumRS(sig)
	if why != "" {
		return false, why
	}
	k, err := ethereumKey(owner)
	if err != nil {
		return false, "owner is not a secp256k1 public key: " + err.Error()
	}
	if !k.Verify(digest, &r, &s, sig[64] == 28) {
		return false, "signature does not recover the owner key"
	}
	return true, ""
}

// ethereumRS reads r and s from r‖s‖v with recovery's rules: v in {27, 28},
// r and s in [1, N−1], s at most N/2.
func ethereumRS(sig []byte) (r, s secp256k1.ModNScalar, why string) {
	if v := sig[64]; v != 27 && v != 28 {
		return r, s, "v byte is " + itoa(int(v)) + ", want 27 or 28"
	}
	if overflow := s.SetByteSlice(sig[32:64]); overflow || s.IsZero() {
		return r, s, "s is out of range"
	}
	if s.IsOverHalfOrder() {
		return r, s, "s is in the upper half of the order (high-S, malleable)"
	}
	if overflow := r.SetByteSlice(sig[:32]); overflow || r.IsZero() {
		return r, s, "r is out of range"
	}
	return r, s, ""
}

// ethereumKeyCacheSize bounds the owners kept. A key verified more than 8
// times holds a table of about 190 KB (secpverify), so the cache holds at most
// about 24 MB; an owner not in it costs a parse (under a microsecond) and,
// until its ninth verification, about the speed of recovery.
const ethereumKeyCacheSize = 128

// ethereumKeys memoises secpverify.NewPublicKey, a function of the owner
// bytes alone: sharing it between all callers changes no result.
var ethereumKeys = sync.OnceValue(func() *lru.Cache[[65]byte, *secpverify.PublicKey] {
	c, err := lru.New[[65]byte, *secpverify.PublicKey](ethereumKeyCacheSize)
	if err != nil {
		panic(err) // only for a size below 1
	}
	return c
})

func ethereumKey(owner []byte) (*secpverify.PublicKey, error) {
	id := [65]byte(owner)
	cache := ethereumKeys()
	if k, ok := cache.Get(id); ok {
		return k, nil
	}
	k, err := secpverify.NewPublicKey(owner)
	if err != nil {
		return nil, err
	}
	cache.Add(id, k)
	return k, nil
}
