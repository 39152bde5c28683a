package consensus

import (
	"context"
	"errors"
	"io"

	"github.com/hashicorp/raft"
)

// Network carries a node's consensus traffic: the Raft messages of each group, and calls between
// members (writes forwarded to the leader, announcements of a new scheduler set). Libp2p is the
// real one; MemNet is its in-memory twin for tests.
type Network interface {
	// Transport opens the Raft transport of group. Raft addresses are the members' scheduler
	// addresses; only members may reach it.
	Transport(group string, members []string) (RaftTransport, error)
	// Call sends req to the member whose scheduler address is to and returns its answer.
	Call(ctx context.Context, to string, req []byte) ([]byte, error)
	// Serve routes incoming calls to h (nil stops serving). from is the caller's scheduler
	// address, authenticated by the network.
	Serve(h CallHandler)
	// Known reports whether the network knows a node answering for a scheduler address (a
	// signed node record): a new group is only started when it knows every member.
	Known(address string) bool
}

// CallHandler answers a call from another node.
type CallHandler func(ctx context.Context, from string, req []byte) ([]byte, error)

// RaftTransport is a raft.Transport the group closes when it stops.
type RaftTransport interface {
	raft.Transport
	io.Closer
}

// ErrUnreachable reports a member the network cannot reach now.
var ErrUnreachable = errors.New("consensus: member unreachable")

// maxCallBytes bounds a call's request and answer: an item plus a little framing.
const maxCallBytes = maxItemBytes + 64<<10
