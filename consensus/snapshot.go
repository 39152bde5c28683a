package consensus

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/aonode/aonode/store"
	"github.com/hashicorp/raft"
)

// snapshotStore is the raft.SnapshotStore of a group. The group's state is in the store, so a
// snapshot this member takes keeps only its metadata (in the group's stable store). Opening it
// for a follower that fell behind streams the group's current slots and items from the store
// (never older than the snapshot: the FSM applied at least up to its index, and replaying the
// entries after it over a newer state is a no-op). A snapshot received from the leader is kept
// in a temporary file until the FSM has restored it.
type snapshotStore struct {
	db     *store.DB
	rs     *store.RaftStore
	fsm    *fsm
	tmpDir string

	mu       sync.Mutex
	received map[string]string // snapshot id -> file of a received snapshot
}

var snapshotMetaKey = []byte("snapshot-meta")

func newSnapshotStore(db *store.DB, rs *store.RaftStore, f *fsm, tmpDir string) *snapshotStore {
	return &snapshotStore{db: db, rs: rs, fsm: f, tmpDir: tmpDir, received: map[string]string{}}
}

// Create implements raft.SnapshotStore.
func (s *snapshotStore) Create(version raft.SnapshotVersion, index, term uint64, configuration raft.Configuration,
	configurationIndex uint64, _ raft.Transport) (raft.SnapshotSink, error) {
	meta := raft.SnapshotMeta{
		Version: version, ID: fmt.Sprintf("%d-%d", term, index), Index: index, Term: term,
		Configuration: configuration, ConfigurationIndex: configurationIndex,
	}
	return &snapshotSink{s: s, meta: meta}, nil
}

// List implements raft.SnapshotStore: the latest snapshot, if any.
func (s *snapshotStore) List() ([]*raft.SnapshotMeta, error) {
	v, err := s.rs.Get(snapshotMetaKey)
	if errors.Is(err, store.ErrRaftKeyNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var meta raft.SnapshotMeta
	if err := json.Unmarshal(v, &meta); err != nil {
		return nil, fmt.Errorf("consensus: snapshot metadata: %w", err)
	}
	return []*raft.SnapshotMeta{&meta}, nil
}

// Open implements raft.SnapshotStore.
func (s *snapshotStore) Open(id string) (*raft.SnapshotMeta, io.ReadCloser, error) {
	metas, err := s.List()
	if err != nil {
		return nil, nil, err
	}
	if len(metas) == 0 || metas[0].ID != id {
		return nil, nil, fmt.Errorf("consensus: snapshot %s not found", id)
	}
	meta := metas[0]
	s.mu.Lock()
	path, ok := s.received[id]
	if ok {
		delete(s.received, id)
	}
	s.mu.Unlock()
	if !ok {
		// Raft sends the size ahead of the data, so the stream is written out first.
		f, err := os.CreateTemp(s.tmpDir, "aonode-snapshot-*")
		if err != nil {
			return nil, nil, err
		}
		path = f.Name()
		w := bufio.NewWriter(f)
		err = writeSnapshot(s.db, s.fsm.prefix, w)
		if err == nil {
			err = w.Flush()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			_ = os.Remove(path)
			return nil, nil, err
		}
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	st, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return nil, nil, err
	}
	m := *meta
	m.Size = st.Size()
	return &m, &tempFile{File: f}, nil
}

// tempFile removes itself when closed.
type tempFile struct{ *os.File }

func (t *tempFile) Close() error {
	err := t.File.Close()
	_ = os.Remove(t.Name())
	return err
}

type snapshotSink struct {
	s    *snapshotStore
	meta raft.SnapshotMeta
	file *os.File // nil until data arrives (a local snapshot writes none)
	w    *bufio.Writer
	err  error
}

func (k *snapshotSink) ID() string { return k.meta.ID }

func (k *snapshotSink) Write(p []byte) (int, error) {
	if k.err != nil {
		return 0, k.err
	}
	if k.file == nil {
		f, err := os.CreateTemp(k.s.tmpDir, "aonode-snapshot-in-*")
		if err != nil {
			k.err = err
			return 0, err
		}
		k.file, k.w = f, bufio.NewWriter(f)
	}
	n, err := k.w.Write(p)
	k.err = err
	return n, err
}

func (k *snapshotSink) Close() error {
	if k.file != nil {
		err := k.w.Flush()
		if cerr := k.file.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = k.err
		}
		if err != nil {
			_ = os.Remove(k.file.Name())
			return err
		}
		k.s.mu.Lock()
		for id, p := range k.s.received {
			_ = os.Remove(p)
			delete(k.s.received, id)
		}
		k.s.received[k.meta.ID] = k.file.Name()
		k.s.mu.Unlock()
	}
	v, err := json.Marshal(k.meta)
	if err != nil {
		return err
	}
	return k.s.rs.Set(snapshotMetaKey, v)
}

