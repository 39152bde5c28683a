package p2p

import (
	"context"
	"errors"
	"fmt"

	lru "github.com/hashicorp/golang-lru/v2"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/aonode/aonode/dataitem"
	"github.com/aonode/aonode/su/evidence"
)

// TopicEvidence carries equivocation evidence (aoapi.Evidence JSON): two assignments of one
// slot of a process, with different ids, both signed by its schedulers. A node that finds a
// conflict publishes it here so that every node stores it, serves it and scores the
// equivocator down; the validator verifies every copy, so a peer that forwards forged
// evidence is penalised like one forwarding a forged push.
const TopicEvidence = "ao/1/evidence"

// Bounds of the evidence memories: the slots whose first push is remembered to compare later
// pushes with, and the evidence already handled (so the same pair is stored and published
// once, whatever encoding carried it).
const (
	// witnessSlots × an assignment of about 1 KiB: at most ~8 MiB held.
	witnessSlots  = 8192
	evidenceSeen  = 4096
	evidenceQueue = 64
)

// EvidenceSink is the node's side of equivocation evidence. It is called from the validator
// and the host's goroutines and must not block long.
type EvidenceSink interface {
	// Assignment is the assignment the node holds for slot nonce of pid (ok false: none), so
	// that a push conflicting with the node's own schedule is caught, not only one conflicting
	// with an earlier push.
	Assignment(pid string, nonce uint64) (*dataitem.Item, bool)
	// ProcessItem is the Process item of pid when the node holds it: published evidence
	// carries it, so that anyone can verify it offline.
	ProcessItem(pid string) (*dataitem.Item, bool)
	// AddEvidence keeps verified evidence, reporting whether it was new.
	AddEvidence(e *evidence.Evidence) (bool, error)
}

// evidenceState is the host's evidence machinery (nil sink: found evidence is still published
// and accepted evidence forwarded, only not kept).
type evidenceState struct {
	sink    EvidenceSink
	topic   *pubsub.Topic
	witness *evidence.Witness
	seen    *lru.Cache[[32]byte, struct{}]
	out     chan *evidence.Evidence
}

func (n *Host) startEvidence(sink EvidenceSink) error {
	t, err := n.ps.Join(TopicEvidence)
	if err != nil {
		return fmt.Errorf("p2p: joining %s: %w", TopicEvidence, err)
	}
	sub, err := t.Subscribe(pubsub.WithBufferSize(64))
	if err != nil {
		return fmt.Errorf("p2p: subscribing %s: %w", TopicEvidence, err)
	}
	var lookup evidence.Lookup
	if sink != nil {
		lookup = sink.Assignment
	}
	seen, _ := lru.New[[32]byte, struct{}](evidenceSeen)
	n.ev = &evidenceState{
		sink:    sink,
		topic:   t,
		witness: evidence.NewWitness(witnessSlots, lookup),
		seen:    seen,
		out:     make(chan *evidence.Evidence, evidenceQueue),
	}
	n.wg.Add(2)
	go n.readEvidence(sub)
	go n.publishEvidenceLoop()
	return nil
}

// witness compares a verified push with what the node knows of its slot. It reports true
// when the push conflicts: the push is then ignored (neither delivered nor forwarded; the
// evidence travels on its own topic), the evidence is kept and published, and the peer that
// sent it is penalised when its own record names the scheduler that signed it, the
// equivocator pushing its second version itself.
func (n *Host) witness(a *Assignment, schedulers []string, from peer.ID) bool {
	if n.ev == nil {
		return false
	}
	e, err := n.ev.witness.Observe(a.Assignment)
	if err != nil || e == nil {
		return false
	}
	if err := e.VerifySet(schedulers); err != nil {
		// The node's stored slot is signed by a scheduler the set does not name: not
		// evidence against this set, and not the sender's fault.
		n.log.Warn("conflicting assignment not provable", "process", a.Process, "nonce", a.Nonce, "err", err)
		return true
	}
	n.log.Warn("equivocation: two assignments for one slot", "process", e.Process(), "nonce", e.Nonce(),
		"signers", e.Signers(), "from", from)
	if r, ok := n.dir.Peer(from); ok && r.Scheduler != "" && r.Scheduler == a.Assignment.Address() {
		n.penalty.add(from)
	}
	n.foundEvidence(e, "push")
	return true
}

// foundEvidence keeps e and queues it for publication, once per pair.
func (n *Host) foundEvidence(e *evidence.Evidence, source string) {
	if !n.firstSight(e) {
		return
	}
	n.metrics.evidence.WithLabelValues(source).Inc()
	if e.ProcessItem() == nil && n.ev.sink != nil {
		if p, ok := n.ev.sink.ProcessItem(e.Process()); ok {
			e = e.WithProcess(p)
		}
	}
	n.keep(e)
	select {
	case n.ev.out <- e:
	default:
		n.log.Warn("evidence publication queue full; evidence kept, not published", "process", e.Process(), "nonce", e.Nonce())
	}
}

