package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/aonode/aonode/dataitem"
	"github.com/aonode/aonode/dataitem/aoapi"
	"github.com/aonode/aonode/store"
	"github.com/aonode/aonode/su/evidence"
)

// Bounds of GET /su/evidence: evidence is rare, but one record may carry a Process item of
// megabytes, so a page is bounded by count and by bytes.
const (
	defaultEvidencePage = 100
	maxEvidencePage     = 1000
	maxEvidenceBytes    = 64 << 20
	evidenceWriteTime   = 10 * time.Second
)

// evidenceBook keeps equivocation evidence in the store and answers the p2p host's questions
// about the slots and processes this node holds (p2p.EvidenceSink).
type evidenceBook struct{ db *store.DB }

// Assignment is the assignment of slot nonce of pid in the store, when this node holds it.
func (b evidenceBook) Assignment(pid string, nonce uint64) (*dataitem.Item, bool) {
	s, err := b.db.Slot(pid, nonce)
	if err != nil {
		return nil, false
	}
	raw, err := b.db.Item(s.AssignmentID)
	if err != nil {
		return nil, false
	}
	it, err := dataitem.Parse(raw)
	return it, err == nil
}

// ProcessItem is the Process item pid when the store holds it.
func (b evidenceBook) ProcessItem(pid string) (*dataitem.Item, bool) {
	raw, err := b.db.Item(pid)
	if err != nil {
		return nil, false
	}
	it, err := dataitem.Parse(raw)
	if err != nil || it.ID() != pid {
		return nil, false
	}
	if ty, _ := it.Tag("Type"); ty != "Process" {
		return nil, false
	}
	return it, true
}

// AddEvidence stores e (with the Process item when the store holds it, so that what
// GET /su/evidence serves verifies offline), durably, once per pair.
func (b evidenceBook) AddEvidence(e *evidence.Evidence) (bool, error) {
	key := e.Key()
	if has, err := b.db.HasEvidence(e.Process(), e.Nonce(), key); err != nil || has {
		return false, err
	}
	if e.ProcessItem() == nil {
		if p, ok := b.ProcessItem(e.Process()); ok {
			e = e.WithProcess(p)
		}
	}
	batch := b.db.NewBatch()
	batch.PutEvidence(e.Process(), e.Nonce(), key, e.Marshal())
	ctx, cancel := context.WithTimeout(context.Background(), evidenceWriteTime)
	defer cancel()
	if err := b.db.Commit(ctx, batch); err != nil {
		return false, fmt.Errorf("node: storing evidence: %w", err)
	}
	return true, nil
}

// serveEvidence is GET /su/evidence[?limit=n]: the stored evidence, a JSON list of
// aoapi.Evidence ordered by process and slot, at most limit (default 100, at most 1000)
// records and 64 MiB.
func (n *Node) serveEvidence(w http.ResponseWriter, r *http.Request) {
	limit := defaultEvidencePage
	if v := r.URL.Query().Get("limit"); v != "" {
		l, err := strconv.Atoi(v)
		if err != nil || l < 1 || l > maxEvidencePage {
			writeJSONError(w, http.StatusBadRequest, fmt.Sprintf("limit must be 1 to %d", maxEvidencePage))
			return
		}
		limit = l
	}
	out := []byte{'['}
	count := 0
	err := n.db.Evidence(func(v []byte) bool {
		if count == limit || len(out)+len(v) > maxEvidenceBytes {
			return false
		}
		if count > 0 {
			out = append(out, ',')
		}
		out = append(out, v...)
		count++
		return true
	})
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		writeJSONError(w, http.StatusInternalServerError, "reading evidence: "+err.Error())
		return
	}
	out = append(out, ']')
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(out)
}

func writeJSONError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(aoapi.ErrorBody{Error: msg})
}

// conflictQueue bounds the conflicts waiting to be turned into evidence.
const conflictQueue = 64

// conflict is two assignments for one slot: by id (the CU knows only ids), or as items (a
// replicated sequencer holds both signed items).
type conflict struct {
	pid   string
	nonce uint64
	ids   [2]string
	items [2]*dataitem.Item
}

// conflictSink turns reports of two assignments for one slot into evidence: the CU's, by id
// (cu.ConflictSink: both signed items are fetched by id, from the store, then peers), and a
// replicated sequencer's, with both items (AssignmentPair). The pair is checked against the
// Process item, kept and, on a p2p node, gossiped. One goroutine works through a bounded
// queue, so that no role ever waits for the network.
type conflictSink struct {
	book   evidenceBook
	nw     *network // nil without p2p
	log    *slog.Logger
	ch     chan conflict
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
}

func newConflictSink(db *store.DB, nw *network, log *slog.Logger) *conflictSink {
	s := &conflictSink{book: evidenceBook{db}, nw: nw, log: log, ch: make(chan conflict, conflictQueue), done: make(chan struct{})}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	go s.run()
	return s
}

// AssignmentConflict implements cu.ConflictSink.
func (s *conflictSink) AssignmentConflict(pid string, nonce uint64, ids [2]string) {
	s.queue(conflict{pid: pid, nonce: nonce, ids: ids})
}

// AssignmentPair reports two signed assignments for one slot that a role holds (a replica
// refusing a log entry for a slot it already holds with another assignment).
func (s *conflictSink) AssignmentPair(a, b *dataitem.Item) {
	pid, _ := a.Tag("Process")
	s.queue(conflict{pid: pid, items: [2]*dataitem.Item{a, b}})
}

func (s *conflictSink) queue(c conflict) {
	select {
	case s.ch <- c:
	default:
		s.log.Warn("conflict queue full; not turned into evidence", "process", c.pid, "slot", c.nonce)
	}
}

func (s *conflictSink) close() {
	s.cancel()
	<-s.done
}

func (s *conflictSink) run() {
	defer close(s.done)
	for {
		select {
		case <-s.ctx.Done():
			return
		case c := <-s.ch:
			if err := s.prove(c); err != nil && s.ctx.Err() == nil {
				s.log.Warn("conflicting assignments not proven", "process", c.pid, "slot", c.nonce, "assignments", c.ids, "err", err)
			}
		}
	}
}

// item is item id from the store, else from peers.
func (s *conflictSink) item(id string) (*dataitem.Item, error) {
	if raw, err := s.book.db.Item(id); err == nil {
		return dataitem.Parse(raw)
	}
	if s.nw == nil {
		return nil, fmt.Errorf("item %s is not in the store", id)
	}
	ctx, cancel := context.WithTimeout(s.ctx, resolveTimeout)
	defer cancel()
	return s.nw.fetch(ctx, id)
}

func (s *conflictSink) prove(c conflict) error {
	items := c.items
	for i, id := range c.ids {
		if items[i] != nil {
			continue
		}
		it, err := s.item(id)
		if err != nil {
			return fmt.Errorf("assignment %s: %w", id, err)
		}
		items[i] = it
	}
	e, err := evidence.New(items[0], items[1])
	if err != nil {
		return err
	}
	process, err := s.item(e.Process())
	if err != nil {
		return fmt.Errorf("process: %w", err)
	}
	if err := e.Verify(process); err != nil {
		return err
	}
	e = e.WithProcess(process)
	s.log.Warn("equivocation: two assignments for one slot", "process", e.Process(), "slot", e.Nonce(), "signers", e.Signers())
	if s.nw != nil {
		// The host keeps it (through the store) and gossips it, once per pair.
		s.nw.host.PublishEvidence(e)
		return nil
	}
	_, err = s.book.AddEvidence(e)
	return err
}
