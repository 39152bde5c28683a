package p2p

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/aonode/aonode/dataitem"
	"github.com/aonode/aonode/node/httplimit"
)

// FetchProtocol is the stream protocol serving items by id.
//
// Request: the 43-character id. Response: one status byte; after statusOK an
// 8-byte big-endian length and that many bytes of the raw item.
const FetchProtocol protocol.ID = "/aonode/fetch/1.0.0"

const (
	idLen = 43

	statusOK byte = iota
	statusNotFound
	statusTooLarge
	statusBadRequest
	statusBusy
)

// ErrNotFound is what an ItemSource returns for an id it does not hold, and
// what Fetch returns when no peer had the item.
var ErrNotFound = errors.New("p2p: item not found")

// ErrBadItem reports a peer that answered with bytes that are not the
// requested item (wrong id, bad signature, too large); Fetch tries the next.
var ErrBadItem = errors.New("p2p: peer sent a bad item")

// ItemSource serves items (modules, process definitions, messages) by id to
// peers. Item returns the raw signed item or an error wrapping ErrNotFound.
type ItemSource interface {
	Item(id string) ([]byte, error)
}

func (h *Host) handleFetch(s network.Stream) {
	defer s.Close()
	select {
	case h.fetchSlots <- struct{}{}:
		defer func() { <-h.fetchSlots }()
	default:
		h.metrics.fetchServed.WithLabelValues("busy").Inc()
		_ = s.SetDeadline(time.Now().Add(time.Second))
		_, _ = s.Write([]byte{statusBusy})
		return
	}
	_ = s.SetDeadline(time.Now().Add(h.cfg.Fetch.Timeout))
	var req [idLen]byte
	if _, err := io.ReadFull(s, req[:]); err != nil {
		_ = s.Reset()
		return
	}
	id := string(req[:])
	if _, err := dataitem.DecodeID(id); err != nil {
		h.metrics.fetchServed.WithLabelValues("bad_request").Inc()
		_, _ = s.Write([]byte{statusBadRequest})
		return
	}
	var raw []byte
	var err error
	if h.items == nil {
		err = ErrNotFound
	} else {
		raw, err = h.items.Item(id)
	}
	switch {
	case err != nil:
		if !errors.Is(err, ErrNotFound) {
			h.log.Warn("serving fetch", "id", id, "peer", s.Conn().RemotePeer(), "err", err)
		}
		h.metrics.fetchServed.WithLabelValues("not_found").Inc()
		_, _ = s.Write([]byte{statusNotFound})
		return
	case int64(len(raw)) > h.cfg.Fetch.MaxItemBytes:
		h.metrics.fetchServed.WithLabelValues("too_large").Inc()
		_, _ = s.Write([]byte{statusTooLarge})
		return
	}
	w := bufio.NewWriter(s)
	var hdr [9]byte
	hdr[0] = statusOK
	binary.BigEndian.PutUint64(hdr[1:], uint64(len(raw)))
	_, _ = w.Write(hdr[:])
	_, _ = w.Write(raw)
	if err := w.Flush(); err != nil {
		_ = s.Reset()
		return
	}
	h.metrics.fetchServed.WithLabelValues("ok").Inc()
}

// FetchFrom asks peer p for item id and returns it verified: it parses, its
// signature verifies and its id is id.
func (h *Host) FetchFrom(ctx context.Context, p peer.ID, id string) (*dataitem.Item, error) {
	if _, err := dataitem.DecodeID(id); err != nil || len(id) != idLen {
		return nil, fmt.Errorf("p2p: fetch id %q: not an item id", id)
	}
	ctx, cancel := context.WithTimeout(ctx, h.cfg.Fetch.Timeout)
	defer cancel()
	s, err := h.host.NewStream(ctx, p, FetchProtocol)
	if err != nil {
		return nil, fmt.Errorf("p2p: fetch %s from %s: %w", id, p, err)
	}
	defer s.Close()
	// The stream deadline enforces the context's bound on reads and writes
	// the context cannot interrupt.
	if dl, ok := ctx.Deadline(); ok {
		_ = s.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = s.Reset() })
	defer stop()
	if _, err := s.Write([]byte(id)); err != nil {
		_ = s.Reset()
		return nil, fmt.Errorf("p2p: fetch %s from %s: %w", id, p, err)
	}
	_ = s.CloseWrite()
	r := bufio.NewReader(s)
	status, err := r.ReadByte()
	if err != nil {
		_ = s.Reset()
		return nil, fmt.Errorf("p2p: fetch %s from %s: %w", id, p, err)
	}
	switch status {
	case statusOK:
	case statusNotFound:
		return nil, fmt.Errorf("%w: %s at %s", ErrNotFound, id, p)
	case statusTooLarge:
		return nil, fmt.Errorf("%w: %s at %s is above the peer's size limit", ErrNotFound, id, p)
	case statusBusy:
		return nil, fmt.Errorf("p2p: fetch %s: peer %s busy", id, p)
	default:
		_ = s.Reset()
		return nil, fmt.Errorf("%w: status %d from %s", ErrBadItem, status, p)
	}
	var lenBuf [8]byte
	if _, err := io.ReadFull(r, lenBuf[:]); err != nil {
		_ = s.Reset()
		return nil, fmt.Errorf("p2p: fetch %s from %s: %w", id, p, err)
	}
	n := binary.BigEndian.Uint64(lenBuf[:])
	if n > uint64(h.cfg.Fetch.MaxItemBytes) {
		_ = s.Reset()
		return nil, fmt.Errorf("%w: %s announced %d bytes, limit %d", ErrBadItem, p, n, h.cfg.Fetch.MaxItemBytes)
	}
	// The length is the peer's claim: the buffer grows with what arrives.
	raw, err := httplimit.ReadAll(io.LimitReader(r, int64(n)), int64(n))
	if err == nil && uint64(len(raw)) != n {
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		_ = s.Reset()
		return nil, fmt.Errorf("p2p: fetch %s from %s: %w", id, p, err)
	}
	it, err := dataitem.ParseVerified(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %s from %s: %w", ErrBadItem, id, p, err)
	}
	if it.ID() != id {
		return nil, fmt.Errorf("%w: asked %s, %s sent %s", ErrBadItem, id, p, it.ID())
	}
	return it, nil
}

// Fetch asks connected peers, in random order, for item id until one
// returns it verified; at most Fetch.MaxPeers peers are asked, one at a time.
// It returns an error wrapping ErrNotFound when no peer had it.
func (h *Host) Fetch(ctx context.Context, id string) (*dataitem.Item, error) {
	peers := h.host.Network().Peers()
	rand.Shuffle(len(peers), func(i, j int) { peers[i], peers[j] = peers[j], peers[i] })
	if len(peers) > h.cfg.Fetch.MaxPeers {
		peers = peers[:h.cfg.Fetch.MaxPeers]
	}
	var errs []error
	for _, p := range peers {
		it, err := h.FetchFrom(ctx, p, id)
		if err == nil {
			h.metrics.fetched.WithLabelValues("ok").Inc()
			return it, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if errors.Is(err, ErrBadItem) {
			h.log.Warn("peer sent a bad item", "peer", p, "id", id, "err", err)
		}
		errs = append(errs, err)
	}
	h.metrics.fetched.WithLabelValues("not_found").Inc()
	return nil, fmt.Errorf("%w: %s at %d peers: %w", ErrNotFound, id, len(peers), errors.Join(errs...))
}
