package wasi

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"math"
	"testing"
)

// TestEntropyMatchesABI recomputes the random_get stream from the ABI.md definition.
func TestEntropyMatchesABI(t *testing.T) {
	field := func(s string) []byte {
		return append(binary.BigEndian.AppendUint32(nil, uint32(len(s))), s...)
	}
	var in []byte
	in = append(in, field("aonode-wasi-random-v1")...)
	in = append(in, field("proc")...)
	in = append(in, field("msg")...)
	in = binary.BigEndian.AppendUint64(in, 1700000000000)
	seed := sha256.Sum256(in)
	if seed != messageSeed("proc", "msg", 1700000000000) {
		t.Fatal("messageSeed differs from ABI.md")
	}
	var want []byte
	for i := uint64(0); i < 4; i++ {
		block := sha256.Sum256(binary.BigEndian.AppendUint64(bytes.Clone(seed[:]), i))
		want = append(want, block[:]...)
	}
	var h hostState
	h.reset(1700000000000, seed)
	var got []byte
	for _, n := range []int{1, 31, 5, 64, 27} { // reads that straddle blocks
		p := make([]byte, n)
		if k, err := h.rand.Read(p); k != n || err != nil {
			t.Fatalf("Read = %d, %v", k, err)
		}
		got = append(got, p...)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("stream\n%x\nwant\n%x", got, want)
	}
	if sha256.Sum256([]byte("aonode-wasi-random-v1/initialize")) != initSeed() {
		t.Fatal("initSeed differs from ABI.md")
	}
}

func TestVirtualClock(t *testing.T) {
	var h hostState
	h.reset(1500, [32]byte{})
	if s, ns := h.walltime(); s != 1 || ns != 500_000_000 {
		t.Fatalf("walltime = %d s %d ns", s, ns)
	}
	if h.nanotime() != 1_500_000_001 {
		t.Fatalf("nanotime = %d", h.nanotime())
	}
	h.nanosleep(-5)
	h.nanosleep(250)
	if h.nanotime() != 1_500_000_251 {
		t.Fatalf("after sleeping nanotime = %d", h.nanotime())
	}
	h.nanosleep(math.MaxInt64) // saturates instead of overflowing
	if h.nanotime() != math.MaxInt64 {
		t.Fatalf("saturated nanotime = %d", h.nanotime())
	}
	h.reset(0, [32]byte{})
	if h.nanotime() != 1 {
		t.Fatalf("nanotime at the epoch = %d, want 1", h.nanotime())
	}
}
