// Package dataitem owns the ANS-104 binary format: data items (parse, verify,
// build and sign) and bundles of them (parse, verify, build), together with the
// pieces they are made of: the Arweave deep hash, the Avro tag codec, ids,
// owner addresses and the key files of the signers.
//
// The package does no I/O: callers hand it bytes and get bytes back. Key files
// are read and written by the caller (ParseKey and MarshalKey work on []byte).
// The only randomness it uses is crypto/rand, in GenerateKey and in the salt of
// RSA-PSS signatures (type 1); every other signature it makes is deterministic.
//
// Validation follows the rules of the team's ANS-104 reference (section 9),
// which are those of arbundles tightened by the ANS-104 text: Parse applies the
// structural rules 1-9 and Verify the signature (rule 10), always over the tag
// bytes exactly as received. Every failure is an *Error whose Class names the
// rule that failed; errors.Is works with the sentinels (ErrTruncated, ...).
//
// Signature types 1 to 4 can be verified and signed. Types 5, 6 and 7 (Aptos,
// multi-Aptos and EIP-712 typed Ethereum) are parsed and verified so that items
// of other bundlers are not rejected, but this package does not sign them. No published
// item of type 5 or 6 was at hand, so those two are checked against vectors computed by hand
// from the reference's table of what arbundles verifies (aptos_vectors_test.go), not against
// items another implementation signed.
//
// Items returned by Parse alias the buffer they were parsed from: the caller
// must not modify that buffer while the item is in use.
package dataitem
