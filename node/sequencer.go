package node

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/aonode/aonode/dataitem"
	"github.com/aonode/aonode/p2p"
	"github.com/aonode/aonode/su"
)

// sequencer builds the chain that gives the SU's requests their slots: the local sequencer,
// then, on a p2p node, the push of every durable slot on its process's topic. A replicated
// sequencer goes here in place of (or in front of) the local one. The chain reports on m, the
// collectors the SU itself serves, so each is registered once.
func (n *Node) sequencer(signer dataitem.Signer, height func() uint64, m *su.Metrics) (su.Sequencer, error) {
	local, err := su.NewLocal(su.LocalOptions{DB: n.db, Signer: signer, BlockHeight: height, Metrics: m})
	if err != nil {
		return nil, fmt.Errorf("node: SU sequencer: %w", err)
	}
	var seq su.Sequencer = local
	if n.net != nil {
		seq = publishing{seq: seq, host: n.net.host, log: n.log.With("role", RoleSU)}
	}
	return seq, nil
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
