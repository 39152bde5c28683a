package store

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
)

// The compute unit's records live in its two keyspaces (KsCUResults, KsCUCheckpoints), each
// split by a sub-prefix byte so that the CU can keep several kinds of record without claiming
// more keyspaces:
//
//	KsCUResults     'r' | pid | nonce (8, BE) | seq (4, BE)  -> EvalResult (JSON)
//	KsCUResults     'm' | pid | message id                  -> nonce (8) | seq (4)
//	KsCUResults     'd' | pid | dedupe key                  -> nonce (8) of its first slot
//	KsCUCheckpoints 'b' | pid | sha256(memory) | chunk (4)  -> a chunk of the compressed memory
//	KsCUCheckpoints 'h' | pid                               -> checkpoint head (opaque to store)
//	KsCUCheckpoints 'w' | module id                         -> module definition (opaque)
//
// pid is length-prefixed, so no process id is a prefix of another's keys. Result key order is
// evaluation order, which is also timestamp order within a process.
const (
	subCUResult     = 'r'
	subCUByMessage  = 'm'
	subCUDedupe     = 'd'
	subCUBlob       = 'b'
	subCUHead       = 'h'
	subCUModule     = 'w'
	cuChunkBytes    = MaxInMemoryValueBytes
	maxCUChunks     = 1 << 16
	cuResultKeyTail = 12
)

// EvalResult is one evaluation stored by the CU: the result exactly as served, and what the CU
// attested about it.
type EvalResult struct {
	Process string `json:"p"`
	// Nonce is the ordinate: the nonce of the scheduled message, or for a cron message the
	// nonce of the scheduled message it follows.
	Nonce uint64 `json:"n"`
	// Seq is 0 for a scheduled message and k for the k-th cron message after it.
	Seq          uint32 `json:"s"`
	MessageID    string `json:"m,omitempty"`
	Cron         string `json:"c,omitempty"` // cron id ("<i>-<interval>") of a cron message
	Timestamp    int64  `json:"t"`
	BlockHeight  uint64 `json:"h"`
	HasError     bool   `json:"e,omitempty"`
	Result       []byte `json:"r"`            // the JSON bytes served by GET /result
	MemorySHA256 []byte `json:"ms"`           // of the memory after the message
	Attestation  []byte `json:"a,omitempty"`  // raw signed ANS-104 attestation item
	HashChain    string `json:"hc,omitempty"` // of the assignment (scheduled messages)
	AssignmentID string `json:"as,omitempty"`
}

// maxPIDBytes bounds the process ids used in CU keys; ids are 43 characters.
const maxPIDBytes = 255

func cuResultKey(pid string, nonce uint64, seq uint32) []byte {
	k := cuPIDPrefix(subCUResult, pid)
	k = binary.BigEndian.AppendUint64(k, nonce)
	return binary.BigEndian.AppendUint32(k, seq)
}

func cuPIDPrefix(sub byte, pid string) []byte {
	k := make([]byte, 0, 2+len(pid)+cuResultKeyTail)
	k = append(k, sub, byte(len(pid)))
	return append(k, pid...)
}

func checkPID(pid string) error {
	if pid == "" || len(pid) > maxPIDBytes {
		return fmt.Errorf("store: invalid process id length %d", len(pid))
	}
	return nil
}

// PutEvalResult stores r and, when it has a message id, the index from that id to it.
// An existing record at the same position is replaced.
func (b *Batch) PutEvalResult(r EvalResult) error {
	if err := checkPID(r.Process); err != nil {
		return err
	}
	v, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("store: encode eval result: %w", err)
	}
	b.Set(KsCUResults, cuResultKey(r.Process, r.Nonce, r.Seq), v)
	if r.MessageID != "" {
		pos := binary.BigEndian.AppendUint64(nil, r.Nonce)
		pos = binary.BigEndian.AppendUint32(pos, r.Seq)
		b.Set(KsCUResults, append(cuPIDPrefix(subCUByMessage, r.Process), r.MessageID...), pos)
	}
	return nil
}

func decodeEvalResult(v []byte) (EvalResult, error) {
	var r EvalResult
	if err := json.Unmarshal(v, &r); err != nil {
		return EvalResult{}, fmt.Errorf("store: decode eval result: %w", err)
	}
	return r, nil
}

// EvalResult returns the evaluation at (nonce, seq) of pid, or ErrNotFound.
func (db *DB) EvalResult(pid string, nonce uint64, seq uint32) (EvalResult, error) {
	if err := checkPID(pid); err != nil {
		return EvalResult{}, err
	}
	v, err := db.Get(KsCUResults, cuResultKey(pid, nonce, seq))
	if err != nil {
		return EvalResult{}, err
	}
	return decodeEvalResult(v)
}

