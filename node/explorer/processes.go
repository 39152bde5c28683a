package explorer

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/aonode/aonode/dataitem"
	"github.com/aonode/aonode/store"
	"github.com/aonode/aonode/su"
)

// ProcessSummary is one process of the list.
type ProcessSummary struct {
	ID          string   `json:"id"`
	Name        string   `json:"name,omitempty"`
	Module      string   `json:"module"`
	Owner       string   `json:"owner"`
	Schedulers  []string `json:"schedulers"`
	FromProcess string   `json:"from_process,omitempty"`
	// Slots is the number of slots this node's SU holds (0 when it holds none), LastNonce the
	// newest and LastActivityMs its timestamp.
	Slots          uint64 `json:"slots"`
	LastNonce      *int64 `json:"last_nonce"`
	LastActivityMs int64  `json:"last_activity_ms,omitempty"`
	CreatedMs      int64  `json:"created_ms,omitempty"`
	// Evaluated is the newest slot this node's CU has a result for.
	Evaluated *int64 `json:"evaluated"`
}

// processesReply is GET /api/processes.
type processesReply struct {
	Processes []ProcessSummary `json:"processes"`
	// Next is the cursor of the following page ("" on the last).
	Next string `json:"next"`
}

// listFilters are the exact-match filters of the process list, by query name and tag.
var listFilters = []struct{ param, tag string }{
	{"module", "Module"},
	{"scheduler", "Scheduler"},
	{"name", "Name"},
	{"from-process", "From-Process"},
}

// parseLimit reads ?limit=, default DefaultPageLimit, at most MaxPageLimit.
func parseLimit(q url.Values) (int, error) {
	v := q.Get("limit")
	if v == "" {
		return DefaultPageLimit, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return 0, errorf(http.StatusBadRequest, "limit %q is not a positive number", clip(v, 32))
	}
	return min(n, MaxPageLimit), nil
}

// parseCursor reads a list cursor "<order>.<id>".
func parseCursor(v string) (*store.ItemRef, error) {
	if v == "" {
		return nil, nil
	}
	o, id, ok := strings.Cut(v, ".")
	order, err := strconv.ParseUint(o, 10, 64)
	if !ok || err != nil {
		return nil, errorf(http.StatusBadRequest, "cursor %q is not one this endpoint gave", clip(v, 64))
	}
	if _, err := dataitem.DecodeID(id); err != nil {
		return nil, errorf(http.StatusBadRequest, "cursor %q is not one this endpoint gave", clip(v, 64))
	}
	return &store.ItemRef{Order: order, ID: id}, nil
}

// getProcesses lists the processes this node holds, newest first: those its gateway index
// knows (every process its SU schedules, and every Process item uploaded to it).
func (e *Explorer) getProcesses(r *http.Request) (any, error) {
	q := r.URL.Query()
	limit, err := parseLimit(q)
	if err != nil {
		return nil, err
	}
	after, err := parseCursor(q.Get("after"))
	if err != nil {
		return nil, err
	}
	iq := store.ItemQuery{
		Tags:       []store.TagFilter{{Name: "Type", Values: []string{"Process"}}},
		Descending: true,
		After:      after,
		Limit:      limit + 1,
	}
	for _, f := range listFilters {
		if v := q.Get(f.param); v != "" {
			iq.Tags = append(iq.Tags, store.TagFilter{Name: f.tag, Values: []string{v}})
		}
	}
	if v := q.Get("owner"); v != "" {
		iq.Owners = []string{v}
	}
	refs, err := e.opts.Store.QueryItems(iq)
	if errors.Is(err, store.ErrQueryTooBroad) {
		return nil, errorf(http.StatusUnprocessableEntity, "the filters match too much to sort through; add one")
	}
	if err != nil {
		return nil, err
	}
	out := processesReply{Processes: []ProcessSummary{}}
	if len(refs) > limit {
		last := refs[limit-1]
		out.Next = fmt.Sprintf("%d.%s", last.Order, last.ID)
		refs = refs[:limit]
	}
	for _, ref := range refs {
		it, err := e.loadItem(ref.ID)
		if err != nil {
			return nil, err
		}
		if it == nil {
			continue
		}
		s, err := e.summary(it)
		if err != nil {
			return nil, err
		}
		out.Processes = append(out.Processes, s)
	}
	return out, nil
}

