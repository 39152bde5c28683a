// Package rsa4096 verifies the RSA-PSS signatures of Arweave keys (type 1
// data items): 4096-bit moduli given as 512 big-endian bytes, public exponent
// 65537, SHA-256 and MGF1-SHA-256, with the salt length read from the
// signature (RFC 8017 §9.1.2).
//
// It accepts exactly what crypto/rsa.VerifyPSS accepts for such a key with
// PSSSaltLengthAuto, and rejects everything else; the differential tests and
// FuzzVerify hold it to that. It differs in how: crypto/rsa computes in
// constant time and derives the modulus's Montgomery constants again for
// every signature, neither of which a verifier needs (every value it handles
// is public). Here a PublicKey carries those constants (NewPublicKey, once per
// key; callers cache keys), the exponentiation is 16 Montgomery squarings and
// 2 multiplications on the assembly kernel of math/big, and a squaring
// computes each cross product once.
//
// The package never signs and holds no secrets.
package rsa4096