// PutCUDedupe records that the forwarded message identified by key (a hash the CU computes)
// was first scheduled at slot nonce of pid.
func (b *Batch) PutCUDedupe(pid string, key []byte, nonce uint64) error {
	if err := checkPID(pid); err != nil {
		return err
	}
	if len(key) == 0 || len(key) > 64 {
		return fmt.Errorf("store: invalid dedupe key length %d", len(key))
	}
	b.Set(KsCUResults, append(cuPIDPrefix(subCUDedupe, pid), key...), binary.BigEndian.AppendUint64(nil, nonce))
	return nil
}

// CUDedupe returns the slot recorded by PutCUDedupe for key, or ErrNotFound.
func (db *DB) CUDedupe(pid string, key []byte) (uint64, error) {
	if err := checkPID(pid); err != nil {
		return 0, err
	}
	v, err := db.Get(KsCUResults, append(cuPIDPrefix(subCUDedupe, pid), key...))
	if err != nil {
		return 0, err
	}
	if len(v) != 8 {
		return 0, fmt.Errorf("store: corrupt dedupe record")
	}
	return binary.BigEndian.Uint64(v), nil
}

// EvalResultByMessage returns the evaluation of message msgID in pid, or ErrNotFound.
func (db *DB) EvalResultByMessage(pid, msgID string) (EvalResult, error) {
	if err := checkPID(pid); err != nil {
		return EvalResult{}, err
	}
	pos, err := db.Get(KsCUResults, append(cuPIDPrefix(subCUByMessage, pid), msgID...))
	if err != nil {
		return EvalResult{}, err
	}
	if len(pos) != 12 {
		return EvalResult{}, fmt.Errorf("store: corrupt result index for %s", msgID)
	}
	return db.EvalResult(pid, binary.BigEndian.Uint64(pos), binary.BigEndian.Uint32(pos[8:]))
}

// EvalResults calls fn for the evaluations of pid in evaluation order (or reverse order),
// starting at (nonce, seq) inclusive; fn returns false to stop.
func (db *DB) EvalResults(pid string, nonce uint64, seq uint32, reverse bool, fn func(EvalResult) bool) error {
	if err := checkPID(pid); err != nil {
		return err
	}
	var decodeErr error
	err := db.Scan(KsCUResults, cuPIDPrefix(subCUResult, pid), cuResultKey(pid, nonce, seq), reverse, func(_, v []byte) bool {
		r, err := decodeEvalResult(v)
		if err != nil {
			decodeErr = err
			return false
		}
		return fn(r)
	})
	if decodeErr != nil {
		return decodeErr
	}
	return err
}

// LastEvalResult returns the latest evaluation of pid, or ErrNotFound.
func (db *DB) LastEvalResult(pid string) (EvalResult, error) {
	var (
		last  EvalResult
		found bool
	)
	err := db.EvalResults(pid, ^uint64(0), ^uint32(0), true, func(r EvalResult) bool {
		last, found = r, true
		return false
	})
	if err != nil {
		return EvalResult{}, err
	}
	if !found {
		return EvalResult{}, ErrNotFound
	}
	return last, nil
}

func cuBlobKey(pid string, memSHA []byte, chunk uint32) []byte {
	k := append(cuPIDPrefix(subCUBlob, pid), memSHA...)
	return binary.BigEndian.AppendUint32(k, chunk)
}

// CUChunkBytes is the size of the chunks CU checkpoints and module definitions are split into:
// the largest value the DB accepts in every mode. A batch of one chunk always fits a write.
const CUChunkBytes = cuChunkBytes

// CUChunks splits b into CUChunkBytes chunks (aliasing b).
func CUChunks(b []byte) [][]byte {
	var out [][]byte
	for len(b) > 0 {
		n := min(len(b), cuChunkBytes)
		out = append(out, b[:n])
		b = b[n:]
	}
	return out
}

// A checkpoint is written as chunks (PutCUCheckpointChunk, in as many batches as needed) and
// then made current by its head (PutCUCheckpointHead, with DeleteCUCheckpoint of the previous
// one in the same batch). Chunks that no head names (a crash between the two steps) are found
// with CUCheckpointBlobs and deleted.

// PutCUCheckpointChunk stores chunk i of the compressed memory whose SHA-256 is memSHA.
func (b *Batch) PutCUCheckpointChunk(pid string, memSHA []byte, i uint32, chunk []byte) error {
	if err := checkPID(pid); err != nil {
		return err
	}
	if len(memSHA) != 32 {
		return fmt.Errorf("store: checkpoint hash must be 32 bytes, got %d", len(memSHA))
	}
	if len(chunk) > cuChunkBytes || i >= maxCUChunks {
		return fmt.Errorf("%w: checkpoint chunk %d of %d bytes", ErrTooLarge, i, len(chunk))
	}
	b.Set(KsCUCheckpoints, cuBlobKey(pid, memSHA, i), chunk)
	return nil
}