// summary describes process p from its item and what the store holds of it.
func (e *Explorer) summary(p *dataitem.Item) (ProcessSummary, error) {
	s := ProcessSummary{
		ID:          p.ID(),
		Name:        tagOf(p, "Name"),
		Module:      tagOf(p, "Module"),
		Owner:       ownerOf(p),
		Schedulers:  schedulersOf(p),
		FromProcess: tagOf(p, "From-Process"),
	}
	db := e.opts.Store
	if first, err := db.Slot(s.ID, 0); err == nil {
		s.CreatedMs = first.Timestamp
	} else if !errors.Is(err, store.ErrNotFound) {
		return s, err
	}
	last, err := db.LastSlot(s.ID)
	switch {
	case err == nil:
		n := int64(last.Nonce)
		s.LastNonce, s.Slots, s.LastActivityMs = &n, last.Nonce+1, last.Timestamp
	case !errors.Is(err, store.ErrNotFound):
		return s, err
	}
	rec, err := db.LastEvalResult(s.ID)
	switch {
	case err == nil:
		n := int64(rec.Nonce)
		s.Evaluated = &n
		s.LastActivityMs = max(s.LastActivityMs, rec.Timestamp)
	case !errors.Is(err, store.ErrNotFound):
		return s, err
	}
	return s, nil
}

// processReply is GET /api/process/{pid}.
type processReply struct {
	ProcessSummary
	Item       *ItemView       `json:"item"`
	Schedulers []SchedulerView `json:"scheduler_nodes"`
	Cron       CronView        `json:"cron"`
}

// SchedulerView is one scheduler of a process and the node that answers for it, when the
// directory names one.
type SchedulerView struct {
	Address string `json:"address"`
	PeerID  string `json:"peer_id,omitempty"`
	URL     string `json:"url,omitempty"`
	Self    bool   `json:"self,omitempty"`
}

// CronView is what the page shows of a process's cron: its Cron-* tags, whether this node's
// MU monitors it, and the newest cron evaluation this node's CU holds.
type CronView struct {
	Interval  string `json:"interval,omitempty"`
	Tags      []Tag  `json:"tags"`
	Monitored bool   `json:"monitored"`
	// LastCronMs is the timestamp of the newest cron evaluation found among the last
	// cronLookBack results (0: none there).
	LastCronMs int64  `json:"last_cron_ms,omitempty"`
	LastCron   string `json:"last_cron,omitempty"`
}

const cronLookBack = 200

