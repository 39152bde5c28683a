package p2p

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/aonode/aonode/dataitem"
	"github.com/aonode/aonode/dataitem/aoapi"
)

// CU attestations (cu/ATTESTATION.md) are gossiped on one topic per process. The proof of a
// CU that signed two different attestations of one evaluation travels on ao/1/evidence beside
// the SUs' equivocation evidence, as its own type: a bundle of the two items, where the SU's is
// aoapi.Evidence JSON, so the payload's first byte tells them apart.
const attestTopicPrefix = "ao/1/attest/"

// AttestTopic is the attestation topic of process pid.
func AttestTopic(pid string) string { return attestTopicPrefix + pid }

// ErrInvalidAttestation reports a gossiped attestation that fails a check; the sender is
// penalised.
var ErrInvalidAttestation = errors.New("p2p: invalid gossiped attestation")

// ReceivedAttestation is one verified attestation from gossip.
type ReceivedAttestation struct {
	aoapi.Attestation
	Raw          []byte
	ReceivedFrom peer.ID
}

// AddressRoles reports whether the directory holds an unexpired record signed by wallet
// address (known) and whether one of them announces role.
func (d *Directory) AddressRoles(address, role string) (known, has bool) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	now := d.now()
	for _, r := range d.byPeer {
		if r.Address == address && r.Expires.After(now) {
			known = true
			if r.HasRole(role) {
				return true, true
			}
		}
	}
	return known, false
}

// checkAttestation is the validator of the topic of pid: a bounded, verified, well-formed
// attestation (aoapi.ParseAttestation) of that process by a signer whose node record
// announces the CU role. A signer the directory does not know yet is ignored (its record
// may be on its way), one known without the CU role rejected.
func (n *Host) checkAttestation(pid string, data []byte) (*ReceivedAttestation, pubsub.ValidationResult, error) {
	if _, err := dataitem.DecodeID(pid); err != nil || len(pid) != idLen {
		return nil, pubsub.ValidationReject, fmt.Errorf("%w: topic of %q", ErrInvalidAttestation, pid)
	}
	a, err := aoapi.ParseAttestation(data)
	if err != nil {
		return nil, pubsub.ValidationReject, fmt.Errorf("%w: %w", ErrInvalidAttestation, err)
	}
	if a.Process != pid {
		return nil, pubsub.ValidationReject, fmt.Errorf("%w: attestation of %s on the topic of %s", ErrInvalidAttestation, a.Process, pid)
	}
	known, cu := n.dir.AddressRoles(a.Signer, RoleCU)
	if a.Signer == n.id.Address && hasRole(n.info.Roles, RoleCU) {
		known, cu = true, true // this node's own, before its record went round
	}
	switch {
	case !known:
		return nil, pubsub.ValidationIgnore, fmt.Errorf("signer %s has no node record here yet", a.Signer)
	case !cu:
		return nil, pubsub.ValidationReject, fmt.Errorf("%w: signer %s does not announce the cu role", ErrInvalidAttestation, a.Signer)
	}
	return &ReceivedAttestation{Attestation: a, Raw: data}, pubsub.ValidationAccept, nil
}

func (n *Host) validateAttestation(pid string, msg *pubsub.Message) pubsub.ValidationResult {
	a, res, err := n.checkAttestation(pid, msg.GetData())
	if err != nil {
		n.log.Debug("attestation not accepted", "process", pid, "from", msg.ReceivedFrom, "err", err)
		return res
	}
	msg.ValidatorData = a
	return pubsub.ValidationAccept
}

// PublishAttestation gossips an attestation the node signed on its process's topic. It
// passes the same checks as a received one.
func (n *Host) PublishAttestation(ctx context.Context, raw []byte) error {
	a, err := aoapi.ParseAttestation(raw)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidAttestation, err)
	}
	key := AttestTopic(a.Process)
	pt, err := n.acquireNamed(key, false)
	if err != nil {
		return err
	}
	if err := pt.topic.Publish(ctx, raw); err != nil {
		return fmt.Errorf("p2p: publishing on %s: %w", key, err)
	}
	return nil
}