// PutCUCheckpointHead makes head (opaque to the store) the process's checkpoint head.
func (b *Batch) PutCUCheckpointHead(pid string, head []byte) error {
	if err := checkPID(pid); err != nil {
		return err
	}
	b.Set(KsCUCheckpoints, cuPIDPrefix(subCUHead, pid), head)
	return nil
}

// DeleteCUCheckpoint deletes the chunks of the checkpoint memSHA of pid.
func (b *Batch) DeleteCUCheckpoint(pid string, memSHA []byte, chunks uint32) {
	if checkPID(pid) != nil || len(memSHA) != 32 {
		return
	}
	for i := range min(chunks, maxCUChunks) {
		b.Delete(KsCUCheckpoints, cuBlobKey(pid, memSHA, i))
	}
}

// DeleteCUCheckpointChunk deletes one chunk of the checkpoint memSHA of pid.
func (b *Batch) DeleteCUCheckpointChunk(pid string, memSHA []byte, chunk uint32) {
	if checkPID(pid) != nil || len(memSHA) != 32 {
		return
	}
	b.Delete(KsCUCheckpoints, cuBlobKey(pid, memSHA, chunk))
}

// CUCheckpointBlobs calls fn for every stored checkpoint chunk of pid.
func (db *DB) CUCheckpointBlobs(pid string, fn func(memSHA []byte, chunk uint32) bool) error {
	if err := checkPID(pid); err != nil {
		return err
	}
	prefix := cuPIDPrefix(subCUBlob, pid)
	return db.Scan(KsCUCheckpoints, prefix, nil, false, func(k, _ []byte) bool {
		rest := k[len(prefix):]
		if len(rest) != 36 {
			return true
		}
		return fn(append([]byte(nil), rest[:32]...), binary.BigEndian.Uint32(rest[32:]))
	})
}

// CUCheckpointHead returns the head stored by PutCUCheckpointHead, or ErrNotFound.
func (db *DB) CUCheckpointHead(pid string) ([]byte, error) {
	if err := checkPID(pid); err != nil {
		return nil, err
	}
	return db.Get(KsCUCheckpoints, cuPIDPrefix(subCUHead, pid))
}

// CUCheckpoint returns the compressed memory stored under (pid, memSHA) in chunks chunks, or
// ErrNotFound if any chunk is missing.
func (db *DB) CUCheckpoint(pid string, memSHA []byte, chunks uint32) ([]byte, error) {
	if err := checkPID(pid); err != nil {
		return nil, err
	}
	if chunks == 0 || chunks > maxCUChunks {
		return nil, ErrNotFound
	}
	var out []byte
	for i := range chunks {
		c, err := db.Get(KsCUCheckpoints, cuBlobKey(pid, memSHA, i))
		if err != nil {
			return nil, err
		}
		out = append(out, c...)
	}
	return out, nil
}

// PutCUModuleChunk stores chunk i of a module definition (opaque bytes of the CU, which must
// be able to tell a complete definition from a partial one).
func (b *Batch) PutCUModuleChunk(id string, i uint32, chunk []byte) error {
	if id == "" || len(id) > maxPIDBytes {
		return fmt.Errorf("store: invalid module id length %d", len(id))
	}
	if len(chunk) > cuChunkBytes || i >= maxCUChunks {
		return fmt.Errorf("%w: module chunk %d of %d bytes", ErrTooLarge, i, len(chunk))
	}
	b.Set(KsCUCheckpoints, cuModuleKey(id, i), chunk)
	return nil
}

func cuModuleKey(id string, chunk uint32) []byte {
	return binary.BigEndian.AppendUint32(cuPIDPrefix(subCUModule, id), chunk)
}

// CUModule returns the chunks of a module definition concatenated in order, or ErrNotFound.
func (db *DB) CUModule(id string) ([]byte, error) {
	if id == "" || len(id) > maxPIDBytes {
		return nil, ErrNotFound
	}
	var (
		out  []byte
		next uint32
	)
	prefix := cuPIDPrefix(subCUModule, id)
	err := db.Scan(KsCUCheckpoints, prefix, nil, false, func(k, v []byte) bool {
		if len(k) != len(prefix)+4 || binary.BigEndian.Uint32(k[len(prefix):]) != next {
			return false // a gap: the definition is incomplete
		}
		next++
		out = append(out, v...)
		return true
	})
	if err != nil {
		return nil, err
	}
	if next == 0 {
		return nil, ErrNotFound
	}
	return out, nil
}
