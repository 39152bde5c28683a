package node

import (
	"context"

	"github.com/aonode/aonode/cu"
	"github.com/aonode/aonode/p2p"
)

// FollowAll in Config.Follow makes the CU compute every process it hears of.
const FollowAll = "all"

// attestQueue bounds the attestations waiting to be gossiped; past it the newest are
// dropped (agreement then rests on the other CUs' copies and on HTTP).
const attestQueue = 1024

// attestWiring connects the CU's attestations to the network: each one the CU signs is
// gossiped on its process's topic, the ones received are handed to the CU, and evidence of a
// CU contradicting itself goes both ways. Called once the CU exists.
func (n *Node) attestWiring(c *cu.CU) {
	nw := n.net
	if nw == nil || c == nil {
		return
	}
	nw.mu.Lock()
	nw.receive = c.ReceiveAttestation
	nw.mu.Unlock()
	nw.wg.Go(func() {
		for {
			select {
			case <-nw.ctx.Done():
				return
			case raw := <-nw.attestQ:
				ctx, cancel := context.WithTimeout(nw.ctx, publishTimeout)
				if err := nw.host.PublishAttestation(ctx, raw); err != nil && nw.ctx.Err() == nil {
					nw.log.Debug("gossiping an attestation", "err", err)
				}
				cancel()
			}
		}
	})
	nw.host.OnAttestEvidence(func(ev *p2p.AttestEvidence) {
		nw.log.Warn("evidence: a CU signed two different attestations of one evaluation", "cu", ev.First.Signer,
			"process", ev.First.Process, "slot", ev.First.Slot, "cron-seq", ev.First.CronSeq)
	})
	follow := map[string]bool{}
	for _, pid := range n.cfg.Follow {
		follow[pid] = true
	}
	if follow[FollowAll] {
		nw.host.OnProcessHeard(func(pid string) {
			if err := c.Wake(pid); err != nil {
				nw.log.Debug("following a process heard of", "process", pid, "err", err)
			}
		})
	}
}

// publishAttestation queues an attestation the CU signed for gossip (Config.OnAttest).
func (nw *network) publishAttestation(_ string, raw []byte) {
	select {
	case nw.attestQ <- raw:
	default:
		nw.log.Debug("attestation gossip queue full; dropped one")
	}
}

// publishEvidence gossips the proof that a CU contradicted itself (Config.OnEvidence).
func (nw *network) publishEvidence(ev cu.Evidence) {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	if nw.closed {
		return
	}
	nw.wg.Go(func() {
		ctx, cancel := context.WithTimeout(nw.ctx, publishTimeout)
		defer cancel()
		if err := nw.host.PublishAttestEvidence(ctx, ev.First, ev.Second); err != nil && nw.ctx.Err() == nil {
			nw.log.Warn("gossiping attestation evidence", "err", err)
		}
	})
}

// followAttestations subscribes to the attestation topic of pid and hands what arrives to
// the CU. nw.mu is held.
func (nw *network) followAttestations(pid string) {
	if nw.receive == nil || nw.attests[pid] != nil {
		return
	}
	sub, err := nw.host.SubscribeAttestations(pid)
	if err != nil {
		nw.log.Warn("following attestations failed", "process", pid, "err", err)
		return
	}
	nw.attests[pid] = sub
	receive := nw.receive
	nw.wg.Go(func() {
		for a := range sub.Attestations() {
			receive(cu.Attestation{Attestation: a.Attestation, Raw: a.Raw})
		}
	})
}

// startFollowing has the CU compute the processes Config.Follow lists from the start.
func (n *Node) startFollowing(c *cu.CU) {
	for _, pid := range n.cfg.Follow {
		if pid == FollowAll {
			continue
		}
		if err := c.Wake(pid); err != nil {
			n.log.Warn("following a configured process", "process", pid, "err", err)
		}
	}
}