// acquireNamed joins topic (once), keyed in the Host's topics by its full name (process
// topics are keyed by the process id, so the two never collide); the janitor closes it once
// idle and unsubscribed.
func (n *Host) acquireNamed(topic string, subscribe bool) (*processTopic, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return nil, ErrClosed
	}
	pt, ok := n.topics[topic]
	if !ok {
		t, err := n.ps.Join(topic)
		if err != nil {
			return nil, fmt.Errorf("p2p: joining %s: %w", topic, err)
		}
		pt = &processTopic{topic: t}
		n.topics[topic] = pt
	}
	pt.lastUse = time.Now()
	if subscribe {
		pt.subs++
	}
	return pt, nil
}

// AttestSubscription delivers the verified attestations of one process.
type AttestSubscription struct {
	*subscription[ReceivedAttestation]
}

// SubscribeAttestations follows the attestation topic of pid. When the consumer lags more
// than Gossip.SubscriptionBuffer attestations, new ones are dropped (Dropped).
func (n *Host) SubscribeAttestations(pid string) (*AttestSubscription, error) {
	if _, err := dataitem.DecodeID(pid); err != nil || len(pid) != idLen {
		return nil, fmt.Errorf("p2p: subscribe: %q is not a process id", pid)
	}
	key := AttestTopic(pid)
	pt, err := n.acquireNamed(key, true)
	if err != nil {
		return nil, err
	}
	take := func(msg *pubsub.Message) (ReceivedAttestation, bool) {
		a, ok := msg.ValidatorData.(*ReceivedAttestation)
		if !ok {
			return ReceivedAttestation{}, false
		}
		out := *a
		out.ReceivedFrom = msg.ReceivedFrom
		return out, true
	}
	s, err := follow(n, pt, key, key, take, nil, nil)
	if err != nil {
		return nil, err
	}
	return &AttestSubscription{s}, nil
}

// Attestations delivers the attestations; it is closed when the subscription ends.
func (s *AttestSubscription) Attestations() <-chan ReceivedAttestation { return s.ch }

// AttestEvidence is the proof that one CU signed two different attestations of one
// evaluation.
type AttestEvidence struct {
	First, Second aoapi.Attestation
	Raw           []byte // the gossip payload: the bundle of both items
}

// EncodeAttestEvidence is the evidence payload: the ANS-104 bundle [first, second].
func EncodeAttestEvidence(first, second []byte) ([]byte, error) {
	var items []*dataitem.Item
	for _, raw := range [][]byte{first, second} {
		it, err := dataitem.Parse(raw)
		if err != nil {
			return nil, err
		}
		items = append(items, it)
	}
	return dataitem.BuildBundle(items), nil
}

// ParseAttestEvidence verifies an evidence payload: two valid attestations by one signer of
// the same (process, slot, cron seq) that differ in result or memory hash.
func ParseAttestEvidence(data []byte) (*AttestEvidence, error) {
	if len(data) > 4*aoapi.MaxAttestationBytes {
		return nil, fmt.Errorf("%w: evidence of %d bytes", ErrInvalidAttestation, len(data))
	}
	items, err := dataitem.ParseBundle(data)
	if err != nil || len(items) != 2 {
		return nil, fmt.Errorf("%w: evidence is not a bundle of two items", ErrInvalidAttestation)
	}
	var as [2]aoapi.Attestation
	for i, it := range items {
		if as[i], err = aoapi.AttestationOf(it); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInvalidAttestation, err)
		}
	}
	if as[0].Signer != as[1].Signer || as[0].Key() != as[1].Key() || as[0].Agrees(as[1]) {
		return nil, fmt.Errorf("%w: the two attestations do not contradict each other", ErrInvalidAttestation)
	}
	return &AttestEvidence{First: as[0], Second: as[1], Raw: data}, nil
}

// isAttestEvidence tells a CU contradiction (an ANS-104 bundle, starting with its 32-byte
// little-endian item count) from SU equivocation evidence (JSON, starting with '{') on
// ao/1/evidence.
func isAttestEvidence(data []byte) bool { return len(data) > 0 && data[0] != '{' }

func (n *Host) validateAttestEvidence(msg *pubsub.Message) pubsub.ValidationResult {
	ev, err := ParseAttestEvidence(msg.GetData())
	if err != nil {
		n.log.Debug("rejected attestation evidence", "from", msg.ReceivedFrom, "err", err)
		return pubsub.ValidationReject
	}
	msg.ValidatorData = ev
	return pubsub.ValidationAccept
}

