package node

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aonode/aonode/dataitem"
	"github.com/aonode/aonode/dataitem/aoapi"
	"github.com/aonode/aonode/p2p"
	libp2pnet "github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
)

// ProcessSchedulers implements p2p.ProcessSchedulers from the processes this node has met:
// cached, else held in the store. It never goes to the network (it runs in the validator).
func (nw *network) ProcessSchedulers(pid string) ([]string, bool) {
	nw.mu.Lock()
	s, ok := nw.scheds[pid]
	nw.mu.Unlock()
	if ok {
		return s, true
	}
	raw, err := nw.db.Item(pid)
	if err != nil {
		return nil, false
	}
	it, err := dataitem.Parse(raw)
	if err != nil {
		return nil, false
	}
	s, ok = schedulerTags(it)
	if ok {
		nw.remember(pid, s)
	}
	return s, ok
}

// schedulerTags is the scheduler set of a Process item (aoapi.Schedulers: repeated tags or a
// comma-separated list, sorted).
func schedulerTags(it *dataitem.Item) ([]string, bool) {
	if typ, _ := it.Tag("Type"); typ != "Process" {
		return nil, false
	}
	out := aoapi.Schedulers(it.Tags)
	return out, len(out) > 0
}

func (nw *network) remember(pid string, scheds []string) {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	if len(nw.scheds) >= maxSchedulerCache {
		clear(nw.scheds)
	}
	nw.scheds[pid] = scheds
}

// schedulers are the Scheduler tags of process pid, fetching the process item from peers
// when this node has not met it.
func (nw *network) schedulers(ctx context.Context, pid string) ([]string, error) {
	if s, ok := nw.ProcessSchedulers(pid); ok {
		return s, nil
	}
	if _, err := dataitem.DecodeID(pid); err != nil {
		return nil, fmt.Errorf("%w: %q is not a process id", ErrNoScheduler, clipForError(pid, 64))
	}
	nw.mu.Lock()
	missed, ok := nw.misses[pid]
	nw.mu.Unlock()
	if ok && time.Since(missed) < missTTL {
		return nil, fmt.Errorf("%w: process %s was not found moments ago", ErrNoScheduler, pid)
	}
	ctx, cancel := context.WithTimeout(ctx, resolveTimeout)
	defer cancel()
	it, err := nw.fetch(ctx, pid)
	if err != nil {
		if errors.Is(err, p2p.ErrNotFound) {
			nw.missed(pid)
		}
		return nil, fmt.Errorf("%w: process %s: %v", ErrNoScheduler, pid, err)
	}
	s, ok := schedulerTags(it)
	if !ok {
		nw.missed(pid)
		return nil, fmt.Errorf("%w: %s is not a Process with a Scheduler", ErrNoScheduler, pid)
	}
	nw.remember(pid, s)
	return s, nil
}

func (nw *network) missed(pid string) {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	if len(nw.misses) >= maxSchedulerCache {
		clear(nw.misses)
	}
	nw.misses[pid] = time.Now()
}

// fetch gets item id from the peers; when none of the connected ones has it, it dials the
// directory's nodes it is not connected to and asks again: a node holds connections to its
// bootstrap peers and neighbours, not to every node whose record it has.
func (nw *network) fetch(ctx context.Context, id string) (*dataitem.Item, error) {
	it, err := nw.host.Fetch(ctx, id)
	if err == nil || !errors.Is(err, p2p.ErrNotFound) {
		return it, err
	}
	if nw.dialDirectory(ctx, nil) == 0 {
		return nil, err
	}
	return nw.host.Fetch(ctx, id)
}

// maxDials bounds how many directory nodes one look-up dials.
const maxDials = 16

// dialDirectory connects to the directory's nodes that want (all when nil) accepts and this
// node is not connected to, and reports how many it reached.
func (nw *network) dialDirectory(ctx context.Context, want func(p2p.NodeRecord) bool) int {
	h := nw.host
	net := h.Libp2p().Network()
	reached := 0
	tried := 0
	for _, r := range h.Directory().Peers() {
		if r.PeerID == h.ID() || len(r.ListenAddrs) == 0 || (want != nil && !want(r)) {
			continue
		}
		if net.Connectedness(r.PeerID) == libp2pnet.Connected {
			continue
		}
		if tried++; tried > maxDials {
			break
		}
		if err := h.Connect(ctx, peer.AddrInfo{ID: r.PeerID, Addrs: r.ListenAddrs}); err != nil {
			nw.log.Debug("dialling a directory node", "peer", r.PeerID, "err", err)
			continue
		}
		reached++
	}
	return reached
}

// schedulerURL is the SU base URL of scheduler address addr.
func (nw *network) schedulerURL(addr string) (string, bool) {
	if addr == nw.selfAddr && nw.selfSU != "" {
		return nw.selfSU, true
	}
	u, ok := nw.host.Directory().SchedulerURL(addr)
	if !ok || u == "" {
		return "", false
	}
	return strings.TrimRight(u, "/") + "/su", true
}

// susOf are the SU base URLs of the members of process pid's scheduler set that the
// directory knows, in the set's order (this node's own SU first when it is a member: its
// store answers without a network hop).
func (nw *network) susOf(ctx context.Context, pid string) ([]string, error) {
	scheds, err := nw.schedulers(ctx, pid)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, a := range scheds {
		if u, ok := nw.schedulerURL(a); ok {
			if a == nw.selfAddr {
				out = append([]string{u}, out...)
			} else {
				out = append(out, u)
			}
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: no node record names a scheduler of process %s (%s)", ErrNoScheduler, pid, strings.Join(scheds, ", "))
	}
	return out, nil
}

// peersWithRole are the base URLs of the directory's nodes announcing role, by peer id.
func (nw *network) peersWithRole(role string) []string {
	var out []string
	for _, r := range nw.host.Directory().Peers() {
		if r.HasRole(role) && r.URL != "" && r.PeerID != nw.host.ID() {
			out = append(out, strings.TrimRight(r.URL, "/"))
		}
	}
	return out
}

func clipForError(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
