package consensus

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/hashicorp/raft"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
)

// Protocol ids. Each group has its own Raft protocol, so a host serves any number of groups
// and a peer can only open the Raft streams of groups it is a member of.
const (
	raftProtocolPrefix = "/aonode/raft/1/"
	// CallProtocol carries forwarded writes and announcements between members.
	CallProtocol = protocol.ID("/aonode/consensus/1")
)

// RaftProtocol is the libp2p protocol id of a group's Raft traffic.
func RaftProtocol(group string) protocol.ID { return protocol.ID(raftProtocolPrefix + group) }

// Peers maps scheduler addresses to libp2p peers and back. The node's directory answers from
// signed node records, which bind a wallet address to a peer id.
type Peers interface {
	// PeerOf is the peer (with its listen addresses) of the node answering for a scheduler
	// address.
	PeerOf(address string) (peer.AddrInfo, bool)
	// AddressOf is the scheduler address a peer's record names.
	AddressOf(p peer.ID) (string, bool)
}

// Libp2pOptions tune the libp2p network. Zero values take the defaults noted.
type Libp2pOptions struct {
	// Timeout bounds one Raft RPC's I/O (default 10 s, hashicorp's own).
	Timeout time.Duration
	// DialTimeout bounds opening a stream to a member (default 2 s).
	DialTimeout time.Duration
	Logger      *slog.Logger
}

// Libp2p is the Network on a node's libp2p host.
type Libp2p struct {
	h     host.Host
	self  string
	peers Peers
	opts  Libp2pOptions
	log   *slog.Logger

	mu      sync.Mutex
	handler CallHandler
	serving bool
	calls   sync.WaitGroup
}

// NewLibp2p returns the consensus network of the node with scheduler address self on h.
func NewLibp2p(h host.Host, self string, peers Peers, opts Libp2pOptions) *Libp2p {
	if opts.Timeout <= 0 {
		opts.Timeout = 10 * time.Second
	}
	if opts.DialTimeout <= 0 {
		opts.DialTimeout = 2 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Libp2p{h: h, self: self, peers: peers, opts: opts, log: opts.Logger}
}

// dial opens a stream of proto to the member at address.
func (n *Libp2p) dial(ctx context.Context, address string, proto protocol.ID) (network.Stream, error) {
	info, ok := n.peers.PeerOf(address)
	if !ok {
		return nil, fmt.Errorf("%w: no node record for %s", ErrUnreachable, address)
	}
	if len(info.Addrs) > 0 {
		n.h.Peerstore().AddAddrs(info.ID, info.Addrs, 10*time.Minute)
	}
	s, err := n.h.NewStream(network.WithAllowLimitedConn(ctx, "consensus"), info.ID, proto)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrUnreachable, address, err)
	}
	return s, nil
}

// member reports the scheduler address of a stream's remote peer if it is one of members.
func (n *Libp2p) member(s network.Stream, members []string) (string, bool) {
	addr, ok := n.peers.AddressOf(s.Conn().RemotePeer())
	if !ok || addr == n.self || (members != nil && !slices.Contains(members, addr)) {
		return "", false
	}
	return addr, true
}

// Transport implements Network: a hashicorp NetworkTransport on a StreamLayer of libp2p
// streams of the group's protocol.
func (n *Libp2p) Transport(group string, members []string) (RaftTransport, error) {
	l := &streamLayer{n: n, proto: RaftProtocol(group), members: slices.Clone(members), conns: make(chan net.Conn, 16), done: make(chan struct{})}
	n.h.SetStreamHandler(l.proto, l.accept)
	t := raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream:  l,
		MaxPool: 4,
		Timeout: n.opts.Timeout,
		Logger:  newHCLogger(n.log, "raft-net"),
	})
	return t, nil
}

// streamLayer is raft.StreamLayer over libp2p: Accept yields streams opened by members, Dial
// opens one to a member.
type streamLayer struct {
	n       *Libp2p
	proto   protocol.ID
	members []string
	conns   chan net.Conn
	once    sync.Once
	done    chan struct{}
}

func (l *streamLayer) accept(s network.Stream) {
	addr, ok := l.n.member(s, l.members)
	if !ok {
		l.n.log.Warn("raft stream from a non-member refused", "peer", s.Conn().RemotePeer(), "protocol", l.proto)
		_ = s.Reset()
		return
	}
	c := &streamConn{Stream: s, local: netAddr(l.n.self), remote: netAddr(addr)}
	select {
	case l.conns <- c:
	case <-l.done:
		_ = s.Reset()
	}
}

