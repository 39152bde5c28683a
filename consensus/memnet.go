package consensus

import (
	"context"
	"fmt"
	"sync"

	"github.com/hashicorp/raft"
)

// MemNet is the in-memory twin of the libp2p network, for tests: Raft over hashicorp's
// InmemTransport, calls as direct function calls, and faults: nodes can be split into
// sides that do not reach each other (Partition) and reconnected (Heal).
type MemNet struct {
	mu       sync.Mutex
	handlers map[string]CallHandler
	trans    map[string]map[string]*raft.InmemTransport // group -> address -> transport
	side     map[string]int                             // address -> partition side (0: all)
	known    map[string]bool                            // every address a node was made for
}

// NewMemNet returns a network where everyone reaches everyone.
func NewMemNet() *MemNet {
	return &MemNet{handlers: map[string]CallHandler{}, trans: map[string]map[string]*raft.InmemTransport{}, side: map[string]int{}, known: map[string]bool{}}
}

// Node is the Network of the node with scheduler address addr.
func (n *MemNet) Node(addr string) Network {
	n.mu.Lock()
	n.known[addr] = true
	n.mu.Unlock()
	return &memNode{net: n, addr: addr}
}

// Partition splits the nodes into the given sides; a node not named is cut off from every
// other node. Within a side everyone reaches everyone.
func (n *MemNet) Partition(sides ...[]string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.side = map[string]int{}
	for i, s := range sides {
		for _, a := range s {
			n.side[a] = i + 1
		}
	}
	n.rewire()
}

// Heal reconnects everyone.
func (n *MemNet) Heal() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.side = map[string]int{}
	n.rewire()
}

func (n *MemNet) reachable(a, b string) bool {
	if a == b || len(n.side) == 0 {
		return true
	}
	sa, sb := n.side[a], n.side[b]
	return sa != 0 && sa == sb
}

// rewire connects every group's transports as the sides allow.
func (n *MemNet) rewire() {
	for _, g := range n.trans {
		for a, t := range g {
			t.DisconnectAll()
			for b, u := range g {
				if a != b && n.reachable(a, b) {
					t.Connect(raft.ServerAddress(b), u)
				}
			}
		}
	}
}

type memNode struct {
	net  *MemNet
	addr string
}

func (m *memNode) Transport(group string, _ []string) (RaftTransport, error) {
	n := m.net
	n.mu.Lock()
	defer n.mu.Unlock()
	_, t := raft.NewInmemTransport(raft.ServerAddress(m.addr))
	g := n.trans[group]
	if g == nil {
		g = map[string]*raft.InmemTransport{}
		n.trans[group] = g
	}
	if old := g[m.addr]; old != nil {
		_ = old.Close()
	}
	g[m.addr] = t
	for b, u := range g {
		if b != m.addr && n.reachable(m.addr, b) {
			t.Connect(raft.ServerAddress(b), u)
			u.Connect(raft.ServerAddress(m.addr), t)
		}
	}
	return &memTransport{InmemTransport: t, net: n, group: group, addr: m.addr}, nil
}

type memTransport struct {
	*raft.InmemTransport
	net   *MemNet
	group string
	addr  string
}

func (t *memTransport) Close() error {
	n := t.net
	n.mu.Lock()
	if g := n.trans[t.group]; g[t.addr] == t.InmemTransport {
		delete(g, t.addr)
		for _, u := range g {
			u.Disconnect(raft.ServerAddress(t.addr))
		}
	}
	n.mu.Unlock()
	return t.InmemTransport.Close()
}

func (m *memNode) Call(ctx context.Context, to string, req []byte) ([]byte, error) {
	n := m.net
	n.mu.Lock()
	h := n.handlers[to]
	ok := n.reachable(m.addr, to)
	n.mu.Unlock()
	if h == nil || !ok {
		return nil, fmt.Errorf("%w: %s", ErrUnreachable, to)
	}
	if len(req) > maxCallBytes {
		return nil, fmt.Errorf("consensus: call of %d bytes", len(req))
	}
	return h(ctx, m.addr, append([]byte(nil), req...))
}

func (m *memNode) Serve(h CallHandler) {
	n := m.net
	n.mu.Lock()
	defer n.mu.Unlock()
	if h == nil {
		delete(n.handlers, m.addr)
		return
	}
	n.handlers[m.addr] = h
}

func (m *memNode) Known(addr string) bool {
	m.net.mu.Lock()
	defer m.net.mu.Unlock()
	_, ok := m.net.known[addr]
	return ok || addr == m.addr
}
