package store

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/raft"
)

// ErrRaftKeyNotFound is what RaftStore's stable-store reads return for a missing key. Raft
// compares the error's text with "not found" (raft-boltdb's sentinel) to tell a fresh node
// from a broken disk, so the text must stay exactly that.
var ErrRaftKeyNotFound = errors.New("not found")

// maxGroupBytes bounds a group id; the consensus package uses 43-character ids.
const maxGroupBytes = 255

// raftDeleteChunk bounds the deletes of one DeleteRange commit, well inside a transaction.
const raftDeleteChunk = 4096

// RaftStore is one Raft group's log store and stable store (raft.LogStore, raft.StableStore)
// in the consensus keyspaces. Its writes go through Commit, so they share the group commit
// and are fsynced before they return, as Raft requires of both stores.
type RaftStore struct {
	db     *DB
	prefix []byte // length-prefixed group id
}

var (
	_ raft.LogStore    = (*RaftStore)(nil)
	_ raft.StableStore = (*RaftStore)(nil)
)

// RaftStore returns the log and stable store of one group.
func (db *DB) RaftStore(group string) (*RaftStore, error) {
	if group == "" || len(group) > maxGroupBytes {
		return nil, fmt.Errorf("%w: group id of %d bytes", ErrInvalidKey, len(group))
	}
	return &RaftStore{db: db, prefix: GroupPrefix(group)}, nil
}

// GroupPrefix is the key prefix of a group's records in the consensus keyspaces: the group
// id's length, then the id, so that no group's keys are a prefix of another's.
func GroupPrefix(group string) []byte {
	p := make([]byte, 0, 1+len(group))
	p = append(p, byte(len(group)))
	return append(p, group...)
}

func (r *RaftStore) logKey(index uint64) []byte {
	k := make([]byte, len(r.prefix)+8)
	copy(k, r.prefix)
	binary.BigEndian.PutUint64(k[len(r.prefix):], index)
	return k
}

// edge returns the first (or, reverse, the last) index of the log; 0 when it is empty.
func (r *RaftStore) edge(reverse bool) (uint64, error) {
	var idx uint64
	err := r.db.Scan(KsRaftLog, r.prefix, nil, reverse, func(k, _ []byte) bool {
		if len(k) == len(r.prefix)+8 {
			idx = binary.BigEndian.Uint64(k[len(r.prefix):])
		}
		return false
	})
	return idx, err
}

// FirstIndex implements raft.LogStore.
func (r *RaftStore) FirstIndex() (uint64, error) { return r.edge(false) }

// LastIndex implements raft.LogStore.
func (r *RaftStore) LastIndex() (uint64, error) { return r.edge(true) }

// GetLog implements raft.LogStore; a missing index is raft.ErrLogNotFound.
func (r *RaftStore) GetLog(index uint64, log *raft.Log) error {
	v, err := r.db.Get(KsRaftLog, r.logKey(index))
	if errors.Is(err, ErrNotFound) {
		return raft.ErrLogNotFound
	}
	if err != nil {
		return err
	}
	return decodeRaftLog(index, v, log)
}

// StoreLog implements raft.LogStore.
func (r *RaftStore) StoreLog(log *raft.Log) error { return r.StoreLogs([]*raft.Log{log}) }

// StoreLogs implements raft.LogStore: all of logs become durable in one commit.
func (r *RaftStore) StoreLogs(logs []*raft.Log) error {
	b := r.db.NewBatch()
	for _, l := range logs {
		b.setOwned(fullKey(KsRaftLog, r.logKey(l.Index)), encodeRaftLog(l))
	}
	return r.db.Commit(context.Background(), b)
}

// DeleteRange implements raft.LogStore: removes indexes min..max inclusive, in commits of
// at most raftDeleteChunk entries. Raft uses it to compact a prefix after a snapshot and to
// drop a conflicting suffix. The chunks go from the outer edge inwards (a prefix from min up,
// a suffix from max down), so a crash between two of them still leaves a contiguous log.
func (r *RaftStore) DeleteRange(min, max uint64) error {
	if min > max {
		return nil
	}
	last, err := r.LastIndex()
	if err != nil {
		return err
	}
	suffix := max >= last
	for {
		var keys [][]byte
		start := r.logKey(min)
		if suffix {
			start = r.logKey(max)
		}
		err := r.db.Scan(KsRaftLog, r.prefix, start, suffix, func(k, _ []byte) bool {
			if len(k) != len(r.prefix)+8 {
				return false
			}
			if i := binary.BigEndian.Uint64(k[len(r.prefix):]); i < min || i > max {
				return false
			}
			keys = append(keys, append([]byte(nil), k...))
			return len(keys) < raftDeleteChunk
		})
		if err != nil {
			return err
		}
		if len(keys) == 0 {
			return nil
		}
		b := r.db.NewBatch()
		for _, k := range keys {
			b.Delete(KsRaftLog, k)
		}
		if err := r.db.Commit(context.Background(), b); err != nil {
			return err
		}
		if len(keys) < raftDeleteChunk {
			return nil
		}
		edge := binary.BigEndian.Uint64(keys[len(keys)-1][len(r.prefix):])
		if suffix {
			if edge == min {
				return nil
			}
			max = edge - 1
		} else {
			if edge == max {
				return nil
			}
			min = edge + 1
		}
	}
}

