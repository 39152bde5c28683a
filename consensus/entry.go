package consensus

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"github.com/aonode/aonode/dataitem"
)

// GroupID is the id of the Raft group of a scheduler set: b64url(sha256(the sorted addresses
// joined by newlines)). members must be sorted and deduplicated (aoapi.Schedulers).
func GroupID(members []string) string {
	sum := sha256.Sum256([]byte(strings.Join(members, "\n")))
	return dataitem.EncodeID(sum[:])
}

// record is one slot of an entry: the signed assignment and the raw item it schedules.
type record struct {
	Assignment []byte
	Item       []byte
}

// entryFormat is the first byte of an encoded entry.
const entryFormat = 1

// Bounds on what an entry may hold, checked when it is decoded (a log entry is network input
// on every follower).
const (
	maxEntryRecords    = 4096
	maxAssignmentBytes = 16 << 10
	maxItemBytes       = 64 << 20
)

var errBadEntry = errors.New("consensus: malformed entry")

func encodeEntry(recs []record) []byte {
	n := 1 + binary.MaxVarintLen64
	for _, r := range recs {
		n += 2*binary.MaxVarintLen64 + len(r.Assignment) + len(r.Item)
	}
	buf := make([]byte, 0, n)
	buf = append(buf, entryFormat)
	buf = binary.AppendUvarint(buf, uint64(len(recs)))
	for _, r := range recs {
		buf = binary.AppendUvarint(buf, uint64(len(r.Assignment)))
		buf = append(buf, r.Assignment...)
		buf = binary.AppendUvarint(buf, uint64(len(r.Item)))
		buf = append(buf, r.Item...)
	}
	return buf
}

// decodeEntry returns records that alias data.
func decodeEntry(data []byte) ([]record, error) {
	if len(data) < 1 || data[0] != entryFormat {
		return nil, fmt.Errorf("%w: format", errBadEntry)
	}
	v := data[1:]
	count, n := binary.Uvarint(v)
	if n <= 0 || count == 0 || count > maxEntryRecords {
		return nil, fmt.Errorf("%w: record count", errBadEntry)
	}
	v = v[n:]
	blob := func(limit uint64) ([]byte, bool) {
		ln, n := binary.Uvarint(v)
		if n <= 0 || ln > limit || ln > uint64(len(v)-n) {
			return nil, false
		}
		out := v[n : n+int(ln) : n+int(ln)]
		v = v[n+int(ln):]
		return out, true
	}
	recs := make([]record, 0, count)
	for i := uint64(0); i < count; i++ {
		a, ok := blob(maxAssignmentBytes)
		if !ok || len(a) == 0 {
			return nil, fmt.Errorf("%w: assignment %d", errBadEntry, i)
		}
		it, ok := blob(maxItemBytes)
		if !ok || len(it) == 0 {
			return nil, fmt.Errorf("%w: item %d", errBadEntry, i)
		}
		recs = append(recs, record{Assignment: a, Item: it})
	}
	if len(v) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", errBadEntry, len(v))
	}
	return recs, nil
}