// firstSight reports whether e's pair is new to this host.
func (n *Host) firstSight(e *evidence.Evidence) bool {
	seen, _ := n.ev.seen.ContainsOrAdd(e.Key(), struct{}{})
	return !seen
}

func (n *Host) keep(e *evidence.Evidence) {
	if n.ev.sink == nil {
		return
	}
	if _, err := n.ev.sink.AddEvidence(e); err != nil {
		n.log.Warn("storing evidence", "process", e.Process(), "nonce", e.Nonce(), "err", err)
	}
}

// PublishEvidence hands evidence found elsewhere in the node (a CU's catch-up, replication)
// to the host: it is kept, once per pair, and gossiped on ao/1/evidence. The caller has
// verified it (Verify or VerifySet).
func (n *Host) PublishEvidence(e *evidence.Evidence) {
	if n.ev == nil {
		return
	}
	n.foundEvidence(e, "local")
}

func (n *Host) publishEvidenceLoop() {
	defer n.wg.Done()
	for {
		select {
		case <-n.ctx.Done():
			return
		case e := <-n.ev.out:
			data := e.Marshal()
			if len(data) > n.cfg.Gossip.MaxMessageBytes && e.ProcessItem() != nil {
				// Too big with the process: peers verify against the process they hold.
				data = e.WithProcess(nil).Marshal()
			}
			ctx, cancel := context.WithTimeout(n.ctx, n.cfg.Gossip.ValidateTimeout)
			err := n.ev.topic.Publish(ctx, data)
			cancel()
			if err != nil && n.ctx.Err() == nil {
				n.log.Warn("publishing evidence", "process", e.Process(), "nonce", e.Nonce(), "err", err)
			}
		}
	}
}

// errEvidenceUnknown: evidence about a process the node does not know and that does not carry
// its Process item; ignored, not penalised.
var errEvidenceUnknown = errors.New("p2p: evidence about an unknown process")

// checkEvidence verifies gossiped evidence: it parses, and its signers are schedulers of the
// process, by the Process item it carries or the set the node knows.
func (n *Host) checkEvidence(data []byte) (*evidence.Evidence, error) {
	e, err := evidence.Parse(data)
	if err != nil {
		return nil, err
	}
	if e.ProcessItem() != nil {
		return e, e.Verify(nil)
	}
	set, ok := n.checker.schedulers.ProcessSchedulers(e.Process())
	if !ok {
		return nil, errEvidenceUnknown
	}
	return e, e.VerifySet(set)
}

func (n *Host) validateEvidence(msg *pubsub.Message) pubsub.ValidationResult {
	if n.ev == nil {
		return pubsub.ValidationIgnore
	}
	if isAttestEvidence(msg.GetData()) {
		return n.validateAttestEvidence(msg) // attest.go
	}
	e, err := n.checkEvidence(msg.GetData())
	switch {
	case errors.Is(err, errEvidenceUnknown):
		return pubsub.ValidationIgnore
	case err != nil:
		n.log.Debug("rejected evidence", "from", msg.ReceivedFrom, "err", err)
		return pubsub.ValidationReject
	}
	msg.ValidatorData = e
	return pubsub.ValidationAccept
}

// readEvidence keeps the evidence accepted from gossip and penalises the equivocator's peer
// when one scheduler signed both assignments (with two signers the log alone cannot tell
// which of them broke the protocol).
func (n *Host) readEvidence(sub *pubsub.Subscription) {
	defer n.wg.Done()
	defer sub.Cancel()
	for {
		msg, err := sub.Next(n.ctx)
		if err != nil {
			return
		}
		if ae, ok := msg.ValidatorData.(*AttestEvidence); ok {
			if msg.ReceivedFrom != n.host.ID() {
				n.gotAttestEvidence(ae) // attest.go
			}
			continue
		}
		e, ok := msg.ValidatorData.(*evidence.Evidence)
		if !ok || msg.ReceivedFrom == n.host.ID() || !n.firstSight(e) {
			continue
		}
		n.metrics.evidence.WithLabelValues("gossip").Inc()
		n.log.Warn("equivocation evidence received", "process", e.Process(), "nonce", e.Nonce(),
			"signers", e.Signers(), "from", msg.ReceivedFrom)
		if s := e.Signers(); s[0] == s[1] {
			if r, ok := n.dir.Scheduler(s[0]); ok && r.PeerID != n.host.ID() {
				n.penalty.add(r.PeerID)
			}
		}
		n.keep(e)
	}
}
