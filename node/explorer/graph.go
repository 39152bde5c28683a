package explorer

import (
	"encoding/json"
	"errors"
	"net/http"
	"sort"

	"github.com/aonode/aonode/dataitem"
	"github.com/aonode/aonode/store"
)

// Bounds of one process graph: the newest results and slots it reads, and the processes it
// shows.
const (
	graphResults   = 1000
	graphSlots     = 500
	graphChildren  = 200
	graphMaxNodes  = 300
	graphNameLooks = 100 // neighbours whose Name tag is looked up
)

// GraphNode is a process of a process graph.
type GraphNode struct {
	ID   string `json:"id"`
	Name string `json:"name,omitempty"`
	// Relation to the centre: self, parent, child, peer (messages only).
	Relation string `json:"relation"`
	// Held is whether this node's store holds the process.
	Held bool `json:"held"`
}

// GraphEdge is what went from one process to another: spawn, message or assignment, and how
// often among what was read.
type GraphEdge struct {
	From  string `json:"from"`
	To    string `json:"to"`
	Kind  string `json:"kind"`
	Count int    `json:"count"`
}

type graphReply struct {
	Center string      `json:"center"`
	Nodes  []GraphNode `json:"nodes"`
	Edges  []GraphEdge `json:"edges"`
	// ScannedResults and ScannedSlots are how many of the newest results and slots were read;
	// Partial is set when there were more than the bounds let the graph read.
	ScannedResults int  `json:"scanned_results"`
	ScannedSlots   int  `json:"scanned_slots"`
	Partial        bool `json:"partial"`
}