// PublishAttestEvidence gossips the proof that a CU contradicted itself on ao/1/evidence.
func (n *Host) PublishAttestEvidence(ctx context.Context, first, second []byte) error {
	data, err := EncodeAttestEvidence(first, second)
	if err != nil {
		return err
	}
	if _, err := ParseAttestEvidence(data); err != nil {
		return err
	}
	if n.ev == nil {
		return ErrClosed
	}
	return n.ev.topic.Publish(ctx, data)
}

// OnAttestEvidence calls fn (from the host's evidence goroutine: it must not block) with the
// verified proof of every CU contradiction received by gossip.
func (n *Host) OnAttestEvidence(fn func(*AttestEvidence)) {
	n.attestEv.Store(&fn)
}

// gotAttestEvidence hands received CU evidence to the OnAttestEvidence callback.
func (n *Host) gotAttestEvidence(ev *AttestEvidence) {
	n.metrics.evidence.WithLabelValues("attestation").Inc()
	if fn := n.attestEv.Load(); fn != nil {
		(*fn)(ev)
	}
}

// heardProcesses learns, from the subscriptions peers announce, which processes the network
// computes or schedules: a node run with --follow all follows each of them.
type heardProcesses struct {
	mu   sync.Mutex
	seen map[string]struct{}
	fn   func(pid string)
}

// maxHeardProcesses bounds the ids remembered as already reported.
const maxHeardProcesses = 1 << 16

// OnProcessHeard calls fn (once per process, from a GossipSub goroutine: it must not block)
// for every process whose topic (assignments or attestations) a peer subscribes to.
func (n *Host) OnProcessHeard(fn func(pid string)) {
	n.heard.mu.Lock()
	n.heard.fn = fn
	n.heard.mu.Unlock()
}

func (h *heardProcesses) RecvRPC(rpc *pubsub.RPC) {
	for _, s := range rpc.GetSubscriptions() {
		if !s.GetSubscribe() {
			continue
		}
		t := s.GetTopicid()
		var pid string
		switch {
		case strings.HasPrefix(t, processTopicPrefix):
			pid = t[len(processTopicPrefix):]
		case strings.HasPrefix(t, attestTopicPrefix):
			pid = t[len(attestTopicPrefix):]
		default:
			continue
		}
		if len(pid) != idLen {
			continue
		}
		if _, err := dataitem.DecodeID(pid); err != nil {
			continue
		}
		h.mu.Lock()
		_, dup := h.seen[pid]
		fn := h.fn
		if !dup && fn != nil {
			if len(h.seen) >= maxHeardProcesses {
				clear(h.seen)
			}
			h.seen[pid] = struct{}{}
		}
		h.mu.Unlock()
		if !dup && fn != nil {
			fn(pid)
		}
	}
}

func (h *heardProcesses) AddPeer(peer.ID, protocol.ID)                         {}
func (h *heardProcesses) RemovePeer(peer.ID)                                   {}
func (h *heardProcesses) Join(string)                                          {}
func (h *heardProcesses) Leave(string)                                         {}
func (h *heardProcesses) Graft(peer.ID, string)                                {}
func (h *heardProcesses) Prune(peer.ID, string)                                {}
func (h *heardProcesses) ValidateMessage(*pubsub.Message)                      {}
func (h *heardProcesses) DeliverMessage(*pubsub.Message)                       {}
func (h *heardProcesses) RejectMessage(*pubsub.Message, string)                {}
func (h *heardProcesses) DuplicateMessage(*pubsub.Message)                     {}
func (h *heardProcesses) ThrottlePeer(peer.ID)                                 {}
func (h *heardProcesses) SendRPC(*pubsub.RPC, peer.ID)                         {}
func (h *heardProcesses) SendRPCCompleted(*pubsub.RPC, peer.ID, time.Duration) {}
func (h *heardProcesses) DropRPC(*pubsub.RPC, peer.ID)                         {}
func (h *heardProcesses) UndeliverableMessage(*pubsub.Message)                 {}
func (h *heardProcesses) OnNewOutboundStream(peer.ID, protocol.ID)             {}
func (h *heardProcesses) OnClosedOutboundStream(peer.ID)                       {}

func hasRole(roles []string, role string) bool {
	for _, r := range roles {
		if r == role {
			return true
		}
	}
	return false
}

// AttestPeers are the peers known to follow the attestation topic of pid.
func (n *Host) AttestPeers(pid string) []peer.ID { return n.ps.ListPeers(AttestTopic(pid)) }
