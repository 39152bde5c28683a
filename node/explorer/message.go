package explorer

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/aonode/aonode/dataitem"
	"github.com/aonode/aonode/dataitem/aoapi"
	"github.com/aonode/aonode/store"
)

// messageReply is GET /api/message/{id}[?process=P]: an item, where it was scheduled, its
// result and attestation on this node, and what its result sent on.
type messageReply struct {
	ID string `json:"id"`
	// Process is the process whose schedule the page shows the item in.
	Process string    `json:"process,omitempty"`
	Item    *ItemView `json:"item"`
	Slot    *SlotView `json:"slot"`
	Result  *Result   `json:"result"`
	// PushedFor is the message the chain of pushes started from (the item's own Pushed-For,
	// else the item itself): the Pushed-For of everything its result sends.
	PushedFor string        `json:"pushed_for,omitempty"`
	Outbox    []OutboxEntry `json:"outbox"`
}

// SlotView is a slot and its assignment.
type SlotView struct {
	Nonce       uint64    `json:"nonce"`
	TimestampMs int64     `json:"timestamp_ms"`
	BlockHeight uint64    `json:"block_height"`
	HashChain   string    `json:"hash_chain"`
	ChainOK     bool      `json:"chain_ok"`
	ChainError  string    `json:"chain_error,omitempty"`
	Assignment  *ItemView `json:"assignment"`
}

// Result is a result this node's CU stored, as served, with its attestation.
type Result struct {
	Nonce uint64 `json:"nonce"`
	// Raw is the result exactly as GET /cu/result serves it, unless longer than
	// maxResultBytes (then Truncated, and Raw is null).
	Raw         json.RawMessage  `json:"raw"`
	Truncated   bool             `json:"truncated,omitempty"`
	Size        int              `json:"size"`
	Summary     ResultSummary    `json:"summary"`
	Attestation *AttestationView `json:"attestation"`
}

// AttestationView is a CU's signed statement about a result (cu/ATTESTATION.md).
type AttestationView struct {
	ID           string `json:"id"`
	CU           string `json:"cu"`
	Verified     bool   `json:"verified"`
	ResultSHA256 string `json:"result_sha256"`
	MemorySHA256 string `json:"memory_sha256"`
	// ResultMatches is whether Result-SHA256 is the hash of the stored result.
	ResultMatches bool   `json:"result_matches"`
	Item          string `json:"item"` // base64url of the raw attestation item
}

// OutboxEntry is one Message, Spawn or Assignment of a result and the item it became, when
// this node's store shows which.
type OutboxEntry struct {
	Kind   string `json:"kind"` // message, spawn, assignment
	Target string `json:"target,omitempty"`
	Action string `json:"action,omitempty"`
	Tags   []Tag  `json:"tags"`
	// ID is the pushed item, or the spawned process; "" when this node does not hold it.
	ID string `json:"id,omitempty"`
	// Nonce is the pushed message's slot in Target, when known.
	Nonce *uint64 `json:"nonce,omitempty"`
	// Processes are the processes an assignment names.
	Processes []string `json:"processes,omitempty"`
}

// pushLookAhead bounds the slots of a target process read to find the messages a result
// pushed to it; pushes land right after the message that caused them, so a small window
// finds them on any but a very busy target.
const pushLookAhead = 256

