package store

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

func raftLogs(from, to uint64, term uint64) []*raft.Log {
	var out []*raft.Log
	for i := from; i <= to; i++ {
		out = append(out, &raft.Log{Index: i, Term: term, Type: raft.LogCommand, Data: []byte{byte(i), 1, 2}})
	}
	return out
}

// TestRaftLogStoreConformance checks the expectations hashicorp/raft has of a LogStore, the
// ones raft-boltdb's tests pin down: empty log edges are 0, a missing index is
// ErrLogNotFound, StoreLogs then GetLog round-trips every field, DeleteRange is inclusive.
func TestRaftLogStoreConformance(t *testing.T) {
	forEachMode(t, func(t *testing.T, db *DB) {
		rs, err := db.RaftStore("group-a")
		if err != nil {
			t.Fatal(err)
		}
		other, _ := db.RaftStore("group-ab") // a longer id with the same start
		if f, err := rs.FirstIndex(); err != nil || f != 0 {
			t.Fatalf("FirstIndex of empty = %d, %v", f, err)
		}
		if l, err := rs.LastIndex(); err != nil || l != 0 {
			t.Fatalf("LastIndex of empty = %d, %v", l, err)
		}
		var got raft.Log
		if err := rs.GetLog(1, &got); !errors.Is(err, raft.ErrLogNotFound) {
			t.Fatalf("GetLog of missing = %v, want ErrLogNotFound", err)
		}
		at := time.Unix(1700000000, 123)
		one := &raft.Log{Index: 1, Term: 2, Type: raft.LogConfiguration, Data: []byte("cfg"), Extensions: []byte("ext"), AppendedAt: at}
		if err := rs.StoreLog(one); err != nil {
			t.Fatal(err)
		}
		if err := rs.StoreLogs(raftLogs(2, 10, 3)); err != nil {
			t.Fatal(err)
		}
		if err := other.StoreLogs(raftLogs(100, 200, 1)); err != nil {
			t.Fatal(err)
		}
		if err := rs.GetLog(1, &got); err != nil {
			t.Fatal(err)
		}
		if got.Index != 1 || got.Term != 2 || got.Type != raft.LogConfiguration || string(got.Data) != "cfg" ||
			string(got.Extensions) != "ext" || !got.AppendedAt.Equal(at) {
			t.Fatalf("GetLog(1) = %+v", got)
		}
		if err := rs.GetLog(7, &got); err != nil || got.Term != 3 || !bytes.Equal(got.Data, []byte{7, 1, 2}) {
			t.Fatalf("GetLog(7) = %+v, %v", got, err)
		}
		if f, _ := rs.FirstIndex(); f != 1 {
			t.Fatalf("FirstIndex = %d", f)
		}
		if l, _ := rs.LastIndex(); l != 10 {
			t.Fatalf("LastIndex = %d", l)
		}
		// Compaction of a prefix.
		if err := rs.DeleteRange(1, 4); err != nil {
			t.Fatal(err)
		}
		if f, _ := rs.FirstIndex(); f != 5 {
			t.Fatalf("FirstIndex after DeleteRange(1,4) = %d", f)
		}
		if err := rs.GetLog(4, &got); !errors.Is(err, raft.ErrLogNotFound) {
			t.Fatalf("GetLog(4) after delete = %v", err)
		}
		// Truncation of a suffix.
		if err := rs.DeleteRange(8, 10); err != nil {
			t.Fatal(err)
		}
		if l, _ := rs.LastIndex(); l != 7 {
			t.Fatalf("LastIndex after DeleteRange(8,10) = %d", l)
		}
		if f, _ := other.FirstIndex(); f != 100 {
			t.Fatalf("other group touched: FirstIndex = %d", f)
		}
		if l, _ := other.LastIndex(); l != 200 {
			t.Fatalf("other group touched: LastIndex = %d", l)
		}
		if err := rs.DeleteRange(5, 7); err != nil {
			t.Fatal(err)
		}
		if f, _ := rs.FirstIndex(); f != 0 {
			t.Fatalf("FirstIndex of emptied log = %d", f)
		}
	})
}

