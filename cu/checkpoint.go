package cu

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/aonode/aonode/store"
)

// checkpointHead is what the store keeps about a process's latest checkpoint. The memory
// itself is stored gzip-compressed under the SHA-256 of the uncompressed bytes.
type checkpointHead struct {
	State      procState `json:"state"`
	Module     string    `json:"module"`
	MemorySize int       `json:"memorySize"`
	Encoding   string    `json:"encoding"`
	Chunks     uint32    `json:"chunks"`
	sha        []byte
}

// checkpoint writes the process's memory and position. sem is held; results up to the
// position must be durable already (flush first).
func (p *proc) checkpoint(ctx context.Context) error {
	if p.def == nil || p.mem == nil || p.pending > 0 {
		return nil
	}
	start := time.Now()
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	if err != nil {
		return err
	}
	if _, err := zw.Write(p.mem); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	sum := sha256.Sum256(p.mem)
	chunks := store.CUChunks(buf.Bytes())
	head := checkpointHead{
		State: p.st, Module: p.def.module.ID, MemorySize: len(p.mem), Encoding: "gzip",
		Chunks: uint32(len(chunks)),
	}
	head.State.MemorySHA = sum[:]
	hb, err := json.Marshal(head)
	if err != nil {
		return err
	}
	// The chunks go first, a batch each (any one fits a write); the head that makes them the
	// checkpoint, and the deletion of the previous one, go last, atomically.
	wctx := context.WithoutCancel(ctx)
	same := bytes.Equal(p.ckptSHA, sum[:])
	for i, ch := range chunks {
		if same {
			break // the same memory is stored already
		}
		b := p.c.db.NewBatch()
		if err := b.PutCUCheckpointChunk(p.pid, sum[:], uint32(i), ch); err != nil {
			return err
		}
		if err := p.c.db.Commit(wctx, b); err != nil {
			return fmt.Errorf("cu: writing checkpoint of %s: %w", p.pid, err)
		}
	}
	b := p.c.db.NewBatch()
	if err := b.PutCUCheckpointHead(p.pid, hb); err != nil {
		return err
	}
	if len(p.ckptSHA) == 32 && !same {
		b.DeleteCUCheckpoint(p.pid, p.ckptSHA, p.ckptParts)
	}
	if err := p.c.db.Commit(wctx, b); err != nil {
		return fmt.Errorf("cu: writing checkpoint of %s: %w", p.pid, err)
	}
	p.ckptSHA, p.ckptParts = sum[:], uint32(len(chunks))
	p.sinceCkpt, p.lastCkpt = 0, p.c.cfg.Clock.Now()
	p.c.m.checkpoints.Inc()
	p.c.m.checkpointBytes.Observe(float64(buf.Len()))
	p.c.m.checkpointSeconds.Observe(time.Since(start).Seconds())
	p.c.log.Debug("checkpoint", "process", p.pid, "slot", p.st.Nonce, "bytes", buf.Len(), "memory", hex.EncodeToString(sum[:8]))
	return nil
}

// restore reads the latest checkpoint of pid. With none (or a damaged one) the process
// starts from nothing: nil memory and a zero state.
func (c *CU) restore(ctx context.Context, pid string) (procState, []byte, checkpointHead, error) {
	hb, err := c.db.CUCheckpointHead(pid)
	if errors.Is(err, store.ErrNotFound) {
		c.removeOrphanChunks(ctx, pid, nil)
		return procState{}, nil, checkpointHead{}, nil
	}
	if err != nil {
		return procState{}, nil, checkpointHead{}, fmt.Errorf("cu: reading checkpoint of %s: %w", pid, err)
	}
	var head checkpointHead
	if err := json.Unmarshal(hb, &head); err != nil || len(head.State.MemorySHA) != 32 || head.Encoding != "gzip" {
		c.log.Error("damaged checkpoint head; replaying from the start", "process", pid)
		return procState{}, nil, checkpointHead{}, nil
	}
	blob, err := c.db.CUCheckpoint(pid, head.State.MemorySHA, head.Chunks)
	if err != nil {
		c.log.Error("checkpoint memory missing; replaying from the start", "process", pid, "err", err)
		return procState{}, nil, checkpointHead{}, nil
	}
	mem, err := gunzip(blob, head.MemorySize)
	sum := sha256.Sum256(mem)
	if err != nil || !bytes.Equal(sum[:], head.State.MemorySHA) {
		c.log.Error("checkpoint memory damaged; replaying from the start", "process", pid, "err", err)
		return procState{}, nil, checkpointHead{}, nil
	}
	head.sha = head.State.MemorySHA
	c.removeOrphanChunks(ctx, pid, head.sha)
	c.m.restores.Inc()
	return head.State, mem, head, nil
}

// removeOrphanChunks deletes checkpoint chunks of pid other than keep's: those of a checkpoint
// whose head was never written (a crash in between).
func (c *CU) removeOrphanChunks(ctx context.Context, pid string, keep []byte) {
	b := c.db.NewBatch()
	err := c.db.CUCheckpointBlobs(pid, func(sha []byte, chunk uint32) bool {
		if !bytes.Equal(sha, keep) {
			b.DeleteCUCheckpointChunk(pid, sha, chunk)
		}
		return true
	})
	if err == nil && b.Len() > 0 {
		err = c.db.Commit(ctx, b)
	}
	if err != nil {
		c.log.Warn("removing orphaned checkpoint chunks", "process", pid, "err", err)
	}
}

func gunzip(b []byte, size int) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, size)
	buf := bytes.NewBuffer(out)
	if _, err := io.Copy(buf, io.LimitReader(zr, int64(size)+1)); err != nil {
		return nil, err
	}
	if buf.Len() != size {
		return nil, fmt.Errorf("checkpoint holds %d bytes, head says %d", buf.Len(), size)
	}
	return buf.Bytes(), nil
}