func (e *Explorer) getProcess(r *http.Request) (any, error) {
	pid, err := pathID(r, "pid")
	if err != nil {
		return nil, err
	}
	p, err := e.loadItem(pid)
	if err != nil {
		return nil, err
	}
	if p == nil {
		return nil, errorf(http.StatusNotFound, "process %s is not held by this node", pid)
	}
	if typ, _ := p.Tag("Type"); typ != "Process" {
		return nil, errorf(http.StatusNotFound, "%s is a %q item, not a process", pid, clip(typ, 32))
	}
	s, err := e.summary(p)
	if err != nil {
		return nil, err
	}
	view := viewItem(p, true)
	out := processReply{ProcessSummary: s, Item: &view, Schedulers: []SchedulerView{}, Cron: CronView{Tags: []Tag{}}}
	self := e.opts.Node().Address
	var nodes []Peer
	if e.opts.Network != nil {
		nodes = e.opts.Network.Nodes()
	}
	for _, a := range s.Schedulers {
		sv := SchedulerView{Address: a, Self: a == self}
		for _, n := range nodes {
			if n.Scheduler == a {
				sv.PeerID, sv.URL = n.PeerID, n.URL
				break
			}
		}
		out.Schedulers = append(out.Schedulers, sv)
	}
	for _, t := range p.Tags {
		if strings.HasPrefix(t.Name, "Cron-") {
			out.Cron.Tags = append(out.Cron.Tags, Tag{Name: t.Name, Value: t.Value})
			if t.Name == "Cron-Interval" {
				out.Cron.Interval = t.Value
			}
		}
	}
	db := e.opts.Store
	if _, err := db.MUMonitor(pid); err == nil {
		out.Cron.Monitored = true
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	seen := 0
	err = db.EvalResults(pid, ^uint64(0), ^uint32(0), true, func(rec store.EvalResult) bool {
		seen++
		if rec.Cron != "" {
			out.Cron.LastCronMs, out.Cron.LastCron = rec.Timestamp, rec.Cron
			return false
		}
		return seen < cronLookBack
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// SlotRow is one slot of a process's table.
type SlotRow struct {
	Nonce        uint64 `json:"nonce"`
	MessageID    string `json:"message"`
	AssignmentID string `json:"assignment"`
	Type         string `json:"type,omitempty"`
	Action       string `json:"action,omitempty"`
	From         string `json:"from,omitempty"`
	// Assigned marks an item that was assigned to this process from elsewhere (not a
	// message to it).
	Assigned    bool   `json:"assigned,omitempty"`
	TimestampMs int64  `json:"timestamp_ms"`
	BlockHeight uint64 `json:"block_height"`
	Signer      string `json:"signer,omitempty"`
	// ChainOK is whether the slot's Hash-Chain follows from the previous slot (from the
	// process id at nonce 0) and its assignment item verifies and says what the slot says;
	// ChainError says what failed.
	ChainOK    bool          `json:"chain_ok"`
	ChainError string        `json:"chain_error,omitempty"`
	Result     ResultSummary `json:"result"`
}

// slotsReply is GET /api/process/{pid}/slots: newest first.
type slotsReply struct {
	Process   string    `json:"process"`
	LastNonce int64     `json:"last_nonce"`
	Slots     []SlotRow `json:"slots"`
	// Older is the before= of the next page towards nonce 0 (null on the last); Newer the
	// before= of the previous page (null on the first).
	Older *uint64 `json:"older"`
	Newer *uint64 `json:"newer"`
}

// getSlots answers one page of a process's slots, newest first: ?before=N (exclusive,
// default past the newest) or ?at=N (the page whose first row is N), ?limit=.
func (e *Explorer) getSlots(r *http.Request) (any, error) {
	pid, err := pathID(r, "pid")
	if err != nil {
		return nil, err
	}
	q := r.URL.Query()
	limit, err := parseLimit(q)
	if err != nil {
		return nil, err
	}
	db := e.opts.Store
	last, err := db.LastSlot(pid)
	if errors.Is(err, store.ErrNotFound) {
		return nil, errorf(http.StatusNotFound, "this node's SU holds no slots of %s", pid)
	}
	if err != nil {
		return nil, err
	}
	before := last.Nonce + 1
	for _, name := range []string{"before", "at"} {
		v := q.Get(name)
		if v == "" {
			continue
		}
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return nil, errorf(http.StatusBadRequest, "%s %q is not a nonce", name, clip(v, 32))
		}
		if name == "at" {
			n++
		}
		before = min(n, last.Nonce+1)
	}
	out := slotsReply{Process: pid, LastNonce: int64(last.Nonce), Slots: []SlotRow{}}
	if before == 0 {
		return out, nil
	}
	// The page is [start, before); the slot before start is read too, for the chain check.
	start := uint64(0)
	if before > uint64(limit) {
		start = before - uint64(limit)
	}
	from := start
	if from > 0 {
		from--
	}
	var slots []store.Slot
	err = db.Slots(pid, from, func(s store.Slot) bool {
		if s.Nonce >= before {
			return false
		}
		slots = append(slots, s)
		return true
	})
	if err != nil {
		return nil, err
	}
	var prev *store.Slot
	for i := range slots {
		s := slots[i]
		if s.Nonce < start {
			prev = &slots[i]
			continue
		}
		row, err := e.slotRow(pid, s, prev)
		if err != nil {
			return nil, err
		}
		out.Slots = append(out.Slots, row)
		prev = &slots[i]
	}
	// Newest first.
	for i, j := 0, len(out.Slots)-1; i < j; i, j = i+1, j-1 {
		out.Slots[i], out.Slots[j] = out.Slots[j], out.Slots[i]
	}
	if start > 0 {
		out.Older = &start
	}
	if before <= last.Nonce {
		newer := min(before+uint64(limit), last.Nonce+1)
		out.Newer = &newer
	}
	return out, nil
}

// slotRow builds the row of slot s; prev is the slot before it (nil at nonce 0, or when the
// store lacks it).
func (e *Explorer) slotRow(pid string, s store.Slot, prev *store.Slot) (SlotRow, error) {
	row := SlotRow{
		Nonce:        s.Nonce,
		MessageID:    s.MessageID,
		AssignmentID: s.AssignmentID,
		TimestampMs:  s.Timestamp,
		BlockHeight:  s.BlockHeight,
	}
	msg, err := e.loadItem(s.MessageID)
	if err != nil {
		return row, err
	}
	if msg != nil {
		row.Type, row.Action, row.From = tagOf(msg, "Type"), tagOf(msg, "Action"), fromOf(msg)
		row.Assigned = s.Nonce > 0 && (row.Type != "Message" || len(msg.Target) != 32 || dataitem.EncodeID(msg.Target) != pid)
	}
	row.Signer, row.ChainOK, row.ChainError, err = e.checkSlot(pid, s, prev)
	if err != nil {
		return row, err
	}
	rec, err := e.opts.Store.EvalResult(pid, s.Nonce, 0)
	switch {
	case err == nil:
		row.Result = summarize(rec)
	case !errors.Is(err, store.ErrNotFound):
		return row, err
	}
	return row, nil
}

// checkSlot checks a slot as a CU would: its hash chain against the previous slot, and its
// assignment item (stored, signature valid, tags describing this very slot). It answers the
// assignment's signer and what failed, if anything.
func (e *Explorer) checkSlot(pid string, s store.Slot, prev *store.Slot) (signer string, ok bool, why string, err error) {
	var want string
	switch {
	case s.Nonce == 0:
		want, err = su.SeedHashChain(pid)
	case prev == nil || prev.Nonce+1 != s.Nonce:
		return "", false, fmt.Sprintf("slot %d is missing from this node's store", s.Nonce-1), nil
	default:
		want, err = su.NextHashChain(prev.AssignmentID, prev.HashChain)
	}
	if err != nil {
		return "", false, err.Error(), nil
	}
	a, err := e.loadItem(s.AssignmentID)
	if err != nil {
		return "", false, "", err
	}
	if a == nil {
		return "", false, "the assignment item is not stored", nil
	}
	signer = a.Address()
	switch got, terr := su.SlotFromAssignment(a); {
	case s.HashChain != want:
		return signer, false, fmt.Sprintf("Hash-Chain %s, the previous slot gives %s", s.HashChain, want), nil
	case terr != nil:
		return signer, false, terr.Error(), nil
	case got != s:
		return signer, false, "the assignment's tags do not describe this slot", nil
	}
	if err := a.Verify(); err != nil {
		return signer, false, "the assignment's signature does not verify: " + err.Error(), nil
	}
	return signer, true, "", nil
}