func (e *Explorer) getMessage(r *http.Request) (any, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return nil, err
	}
	pid := r.URL.Query().Get("process")
	if pid != "" {
		if _, err := dataitem.DecodeID(pid); err != nil {
			return nil, errorf(http.StatusBadRequest, "process %q is not an id", clip(pid, 64))
		}
	}
	db := e.opts.Store
	out := messageReply{ID: id, Outbox: []OutboxEntry{}}
	it, err := e.loadItem(id)
	if err != nil {
		return nil, err
	}
	var slot *store.Slot
	// An assignment id stands for its slot.
	if s, err := db.SlotByAssignment(id); err == nil {
		slot = &s
		pid = s.Process
		if it, err = e.loadItem(s.MessageID); err != nil {
			return nil, err
		}
		out.ID = s.MessageID
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	if it != nil {
		v := viewItem(it, true)
		out.Item = &v
		if pid == "" {
			pid = processOf(it)
		}
	}
	if pid == "" {
		if it == nil {
			return nil, errorf(http.StatusNotFound, "this node holds no item %s", id)
		}
		return out, nil
	}
	out.Process = pid
	if slot == nil {
		switch s, err := db.SlotByMessage(pid, out.ID); {
		case err == nil:
			slot = &s
		case errors.Is(err, store.ErrNotFound) && out.ID == pid:
			if s, err := db.Slot(pid, 0); err == nil {
				slot = &s
			}
		case !errors.Is(err, store.ErrNotFound):
			return nil, err
		}
	}
	if slot != nil {
		sv, err := e.slotView(pid, *slot)
		if err != nil {
			return nil, err
		}
		out.Slot = sv
	}
	var rec store.EvalResult
	switch {
	case slot != nil:
		rec, err = db.EvalResult(pid, slot.Nonce, 0)
	default:
		rec, err = db.EvalResultByMessage(pid, out.ID)
	}
	switch {
	case err == nil:
		out.Result = viewResult(rec)
	case !errors.Is(err, store.ErrNotFound):
		return nil, err
	}
	if it == nil && out.Slot == nil && out.Result == nil {
		return nil, errorf(http.StatusNotFound, "this node holds nothing of %s in process %s", id, pid)
	}
	out.PushedFor = out.ID
	if it != nil {
		if v := tagOf(it, "Pushed-For"); v != "" {
			out.PushedFor = v
		}
	}
	if out.Result != nil {
		if out.Outbox, err = e.outbox(pid, rec, out.PushedFor); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// processOf is the process an item belongs to: itself for a Process, its target for a
// Message.
func processOf(it *dataitem.Item) string {
	switch tagOf(it, "Type") {
	case "Process":
		return it.ID()
	case "Message":
		if len(it.Target) == 32 {
			return dataitem.EncodeID(it.Target)
		}
	}
	return ""
}

func (e *Explorer) slotView(pid string, s store.Slot) (*SlotView, error) {
	var prev *store.Slot
	if s.Nonce > 0 {
		p, err := e.opts.Store.Slot(pid, s.Nonce-1)
		if err == nil {
			prev = &p
		} else if !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
	}
	_, ok, why, err := e.checkSlot(pid, s, prev)
	if err != nil {
		return nil, err
	}
	sv := &SlotView{Nonce: s.Nonce, TimestampMs: s.Timestamp, BlockHeight: s.BlockHeight, HashChain: s.HashChain, ChainOK: ok, ChainError: why}
	a, err := e.loadItem(s.AssignmentID)
	if err != nil {
		return nil, err
	}
	if a != nil {
		v := viewItem(a, true)
		sv.Assignment = &v
	}
	return sv, nil
}

func viewResult(rec store.EvalResult) *Result {
	res := &Result{Nonce: rec.Nonce, Size: len(rec.Result), Summary: summarize(rec)}
	if len(rec.Result) <= maxResultBytes && json.Valid(rec.Result) {
		res.Raw = json.RawMessage(rec.Result)
	} else {
		res.Truncated = true
	}
	if len(rec.Attestation) > 0 {
		res.Attestation = viewAttestation(rec)
	}
	return res
}

func viewAttestation(rec store.EvalResult) *AttestationView {
	a, err := dataitem.Parse(rec.Attestation)
	if err != nil {
		return &AttestationView{Item: base64.RawURLEncoding.EncodeToString(rec.Attestation)}
	}
	sum := sha256.Sum256(rec.Result)
	v := &AttestationView{
		ID:           a.ID(),
		CU:           a.Address(),
		Verified:     a.Verify() == nil,
		ResultSHA256: tagOf(a, "Result-SHA256"),
		MemorySHA256: memoryHashOf(a),
		Item:         base64.RawURLEncoding.EncodeToString(rec.Attestation),
	}
	v.ResultMatches = v.ResultSHA256 == hex.EncodeToString(sum[:])
	return v
}

// outboxItem is an outbox Message or Spawn as a module writes it.
type outboxItem struct {
	Target string      `json:"Target"`
	Tags   []aoapi.Tag `json:"Tags"`
}

type outboxAssignment struct {
	Processes []string `json:"Processes"`
	Message   string   `json:"Message"`
}

// outbox lists what result rec of process pid sent on, and finds the items they became: a
// spawned process by its From-Process and Pushed-For tags in the index, a pushed message in
// the first pushLookAhead slots of its target after rec's timestamp.
func (e *Explorer) outbox(pid string, rec store.EvalResult, pushedFor string) ([]OutboxEntry, error) {
	var body resultBody
	out := []OutboxEntry{}
	if json.Unmarshal(rec.Result, &body) != nil {
		return out, nil
	}
	// Several messages to one target are matched in order against that target's slots.
	taken := map[string]bool{}
	for _, raw := range body.Messages {
		var m outboxItem
		if json.Unmarshal(raw, &m) != nil {
			continue
		}
		en := OutboxEntry{Kind: "message", Target: m.Target, Tags: tagsFrom(m.Tags), Action: tagValue(m.Tags, "Action")}
		if _, err := dataitem.DecodeID(m.Target); err == nil {
			id, nonce, err := e.findPushed(m.Target, pid, pushedFor, rec.Timestamp, taken)
			if err != nil {
				return nil, err
			}
			if id != "" {
				en.ID, en.Nonce = id, &nonce
				taken[id] = true
			}
		}
		out = append(out, en)
	}
	var children []*dataitem.Item
	if len(body.Spawns) > 0 {
		refs, err := e.opts.Store.QueryItems(store.ItemQuery{
			Tags: []store.TagFilter{
				{Name: "Type", Values: []string{"Process"}},
				{Name: "From-Process", Values: []string{pid}},
				{Name: "Pushed-For", Values: []string{pushedFor}},
			},
			Limit:   len(body.Spawns) + 16,
			MaxScan: 10_000,
		})
		if err != nil && !errors.Is(err, store.ErrQueryTooBroad) {
			return nil, err
		}
		for _, ref := range refs {
			c, err := e.loadItem(ref.ID)
			if err != nil {
				return nil, err
			}
			if c != nil {
				children = append(children, c)
			}
		}
	}
	for _, raw := range body.Spawns {
		var m outboxItem
		if json.Unmarshal(raw, &m) != nil {
			continue
		}
		en := OutboxEntry{Kind: "spawn", Tags: tagsFrom(m.Tags)}
		// The child carries the spawn's tags, less those the MU sets itself.
		for i, c := range children {
			if c != nil && carries(c, m.Tags) {
				en.ID, children[i] = c.ID(), nil
				break
			}
		}
		out = append(out, en)
	}
	for _, raw := range body.Assignments {
		var a outboxAssignment
		if json.Unmarshal(raw, &a) != nil {
			continue
		}
		out = append(out, OutboxEntry{Kind: "assignment", ID: a.Message, Processes: a.Processes, Tags: []Tag{}})
	}
	return out, nil
}

// findPushed finds the message process from pushed to target for pushedFor after time ms,
// among target's first pushLookAhead slots from then.
func (e *Explorer) findPushed(target, from, pushedFor string, ms int64, taken map[string]bool) (string, uint64, error) {
	db := e.opts.Store
	start, err := db.FirstNonceAfter(target, ms-1)
	if errors.Is(err, store.ErrNotFound) {
		return "", 0, nil
	}
	if err != nil {
		return "", 0, err
	}
	var (
		found string
		nonce uint64
		seen  int
		ierr  error
	)
	err = db.Slots(target, start, func(s store.Slot) bool {
		if seen++; seen > pushLookAhead {
			return false
		}
		if taken[s.MessageID] {
			return true
		}
		it, err := e.loadItem(s.MessageID)
		if err != nil {
			ierr = err
			return false
		}
		if it != nil && tagOf(it, "From-Process") == from && tagOf(it, "Pushed-For") == pushedFor {
			found, nonce = s.MessageID, s.Nonce
			return false
		}
		return true
	})
	if err == nil {
		err = ierr
	}
	return found, nonce, err
}

// carries reports whether item it has every tag of want, except those the MU replaces in a
// spawned process.
func carries(it *dataitem.Item, want []aoapi.Tag) bool {
	for _, t := range want {
		switch t.Name {
		case "Data-Protocol", "Type", "Variant", "From-Module", "From-Process", "Pushed-For":
			continue
		}
		found := false
		for _, have := range it.Tags {
			if have.Name == t.Name && have.Value == t.Value {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// tagsFrom are the tags of a module's outbox entry, as the explorer shows tags.
func tagsFrom(in []aoapi.Tag) []Tag {
	out := make([]Tag, len(in))
	for i, t := range in {
		out[i] = Tag(t)
	}
	return out
}

func tagValue(tags []aoapi.Tag, name string) string {
	v, _ := aoapi.TagValue(tags, name)
	return v
}

// memoryHashOf is the attestation's memory hash, whatever its format (Memory-Root from
// format 2, Memory-SHA256 before).
func memoryHashOf(a *dataitem.Item) string {
	if v := tagOf(a, "Memory-Root"); v != "" {
		return v
	}
	return tagOf(a, "Memory-SHA256")
}