func (r *RaftStore) stableKey(key []byte) []byte {
	return append(append([]byte(nil), r.prefix...), key...)
}

// Set implements raft.StableStore.
func (r *RaftStore) Set(key, val []byte) error {
	b := r.db.NewBatch()
	b.Set(KsRaftStable, r.stableKey(key), val)
	return r.db.Commit(context.Background(), b)
}

// Get implements raft.StableStore; a missing key is ErrRaftKeyNotFound.
func (r *RaftStore) Get(key []byte) ([]byte, error) {
	v, err := r.db.Get(KsRaftStable, r.stableKey(key))
	if errors.Is(err, ErrNotFound) {
		return nil, ErrRaftKeyNotFound
	}
	return v, err
}

// SetUint64 implements raft.StableStore.
func (r *RaftStore) SetUint64(key []byte, val uint64) error {
	return r.Set(key, binary.BigEndian.AppendUint64(nil, val))
}

// GetUint64 implements raft.StableStore; a missing key is 0 and ErrRaftKeyNotFound.
func (r *RaftStore) GetUint64(key []byte) (uint64, error) {
	v, err := r.Get(key)
	if err != nil {
		return 0, err
	}
	if len(v) != 8 {
		return 0, fmt.Errorf("%w: stable value of %d bytes", ErrCorrupt, len(v))
	}
	return binary.BigEndian.Uint64(v), nil
}

// raftLogFormat is the first byte of an encoded log entry.
const raftLogFormat = 1

// encodeRaftLog encodes everything of l but its index, which is in the key.
func encodeRaftLog(l *raft.Log) []byte {
	buf := make([]byte, 0, 1+4*binary.MaxVarintLen64+1+len(l.Data)+len(l.Extensions))
	buf = append(buf, raftLogFormat)
	buf = binary.AppendUvarint(buf, l.Term)
	buf = append(buf, byte(l.Type))
	var at int64
	if !l.AppendedAt.IsZero() {
		at = l.AppendedAt.UnixNano()
	}
	buf = binary.AppendVarint(buf, at)
	buf = binary.AppendUvarint(buf, uint64(len(l.Data)))
	buf = append(buf, l.Data...)
	buf = binary.AppendUvarint(buf, uint64(len(l.Extensions)))
	return append(buf, l.Extensions...)
}

func decodeRaftLog(index uint64, v []byte, l *raft.Log) error {
	corrupt := func(what string) error {
		return fmt.Errorf("%w: raft log %d: %s", ErrCorrupt, index, what)
	}
	if len(v) < 1 || v[0] != raftLogFormat {
		return corrupt("format")
	}
	v = v[1:]
	term, n := binary.Uvarint(v)
	if n <= 0 || len(v) < n+1 {
		return corrupt("term")
	}
	v = v[n:]
	typ := raft.LogType(v[0])
	v = v[1:]
	at, n := binary.Varint(v)
	if n <= 0 {
		return corrupt("time")
	}
	v = v[n:]
	blob := func() ([]byte, bool) {
		ln, n := binary.Uvarint(v)
		if n <= 0 || ln > uint64(len(v)-n) {
			return nil, false
		}
		out := v[n : n+int(ln)]
		v = v[n+int(ln):]
		if len(out) == 0 {
			return nil, true
		}
		return out, true
	}
	data, ok := blob()
	if !ok {
		return corrupt("data")
	}
	ext, ok := blob()
	if !ok || len(v) != 0 {
		return corrupt("extensions")
	}
	*l = raft.Log{Index: index, Term: term, Type: typ, Data: data, Extensions: ext}
	if at != 0 {
		l.AppendedAt = time.Unix(0, at)
	}
	return nil
}
