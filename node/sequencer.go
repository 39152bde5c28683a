package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/aonode/aonode/consensus"
	"github.com/aonode/aonode/dataitem"
	"github.com/aonode/aonode/dataitem/aoapi"
	"github.com/aonode/aonode/p2p"
	"github.com/aonode/aonode/store"
	"github.com/aonode/aonode/su"
	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/libp2p/go-libp2p/core/peer"
)

// sequencer builds the chain that gives the SU's requests their slots: the local sequencer
// for processes with one scheduler and, on a p2p node, the replicated one (consensus) for
// processes whose scheduler set has two or more members, then the push of every durable slot
// on its process's topic. The chain reports on m, the collectors the SU itself serves, so
// each is registered once.
func (n *Node) sequencer(signer dataitem.Signer, height func() uint64, m *su.Metrics) (su.Sequencer, error) {
	local, err := su.NewLocal(su.LocalOptions{DB: n.db, Signer: signer, BlockHeight: height, Metrics: m})
	if err != nil {
		return nil, fmt.Errorf("node: SU sequencer: %w", err)
	}
	var seq su.Sequencer = local
	if n.net != nil {
		if err := n.startConsensus(signer, height); err != nil {
			return nil, err
		}
		sets, _ := lru.New[string, []string](maxSchedulerCache)
		seq = routing{local: local, cons: n.cons, db: n.db, sets: sets}
		seq = publishing{seq: seq, host: n.net.host, log: n.log.With("role", RoleSU)}
	}
	return seq, nil
}

// startConsensus starts the node's Raft groups over its libp2p host; a member address maps
// to a peer through the signed node records of the directory.
func (n *Node) startConsensus(signer dataitem.Signer, height func() uint64) error {
	metrics, err := consensus.NewMetrics(n.registry)
	if err != nil {
		return fmt.Errorf("node: consensus metrics: %w", err)
	}
	log := n.log.With("role", RoleSU, "component", "consensus")
	tmp := os.TempDir()
	if !n.cfg.InMemory {
		tmp = filepath.Join(n.cfg.DataDir, "raft-tmp")
		if err := os.MkdirAll(tmp, 0o700); err != nil {
			return fmt.Errorf("node: consensus temp dir: %w", err)
		}
	}
	self := su.AddressOfOwner(signer.Owner())
	cons, err := consensus.New(consensus.Options{
		DB:          n.db,
		Signer:      signer,
		Network:     consensus.NewLibp2p(n.net.host.Libp2p(), self, dirPeers{n.net.host.Directory()}, consensus.Libp2pOptions{Logger: log}),
		BlockHeight: height,
		Raft:        n.cfg.Raft,
		TempDir:     tmp,
		Conflicts:   n.conflicts,
		Metrics:     metrics,
		Logger:      log,
	})
	if err != nil {
		metrics.Unregister()
		return fmt.Errorf("node: consensus: %w", err)
	}
	n.cons = cons
	return nil
}

// dirPeers maps scheduler addresses to peers with the node directory (signed node records).
type dirPeers struct{ dir *p2p.Directory }

func (d dirPeers) PeerOf(address string) (peer.AddrInfo, bool) {
	r, ok := d.dir.Scheduler(address)
	if !ok {
		return peer.AddrInfo{}, false
	}
	return peer.AddrInfo{ID: r.PeerID, Addrs: r.ListenAddrs}, true
}

func (d dirPeers) AddressOf(p peer.ID) (string, bool) {
	r, ok := d.dir.Peer(p)
	if !ok || r.Scheduler == "" {
		return "", false
	}
	return r.Scheduler, true
}

// routing sends the requests of a process whose scheduler set has two or more members to
// the consensus sequencer, the others to the local one. A process this node does not hold
// (not spawned yet, or not yet replicated here) goes to the local sequencer, which refuses it
// as unknown without writing anything.
type routing struct {
	local su.Sequencer
	cons  *consensus.Manager
	db    *store.DB
	sets  *lru.Cache[string, []string] // process id -> scheduler set (never changes)
}

func (r routing) Schedule(ctx context.Context, req su.Request) (su.Scheduled, error) {
	set, err := r.setOf(req)
	if err == nil && set == nil && r.cons.Groups() > 0 {
		// A member may be a few milliseconds behind the leader that just committed the
		// Process: give it a moment before calling the process unknown.
		set, err = r.waitSet(ctx, req)
	}
	if err != nil {
		return su.Scheduled{}, err
	}
	if len(set) >= 2 {
		return r.cons.Schedule(ctx, req, set)
	}
	return r.local.Schedule(ctx, req)
}

// processWait bounds how long a write for an unknown process waits for the Process to be
// applied here.
const processWait = time.Second

func (r routing) waitSet(ctx context.Context, req su.Request) ([]string, error) {
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	deadline := time.After(processWait)
	for {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-deadline:
			return nil, nil
		case <-t.C:
		}
		if set, err := r.setOf(req); err != nil || set != nil {
			return set, err
		}
	}
}

func (r routing) setOf(req su.Request) ([]string, error) {
	if req.Item != nil && req.Item.ID() == req.Process {
		return aoapi.Schedulers(req.Item.Tags), nil
	}
	if set, ok := r.sets.Get(req.Process); ok {
		return set, nil
	}
	raw, err := r.db.Item(req.Process)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	it, err := dataitem.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("node: stored process %s: %w", req.Process, err)
	}
	set := aoapi.Schedulers(it.Tags)
	r.sets.Add(req.Process, set)
	return set, nil
}

// publishing pushes every new slot on its process's topic once the sequencer has made it
// durable. A failed push only delays followers until their next pull.
type publishing struct {
	seq  su.Sequencer
	host *p2p.Host
	log  *slog.Logger
}

func (p publishing) Schedule(ctx context.Context, req su.Request) (su.Scheduled, error) {
	s, err := p.seq.Schedule(ctx, req)
	if err != nil {
		return s, err
	}
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), publishTimeout)
	defer cancel()
	if perr := p.host.PublishAssignment(pctx, s.Assignment, req.Item); perr != nil {
		p.log.Warn("pushing a slot failed", "process", req.Process, "nonce", s.Slot.Nonce, "err", perr)
	}
	return s, nil
}

// consensusStatus is the SU's view of the Raft groups: nil (404 for every process) without
// consensus. A typed nil pointer must not become a non-nil interface.
func consensusStatus(m *consensus.Manager) su.ConsensusStatus {
	if m == nil {
		return nil
	}
	return m
}