func (k *snapshotSink) Cancel() error {
	if k.file != nil {
		_ = k.file.Close()
		_ = os.Remove(k.file.Name())
	}
	return nil
}

// close removes received snapshots never restored.
func (s *snapshotStore) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, p := range s.received {
		_ = os.Remove(p)
		delete(s.received, id)
	}
}

// writeSnapshot streams every slot of the group's processes, in nonce order, as records:
// uvarint length + assignment, uvarint length + item.
func writeSnapshot(db *store.DB, prefix []byte, w io.Writer) error {
	var pids []string
	err := db.Scan(store.KsConsensusProcesses, prefix, nil, false, func(k, _ []byte) bool {
		pids = append(pids, string(k[len(prefix):]))
		return true
	})
	if err != nil {
		return err
	}
	var buf []byte
	for _, pid := range pids {
		var werr error
		err := db.Slots(pid, 0, func(sl store.Slot) bool {
			a, err := db.Item(sl.AssignmentID)
			if err != nil {
				werr = err
				return false
			}
			it, err := db.Item(sl.MessageID)
			if err != nil {
				werr = err
				return false
			}
			buf = binary.AppendUvarint(buf[:0], uint64(len(a)))
			buf = append(buf, a...)
			buf = binary.AppendUvarint(buf, uint64(len(it)))
			if _, werr = w.Write(buf); werr == nil {
				_, werr = w.Write(it)
			}
			return werr == nil
		})
		if err == nil {
			err = werr
		}
		if err != nil {
			return fmt.Errorf("consensus: snapshot of %s: %w", pid, err)
		}
	}
	return nil
}

type recordReader struct{ r *bufio.Reader }

func newRecordReader(r io.Reader) *recordReader { return &recordReader{r: bufio.NewReader(r)} }

// next returns the next record, or io.EOF at a clean end of the stream.
func (rr *recordReader) next() (record, error) {
	read := func(limit uint64, first bool) ([]byte, error) {
		n, err := binary.ReadUvarint(rr.r)
		if err != nil {
			if first && errors.Is(err, io.EOF) {
				return nil, io.EOF
			}
			return nil, fmt.Errorf("%w: snapshot stream: %v", errBadEntry, err)
		}
		if n == 0 || n > limit {
			return nil, fmt.Errorf("%w: snapshot record of %d bytes", errBadEntry, n)
		}
		var b bytes.Buffer
		if _, err := io.CopyN(&b, rr.r, int64(n)); err != nil {
			return nil, fmt.Errorf("%w: snapshot stream: %v", errBadEntry, err)
		}
		return b.Bytes(), nil
	}
	a, err := read(maxAssignmentBytes, true)
	if err != nil {
		return record{}, err
	}
	it, err := read(maxItemBytes, false)
	if err != nil {
		return record{}, err
	}
	return record{Assignment: a, Item: it}, nil
}
