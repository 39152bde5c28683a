package explorer

import (
	"errors"
	"net/http"
	"strings"

	"github.com/aonode/aonode/dataitem"
	"github.com/aonode/aonode/store"
)

// Match is one thing a search found.
type Match struct {
	// Kind is process, message, assignment, module, item, wallet (owner of processes),
	// scheduler (of processes), node (a directory node), or spawner (parent of processes).
	Kind    string  `json:"kind"`
	ID      string  `json:"id"`
	Process string  `json:"process,omitempty"`
	Nonce   *uint64 `json:"nonce,omitempty"`
	Label   string  `json:"label,omitempty"`
	// Count is how many processes a wallet, scheduler, module or parent has (up to
	// searchCountCap).
	Count int `json:"count,omitempty"`
}

type searchReply struct {
	Query   string  `json:"q"`
	Matches []Match `json:"matches"`
}

// searchCountCap bounds the processes counted per match.
const searchCountCap = 1000

// getSearch looks an id up everywhere this node keeps ids: items (processes, messages,
// modules), assignments, process owners, schedulers and parents, and the node directory.
func (e *Explorer) getSearch(r *http.Request) (any, error) {
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	out := searchReply{Query: q, Matches: []Match{}}
	if q == "" {
		return nil, errorf(http.StatusBadRequest, "q is required: a process, message, assignment, module, wallet or peer id")
	}
	if len(q) > 128 {
		return nil, errorf(http.StatusBadRequest, "q is longer than any id")
	}
	db := e.opts.Store
	_, idErr := dataitem.DecodeID(q)
	isID := idErr == nil
	if isID {
		if s, err := db.SlotByAssignment(q); err == nil {
			n := s.Nonce
			out.Matches = append(out.Matches, Match{Kind: "assignment", ID: q, Process: s.Process, Nonce: &n, Label: "slot of " + s.MessageID})
		} else if !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
		it, err := e.loadItem(q)
		if err != nil {
			return nil, err
		}
		if it != nil {
			m, err := e.itemMatch(it)
			if err != nil {
				return nil, err
			}
			if m != nil {
				out.Matches = append(out.Matches, *m)
			}
		}
	}
	// Addresses: owners, schedulers and parents of processes. Ethereum owners are 0x…
	// addresses, which are not ids.
	if isID || strings.HasPrefix(q, "0x") {
		for _, c := range []struct {
			kind string
			q    store.ItemQuery
		}{
			{"wallet", store.ItemQuery{Owners: []string{q}}},
			{"scheduler", store.ItemQuery{Tags: []store.TagFilter{{Name: "Scheduler", Values: []string{q}}}}},
			{"spawner", store.ItemQuery{Tags: []store.TagFilter{{Name: "From-Process", Values: []string{q}}}}},
			{"module", store.ItemQuery{Tags: []store.TagFilter{{Name: "Module", Values: []string{q}}}}},
		} {
			c.q.Tags = append(c.q.Tags, store.TagFilter{Name: "Type", Values: []string{"Process"}})
			c.q.Limit, c.q.MaxScan = searchCountCap, 20*searchCountCap
			refs, err := db.QueryItems(c.q)
			if err != nil && !errors.Is(err, store.ErrQueryTooBroad) {
				return nil, err
			}
			if len(refs) == 0 {
				continue
			}
			if c.kind == "module" && hasKind(out.Matches, "module", q) {
				setCount(out.Matches, "module", q, len(refs))
				continue
			}
			out.Matches = append(out.Matches, Match{Kind: c.kind, ID: q, Count: len(refs)})
		}
	}
	if e.opts.Network != nil {
		for _, n := range e.opts.Network.Nodes() {
			if n.PeerID == q || n.Address == q || n.Scheduler == q {
				out.Matches = append(out.Matches, Match{Kind: "node", ID: n.PeerID, Label: n.URL})
			}
		}
	}
	return out, nil
}

// itemMatch says what a stored item is.
func (e *Explorer) itemMatch(it *dataitem.Item) (*Match, error) {
	id := it.ID()
	switch typ := tagOf(it, "Type"); typ {
	case "Process":
		return &Match{Kind: "process", ID: id, Process: id, Label: tagOf(it, "Name")}, nil
	case "Module":
		return &Match{Kind: "module", ID: id, Label: tagOf(it, "Module-Format")}, nil
	case "Message":
		m := &Match{Kind: "message", ID: id, Label: tagOf(it, "Action")}
		if len(it.Target) == 32 {
			pid := dataitem.EncodeID(it.Target)
			m.Process = pid
			s, err := e.opts.Store.SlotByMessage(pid, id)
			if err == nil {
				n := s.Nonce
				m.Nonce = &n
			} else if !errors.Is(err, store.ErrNotFound) {
				return nil, err
			}
		}
		return m, nil
	case "Assignment":
		return nil, nil // found through its slot above, when it is one of this node's
	default:
		return &Match{Kind: "item", ID: id, Label: typ}, nil
	}
}

func hasKind(ms []Match, kind, id string) bool {
	for _, m := range ms {
		if m.Kind == kind && m.ID == id {
			return true
		}
	}
	return false
}

func setCount(ms []Match, kind, id string, n int) {
	for i := range ms {
		if ms[i].Kind == kind && ms[i].ID == id {
			ms[i].Count = n
		}
	}
}