// getGraph draws the processes around pid: its parent and the children it spawned (from the
// index), the processes its newest results sent messages and assignments to, and those whose
// messages its newest slots hold.
func (e *Explorer) getGraph(r *http.Request) (any, error) {
	pid, err := pathID(r, "pid")
	if err != nil {
		return nil, err
	}
	db := e.opts.Store
	g := newGraph(pid)
	p, err := e.loadItem(pid)
	if err != nil {
		return nil, err
	}
	if p != nil {
		g.node(pid, "self").Name = tagOf(p, "Name")
		if parent := tagOf(p, "From-Process"); parent != "" {
			g.node(parent, "parent")
			g.edge(parent, pid, "spawn")
		}
	}
	refs, err := db.QueryItems(store.ItemQuery{
		Tags: []store.TagFilter{
			{Name: "Type", Values: []string{"Process"}},
			{Name: "From-Process", Values: []string{pid}},
		},
		Limit:   graphChildren + 1,
		MaxScan: 20 * graphChildren,
	})
	if err != nil && !errors.Is(err, store.ErrQueryTooBroad) {
		return nil, err
	}
	if len(refs) > graphChildren || errors.Is(err, store.ErrQueryTooBroad) {
		g.out.Partial, refs = true, refs[:min(len(refs), graphChildren)]
	}
	for _, ref := range refs {
		g.node(ref.ID, "child")
		g.edge(pid, ref.ID, "spawn")
	}
	var body resultBody
	err = db.EvalResults(pid, ^uint64(0), ^uint32(0), true, func(rec store.EvalResult) bool {
		if g.out.ScannedResults == graphResults {
			g.out.Partial = true
			return false
		}
		g.out.ScannedResults++
		body = resultBody{}
		if json.Unmarshal(rec.Result, &body) != nil {
			return true
		}
		for _, raw := range body.Messages {
			var m outboxItem
			if json.Unmarshal(raw, &m) == nil && isID(m.Target) && m.Target != pid {
				g.node(m.Target, "peer")
				g.edge(pid, m.Target, "message")
			}
		}
		for _, raw := range body.Assignments {
			var a outboxAssignment
			if json.Unmarshal(raw, &a) != nil {
				continue
			}
			for _, to := range a.Processes {
				if isID(to) && to != pid {
					g.node(to, "peer")
					g.edge(pid, to, "assignment")
				}
			}
		}
		return true
	})
	if err != nil {
		return nil, err
	}
	if last, err := db.LastSlot(pid); err == nil {
		start := uint64(0)
		if last.Nonce >= graphSlots {
			start, g.out.Partial = last.Nonce-graphSlots+1, true
		}
		var ierr error
		err = db.Slots(pid, start, func(s store.Slot) bool {
			g.out.ScannedSlots++
			if s.Nonce == 0 {
				return true
			}
			it, err := e.loadItem(s.MessageID)
			if err != nil {
				ierr = err
				return false
			}
			if it == nil {
				return true
			}
			if from := tagOf(it, "From-Process"); isID(from) && from != pid {
				kind := "message"
				if tagOf(it, "Type") != "Message" || len(it.Target) != 32 || dataitem.EncodeID(it.Target) != pid {
					kind = "assignment"
				}
				g.node(from, "peer")
				g.edge(from, pid, kind)
			}
			return true
		})
		if err == nil {
			err = ierr
		}
		if err != nil {
			return nil, err
		}
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	if err := e.nameNodes(g); err != nil {
		return nil, err
	}
	return g.reply(), nil
}

func isID(s string) bool {
	_, err := dataitem.DecodeID(s)
	return err == nil
}

type graph struct {
	out   graphReply
	nodes map[string]*GraphNode
	edges map[[3]string]*GraphEdge
}

func newGraph(center string) *graph {
	g := &graph{out: graphReply{Center: center}, nodes: map[string]*GraphNode{}, edges: map[[3]string]*GraphEdge{}}
	g.node(center, "self")
	return g
}

// node adds process id with its relation; a process first met as a peer that turns out to
// be a parent or child keeps the closer relation.
func (g *graph) node(id, rel string) *GraphNode {
	if n, ok := g.nodes[id]; ok {
		if n.Relation == "peer" && rel != "peer" {
			n.Relation = rel
		}
		return n
	}
	if len(g.nodes) >= graphMaxNodes {
		g.out.Partial = true
		return &GraphNode{}
	}
	n := &GraphNode{ID: id, Relation: rel}
	g.nodes[id] = n
	return n
}

func (g *graph) edge(from, to, kind string) {
	if g.nodes[from] == nil || g.nodes[to] == nil {
		return // one end was dropped at the node bound
	}
	k := [3]string{from, to, kind}
	if ed, ok := g.edges[k]; ok {
		ed.Count++
		return
	}
	g.edges[k] = &GraphEdge{From: from, To: to, Kind: kind, Count: 1}
}

// nameNodes fills the names and Held of the graph's processes from the store, and the names
// of those held elsewhere from the processes the network view last heard of.
func (e *Explorer) nameNodes(g *graph) error {
	heard := map[string]string{}
	if last := e.net.latest.Load(); last != nil {
		for _, p := range last.remote {
			heard[p.ID] = p.Name
		}
	}
	defer func() {
		for id, n := range g.nodes {
			if n.Name == "" {
				n.Name = heard[id]
			}
		}
	}()
	looked := 0
	for id, n := range g.nodes {
		if n.Relation == "self" && n.Name != "" {
			n.Held = true
			continue
		}
		if looked == graphNameLooks {
			break
		}
		looked++
		it, err := e.loadItem(id)
		if err != nil {
			return err
		}
		if it != nil {
			n.Held = true
			n.Name = tagOf(it, "Name")
		}
	}
	return nil
}

func (g *graph) reply() graphReply {
	out := g.out
	out.Nodes = make([]GraphNode, 0, len(g.nodes))
	for _, n := range g.nodes {
		out.Nodes = append(out.Nodes, *n)
	}
	rank := map[string]int{"self": 0, "parent": 1, "child": 2, "peer": 3}
	sort.Slice(out.Nodes, func(i, j int) bool {
		a, b := out.Nodes[i], out.Nodes[j]
		if rank[a.Relation] != rank[b.Relation] {
			return rank[a.Relation] < rank[b.Relation]
		}
		return a.ID < b.ID
	})
	out.Edges = make([]GraphEdge, 0, len(g.edges))
	for _, ed := range g.edges {
		out.Edges = append(out.Edges, *ed)
	}
	sort.Slice(out.Edges, func(i, j int) bool {
		a, b := out.Edges[i], out.Edges[j]
		if a.From != b.From {
			return a.From < b.From
		}
		if a.To != b.To {
			return a.To < b.To
		}
		return a.Kind < b.Kind
	})
	return out
}
