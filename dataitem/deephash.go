package dataitem

import (
	"crypto/sha512"
	"strconv"
)

// DeepHashBlob is the Arweave deep hash of one blob:
// SHA384(SHA384("blob" ‖ decimal(len(b))) ‖ SHA384(b)).
func DeepHashBlob(b []byte) [48]byte {
	var tagBuf [32]byte
	tag := strconv.AppendInt(append(tagBuf[:0], "blob"...), int64(len(b)), 10)
	var pair [96]byte
	th := sha512.Sum384(tag)
	bh := sha512.Sum384(b)
	copy(pair[:48], th[:])
	copy(pair[48:], bh[:])
	return sha512.Sum384(pair[:])
}

// DeepHashList is the Arweave deep hash of a list whose elements have the
// given deep hashes: acc := SHA384("list" ‖ decimal(n)), then
// acc := SHA384(acc ‖ child) for each child in order. Nested lists are hashed
// by passing DeepHashList of the inner list as a child.
func DeepHashList(children ...[48]byte) [48]byte {
	var tagBuf [32]byte
	tag := strconv.AppendInt(append(tagBuf[:0], "list"...), int64(len(children)), 10)
	acc := sha512.Sum384(tag)
	var pair [96]byte
	for _, c := range children {
		copy(pair[:48], acc[:])
		copy(pair[48:], c[:])
		acc = sha512.Sum384(pair[:])
	}
	return acc
}

// DeepHashBlobs is the deep hash of a list of blobs.
func DeepHashBlobs(blobs ...[]byte) [48]byte {
	children := make([][48]byte, len(blobs))
	for i, b := range blobs {
		children[i] = DeepHashBlob(b)
	}
	return DeepHashList(children...)
}

// signatureMessage is the deep hash an item's signature covers:
// ["dataitem", "1", decimal(type), owner, target, anchor, tagBytes, data], with
// absent target/anchor as empty blobs and the tag section as one raw blob.
func signatureMessage(t SignatureType, owner, target, anchor, tagBytes, data []byte) [48]byte {
	var typeBuf [8]byte
	return DeepHashBlobs(
		[]byte("dataitem"),
		[]byte("1"),
		strconv.AppendUint(typeBuf[:0], uint64(t), 10),
		owner, target, anchor, tagBytes, data,
	)
}