func (l *streamLayer) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *streamLayer) Close() error {
	l.once.Do(func() {
		l.n.h.RemoveStreamHandler(l.proto)
		close(l.done)
	})
	return nil
}

func (l *streamLayer) Addr() net.Addr { return netAddr(l.n.self) }

func (l *streamLayer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	if !slices.Contains(l.members, string(address)) {
		return nil, fmt.Errorf("consensus: %s is not a member", address)
	}
	ctx, cancel := context.WithTimeout(context.Background(), min(timeout, l.n.opts.DialTimeout))
	defer cancel()
	s, err := l.n.dial(ctx, string(address), l.proto)
	if err != nil {
		return nil, err
	}
	return &streamConn{Stream: s, local: netAddr(l.n.self), remote: netAddr(address)}, nil
}

// netAddr is a scheduler address as a net.Addr (Raft only prints it).
type netAddr string

func (a netAddr) Network() string { return "aonode" }
func (a netAddr) String() string  { return string(a) }

// streamConn is a libp2p stream as a net.Conn.
type streamConn struct {
	network.Stream
	local, remote net.Addr
}

func (c *streamConn) LocalAddr() net.Addr  { return c.local }
func (c *streamConn) RemoteAddr() net.Addr { return c.remote }

// Close closes both directions; Raft never half-closes.
func (c *streamConn) Close() error { return c.Stream.Close() }

// Call implements Network: one stream per call, a length-prefixed request and answer.
func (n *Libp2p) Call(ctx context.Context, to string, req []byte) ([]byte, error) {
	if len(req) > maxCallBytes {
		return nil, fmt.Errorf("consensus: call of %d bytes", len(req))
	}
	dctx, cancel := context.WithTimeout(ctx, n.opts.DialTimeout)
	s, err := n.dial(dctx, to, CallProtocol)
	cancel()
	if err != nil {
		return nil, err
	}
	defer s.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = s.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = s.Reset() })
	defer stop()
	if err := writeFrame(s, req); err != nil {
		_ = s.Reset()
		return nil, fmt.Errorf("%w: %s: %v", ErrUnreachable, to, err)
	}
	if err := s.CloseWrite(); err != nil {
		_ = s.Reset()
		return nil, fmt.Errorf("%w: %s: %v", ErrUnreachable, to, err)
	}
	resp, err := readFrame(bufio.NewReader(s))
	if err != nil {
		_ = s.Reset()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("%w: %s: %v", ErrUnreachable, to, err)
	}
	return resp, nil
}

// Serve implements Network.
func (n *Libp2p) Serve(h CallHandler) {
	n.mu.Lock()
	n.handler = h
	serving := n.serving
	n.serving = h != nil
	n.mu.Unlock()
	switch {
	case h != nil && !serving:
		n.h.SetStreamHandler(CallProtocol, n.handleCall)
	case h == nil && serving:
		n.h.RemoveStreamHandler(CallProtocol)
		n.calls.Wait()
	}
}

func (n *Libp2p) handleCall(s network.Stream) {
	n.mu.Lock()
	h := n.handler
	if h == nil {
		n.mu.Unlock()
		_ = s.Reset()
		return
	}
	n.calls.Add(1)
	n.mu.Unlock()
	defer n.calls.Done()
	from, ok := n.member(s, nil)
	if !ok {
		_ = s.Reset()
		return
	}
	_ = s.SetReadDeadline(time.Now().Add(n.opts.Timeout))
	req, err := readFrame(bufio.NewReader(s))
	if err != nil {
		_ = s.Reset()
		return
	}
	_ = s.SetReadDeadline(time.Time{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := h(ctx, from, req)
	if err != nil {
		_ = s.Reset()
		return
	}
	_ = s.SetWriteDeadline(time.Now().Add(n.opts.Timeout))
	if err := writeFrame(s, resp); err != nil {
		_ = s.Reset()
		return
	}
	_ = s.Close()
}

func writeFrame(w io.Writer, b []byte) error {
	var hdr [binary.MaxVarintLen64]byte
	k := binary.PutUvarint(hdr[:], uint64(len(b)))
	if _, err := w.Write(hdr[:k]); err != nil {
		return err
	}
	_, err := w.Write(b)
	return err
}

func readFrame(r *bufio.Reader) ([]byte, error) {
	n, err := binary.ReadUvarint(r)
	if err != nil {
		return nil, err
	}
	if n > maxCallBytes {
		return nil, errors.New("consensus: frame too large")
	}
	b := make([]byte, n)
	_, err = io.ReadFull(r, b)
	return b, err
}

// Known implements Network: a node record names the address.
func (n *Libp2p) Known(address string) bool {
	_, ok := n.peers.PeerOf(address)
	return ok || address == n.self
}
