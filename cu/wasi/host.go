package wasi

import (
	"crypto/sha256"
	"encoding/binary"
	"math"
)

// randomDomain separates this format's entropy from any other use of SHA-256 over the same ids.
const randomDomain = "aonode-wasi-random-v1"

// hostState is what the WASI host functions of one instance read: the virtual clock and the
// entropy stream. Both are reset from the message before every call into the module, so they
// depend on the message alone and never on the instance's history or the host.
type hostState struct {
	baseNs    int64 // the message's Timestamp in nanoseconds
	advanceNs int64 // virtual time slept by the module during this message
	rand      entropy
}

// reset prepares the host for one message (or, with zero values, for _initialize).
func (h *hostState) reset(timestampMs int64, seed [32]byte) {
	h.baseNs = timestampMs * 1_000_000
	h.advanceNs = 0
	h.rand = entropy{seed: seed}
}

func (h *hostState) now() int64 {
	return h.baseNs + h.advanceNs
}

func (h *hostState) walltime() (int64, int32) {
	now := h.now()
	return now / 1e9, int32(now % 1e9)
}

// nanotime is the wall time plus one nanosecond: Go's runtime refuses to start on a
// monotonic clock that reads zero, which the wall clock does during _initialize.
func (h *hostState) nanotime() int64 {
	return h.now() + 1
}

// nanosleep never blocks: sleeping advances the virtual clock, so a module that waits on a
// timer wakes immediately and every CU sees the same time afterwards.
func (h *hostState) nanosleep(ns int64) {
	if ns <= 0 {
		return
	}
	if ns > math.MaxInt64-1-h.now() {
		h.advanceNs = math.MaxInt64 - 1 - h.baseNs
		return
	}
	h.advanceNs += ns
}

// entropy is the random_get stream: block i is SHA-256(seed || uint64be(i)), concatenated.
// It is trivially reimplemented in any language, which matters more here than speed.
type entropy struct {
	seed    [32]byte
	counter uint64
	block   [32]byte
	used    int // bytes of block already returned
}

func (e *entropy) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if e.counter == 0 || e.used == len(e.block) {
			var in [40]byte
			copy(in[:32], e.seed[:])
			binary.BigEndian.PutUint64(in[32:], e.counter)
			e.block = sha256.Sum256(in[:])
			e.counter++
			e.used = 0
		}
		c := copy(p[n:], e.block[e.used:])
		e.used += c
		n += c
	}
	return n, nil
}

// messageSeed is the entropy seed of one message: SHA-256 over the domain string and the
// length-prefixed process id and message id, and the big-endian timestamp (see ABI.md).
func messageSeed(processID, messageID string, timestampMs int64) [32]byte {
	h := sha256.New()
	writeField := func(s string) {
		var l [4]byte
		binary.BigEndian.PutUint32(l[:], uint32(len(s)))
		h.Write(l[:])
		h.Write([]byte(s))
	}
	writeField(randomDomain)
	writeField(processID)
	writeField(messageID)
	var ts [8]byte
	binary.BigEndian.PutUint64(ts[:], uint64(timestampMs))
	h.Write(ts[:])
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// initSeed seeds _initialize; it is a constant so that every CU starts from the same memory.
func initSeed() [32]byte {
	return sha256.Sum256([]byte(randomDomain + "/initialize"))
}