// TestRaftDeleteRangeChunks deletes more than one commit's worth, both ways.
func TestRaftDeleteRangeChunks(t *testing.T) {
	db := openMem(t)
	rs, _ := db.RaftStore("g")
	n := uint64(raftDeleteChunk*2 + 10)
	for lo := uint64(1); lo <= n; lo += 1000 {
		if err := rs.StoreLogs(raftLogs(lo, min(lo+999, n), 1)); err != nil {
			t.Fatal(err)
		}
	}
	if err := rs.DeleteRange(1, raftDeleteChunk+5); err != nil {
		t.Fatal(err)
	}
	if f, _ := rs.FirstIndex(); f != raftDeleteChunk+6 {
		t.Fatalf("FirstIndex = %d", f)
	}
	if err := rs.DeleteRange(raftDeleteChunk+8, n); err != nil {
		t.Fatal(err)
	}
	if l, _ := rs.LastIndex(); l != raftDeleteChunk+7 {
		t.Fatalf("LastIndex = %d", l)
	}
}

// TestRaftStableStoreConformance: raft tells a fresh node by the "not found" error text.
func TestRaftStableStoreConformance(t *testing.T) {
	forEachMode(t, func(t *testing.T, db *DB) {
		rs, _ := db.RaftStore("g")
		if _, err := rs.Get([]byte("CurrentTerm")); err == nil || err.Error() != "not found" {
			t.Fatalf("Get missing = %v, want \"not found\"", err)
		}
		if v, err := rs.GetUint64([]byte("CurrentTerm")); err == nil || err.Error() != "not found" || v != 0 {
			t.Fatalf("GetUint64 missing = %d, %v", v, err)
		}
		if err := rs.Set([]byte("LastVoteCand"), []byte("node-b")); err != nil {
			t.Fatal(err)
		}
		if v, err := rs.Get([]byte("LastVoteCand")); err != nil || string(v) != "node-b" {
			t.Fatalf("Get = %q, %v", v, err)
		}
		if err := rs.SetUint64([]byte("CurrentTerm"), 42); err != nil {
			t.Fatal(err)
		}
		if v, err := rs.GetUint64([]byte("CurrentTerm")); err != nil || v != 42 {
			t.Fatalf("GetUint64 = %d, %v", v, err)
		}
		other, _ := db.RaftStore("h")
		if _, err := other.GetUint64([]byte("CurrentTerm")); err == nil {
			t.Fatal("stable keys leak between groups")
		}
	})
}

// TestRaftStoreSurvivesReopen: what StoreLogs and Set returned is on disk.
func TestRaftStoreSurvivesReopen(t *testing.T) {
	dir := t.TempDir()
	o := DefaultOptions(dir)
	o.Logger = quietLogger()
	db, err := Open(o)
	if err != nil {
		t.Fatal(err)
	}
	rs, _ := db.RaftStore("g")
	if err := rs.StoreLogs(raftLogs(1, 5, 7)); err != nil {
		t.Fatal(err)
	}
	if err := rs.SetUint64([]byte("CurrentTerm"), 7); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db, err = Open(o)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rs, _ = db.RaftStore("g")
	if l, _ := rs.LastIndex(); l != 5 {
		t.Fatalf("LastIndex after reopen = %d", l)
	}
	if v, _ := rs.GetUint64([]byte("CurrentTerm")); v != 7 {
		t.Fatalf("CurrentTerm after reopen = %d", v)
	}
}

func TestRaftStoreRejectsBadGroup(t *testing.T) {
	db := openMem(t)
	if _, err := db.RaftStore(""); !errors.Is(err, ErrInvalidKey) {
		t.Fatalf("empty group: %v", err)
	}
}

func FuzzDecodeRaftLog(f *testing.F) {
	f.Add(encodeRaftLog(&raft.Log{Term: 1, Data: []byte("x"), Extensions: []byte("y")}))
	f.Fuzz(func(t *testing.T, v []byte) {
		var l raft.Log
		if err := decodeRaftLog(1, v, &l); err != nil {
			return
		}
		if !bytes.Equal(encodeRaftLog(&l), v) && len(v) > 0 {
			// A decodable value re-encodes to a value that decodes the same.
			var l2 raft.Log
			if err := decodeRaftLog(1, encodeRaftLog(&l), &l2); err != nil || l2.Term != l.Term || !bytes.Equal(l2.Data, l.Data) {
				t.Fatalf("re-encode differs: %+v vs %+v (%v)", l, l2, err)
			}
		}
	})
}
