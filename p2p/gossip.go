package p2p

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/aonode/aonode/dataitem"
)

// Peer score thresholds. One invalid message costs a peer
// invalidMessageWeight, squared by count, so two or three rejected messages
// put it below the gossip, publish and graylist thresholds in turn.
const (
	invalidMessageWeight = -100
	gossipThreshold      = -50
	publishThreshold     = -150
	graylistThreshold    = -400
)

// idontwantBytes is the message size from which GossipSub sends IDONTWANT.
const idontwantBytes = 64 << 10

// topicScoreParams scores the nodes topic: a small reward for time in
// the mesh and for first deliveries, a heavy, slowly decaying penalty for
// invalid messages. Process topics are not scored topic by topic; their
// invalid messages are counted by processPenalty (penalty.go). Mesh delivery-rate penalties are off: process topics are
// bursty and often quiet, which they would punish.
func topicScoreParams() *pubsub.TopicScoreParams {
	return &pubsub.TopicScoreParams{
		TopicWeight:                    1,
		TimeInMeshWeight:               0.01,
		TimeInMeshQuantum:              time.Second,
		TimeInMeshCap:                  300,
		FirstMessageDeliveriesWeight:   1,
		FirstMessageDeliveriesDecay:    0.5,
		FirstMessageDeliveriesCap:      10,
		InvalidMessageDeliveriesWeight: invalidMessageWeight,
		InvalidMessageDeliveriesDecay:  invalidMessageDecay,
	}
}

func peerScoreParams(processPenalty func(peer.ID) float64) *pubsub.PeerScoreParams {
	return &pubsub.PeerScoreParams{
		Topics:            map[string]*pubsub.TopicScoreParams{TopicNodes: topicScoreParams()},
		TopicScoreCap:     50,
		AppSpecificScore:  processPenalty,
		AppSpecificWeight: 1,
		// No IP colocation penalty: testnets and operators run many nodes
		// behind one address, which it would punish.
		IPColocationFactorWeight:  0,
		BehaviourPenaltyWeight:    -10,
		BehaviourPenaltyThreshold: 6,
		BehaviourPenaltyDecay:     0.9,
		DecayInterval:             time.Second,
		DecayToZero:               decayToZero,
		RetainScore:               10 * time.Minute,
	}
}

func peerScoreThresholds() *pubsub.PeerScoreThresholds {
	return &pubsub.PeerScoreThresholds{
		GossipThreshold:             gossipThreshold,
		PublishThreshold:            publishThreshold,
		GraylistThreshold:           graylistThreshold,
		AcceptPXThreshold:           10,
		OpportunisticGraftThreshold: 3,
	}
}

// messageID is content-addressed (topic and payload): messages carry no
// author or sequence number (StrictNoSign), and the same record or
// assignment sent twice is one message.
func messageID(m *pb.Message) string {
	h := sha256.New()
	h.Write([]byte(m.GetTopic()))
	h.Write([]byte{0})
	h.Write(m.GetData())
	return string(h.Sum(nil))
}

func (n *Host) startGossip() error {
	gp := pubsub.DefaultGossipSubParams()
	gp.HeartbeatInterval = n.cfg.Gossip.HeartbeatInterval
	// IDONTWANT (sent to every mesh peer on each new message from 1 KiB up by
	// default) saves a duplicate only when it overtakes the copy in flight,
	// which a push of a few KiB rarely is; below this size it only doubles
	// the control traffic.
	gp.IDontWantMessageThreshold = idontwantBytes
	ps, err := pubsub.NewGossipSub(n.ctx, n.host,
		pubsub.WithGossipSubParams(gp),
		// No libp2p signature on gossip messages: every payload is already an
		// ANS-104 item (or a bundle of them) whose signature each topic's
		// validator verifies, and libp2p verified its own signature on every
		// copy received before de-duplicating, about half the CPU of a peer.
		// Unsigned messages have no author: records bind their peer id
		// themselves (ParseRecord). A message with a signature, author or
		// sequence number is rejected.
		pubsub.WithNoAuthor(),
		pubsub.WithMessageSignaturePolicy(pubsub.StrictNoSign),
		pubsub.WithMessageIdFn(messageID),
		pubsub.WithMaxMessageSize(n.cfg.Gossip.MaxMessageBytes+64<<10),
		pubsub.WithPeerExchange(true),
		// A publisher (an SU, or a node announcing itself) sends to every
		// topic peer it scores above the publish threshold, not only its mesh:
		// the first hop does not wait for the mesh to form, and followers
		// subscribed a moment ago still get the next slot.
		pubsub.WithFloodPublish(true),
		pubsub.WithPeerScore(peerScoreParams(n.penalty.score), peerScoreThresholds()),
		pubsub.WithRawTracer(n.mesh),
		pubsub.WithRawTracer(n.penalty),
		pubsub.WithRawTracer(&n.heard),
		pubsub.WithPeerScoreInspect(pubsub.PeerScoreInspectFn(n.onScores), n.cfg.Gossip.ScoreInspectInterval),
		pubsub.WithDefaultValidator(pubsub.ValidatorEx(n.validate), pubsub.WithValidatorTimeout(n.cfg.Gossip.ValidateTimeout)),
	)
	if err != nil {
		return fmt.Errorf("p2p: gossipsub: %w", err)
	}
	n.ps = ps
	if n.nodesTopic, err = ps.Join(TopicNodes); err != nil {
		return fmt.Errorf("p2p: joining %s: %w", TopicNodes, err)
	}
	sub, err := n.nodesTopic.Subscribe(pubsub.WithBufferSize(256))
	if err != nil {
		return fmt.Errorf("p2p: subscribing %s: %w", TopicNodes, err)
	}
	events, err := n.nodesTopic.EventHandler()
	if err != nil {
		sub.Cancel()
		return fmt.Errorf("p2p: events of %s: %w", TopicNodes, err)
	}
	n.wg.Add(2)
	go n.readRecords(sub)
	go n.watchJoins(events)
	return nil
}

// validate is the default validator of every topic.
func (n *Host) validate(_ context.Context, _ peer.ID, msg *pubsub.Message) pubsub.ValidationResult {
	topic := msg.GetTopic()
	var kind string
	res := pubsub.ValidationReject
	switch {
	case topic == TopicNodes:
		kind = "nodes"
		res = n.validateRecord(msg)
	case topic == TopicSchedulerLocations:
		kind = "locations"
		res = n.validateLocation(msg)
	case topic == TopicEvidence:
		kind = "evidence"
		res = n.validateEvidence(msg)
	case strings.HasPrefix(topic, processTopicPrefix):
		kind = "process"
		res = n.validateProcess(topic[len(processTopicPrefix):], msg)
	case strings.HasPrefix(topic, attestTopicPrefix):
		kind = "attest"
		res = n.validateAttestation(topic[len(attestTopicPrefix):], msg)
	default:
		kind = "unknown"
	}
	n.metrics.validated.WithLabelValues(kind, resultName(res)).Inc()
	return res
}

func resultName(r pubsub.ValidationResult) string {
	switch r {
	case pubsub.ValidationAccept:
		return "accept"
	case pubsub.ValidationIgnore:
		return "ignore"
	}
	return "reject"
}

func (n *Host) validateRecord(msg *pubsub.Message) pubsub.ValidationResult {
	r, err := ParseRecord(msg.GetData(), time.Now(), RecordLimits{
		MaxTTL: n.cfg.Gossip.MaxRecordTTL, MaxClockSkew: n.cfg.Gossip.MaxClockSkew,
	})
	if err != nil {
		n.log.Debug("rejected node record", "from", msg.ReceivedFrom, "err", err)
		return pubsub.ValidationReject
	}
	if !n.dir.Newer(r) {
		return pubsub.ValidationIgnore
	}
	msg.ValidatorData = r
	return pubsub.ValidationAccept
}

func (n *Host) validateProcess(pid string, msg *pubsub.Message) pubsub.ValidationResult {
	if _, err := dataitem.DecodeID(pid); err != nil || len(pid) != idLen {
		return pubsub.ValidationReject
	}
	if len(msg.GetData()) > n.cfg.Gossip.MaxMessageBytes {
		return pubsub.ValidationReject
	}
	a, err := n.checker.check(pid, msg.GetData(), time.Now())
	switch {
	case errors.Is(err, ErrUnknownProcess), errors.Is(err, ErrStaleAssignment):
		n.log.Debug("ignored process push", "process", pid, "from", msg.ReceivedFrom, "err", err)
		return pubsub.ValidationIgnore
	case err != nil:
		n.log.Debug("rejected process push", "process", pid, "from", msg.ReceivedFrom, "err", err)
		return pubsub.ValidationReject
	}
	if n.witness(a, a.schedulers, msg.ReceivedFrom) {
		return pubsub.ValidationIgnore
	}
	msg.ValidatorData = a
	return pubsub.ValidationAccept
}

func (n *Host) readRecords(sub *pubsub.Subscription) {
	defer n.wg.Done()
	defer sub.Cancel()
	for {
		msg, err := sub.Next(n.ctx)
		if err != nil {
			return
		}
		r, ok := msg.ValidatorData.(*NodeRecord)
		if !ok || !n.dir.Put(r) {
			continue
		}
		if r.PeerID != n.host.ID() && len(r.ListenAddrs) > 0 {
			n.host.Peerstore().AddAddrs(r.PeerID, r.ListenAddrs, min(time.Until(r.Expires), peerstore.RecentlyConnectedAddrTTL))
		}
	}
}

// watchJoins asks for an early record when a neighbour joins the nodes
// topic, so a newcomer fills its directory without waiting a full interval.
func (n *Host) watchJoins(events *pubsub.TopicEventHandler) {
	defer n.wg.Done()
	defer events.Cancel()
	for {
		ev, err := events.NextPeerEvent(n.ctx)
		if err != nil {
			return
		}
		if ev.Type != pubsub.PeerJoin {
			continue
		}
		select {
		case n.republish <- struct{}{}:
		default:
		}
	}
}

// recordLoop publishes the node's record at start, every RecordInterval,
// and when a neighbour joins (no more often than RecordMinInterval).
func (n *Host) recordLoop() {
	defer n.wg.Done()
	tick := time.NewTicker(n.cfg.Gossip.RecordInterval)
	defer tick.Stop()
	wait := time.NewTimer(0)
	defer wait.Stop()
	var last time.Time
	for {
		if d := n.cfg.Gossip.RecordMinInterval - time.Since(last); d > 0 {
			wait.Reset(d)
			select {
			case <-n.ctx.Done():
				return
			case <-wait.C:
			}
		}
		// Joins signalled while waiting are served by this publication.
		select {
		case <-n.republish:
		default:
		}
		last = time.Now()
		if err := n.publishRecord(); err != nil && n.ctx.Err() == nil {
			n.log.Warn("publishing node record", "err", err)
		}
		select {
		case <-n.ctx.Done():
			return
		case <-tick.C:
		case <-n.republish:
		}
	}
}

func (n *Host) publishRecord() error {
	if len(n.info.Roles) == 0 {
		return nil
	}
	it, err := SignRecord(n.id, n.info, n.host.Addrs(), time.Now(), n.cfg.Gossip.RecordTTL)
	if err != nil {
		return err
	}
	return n.nodesTopic.Publish(n.ctx, it.Raw())
}

// ErrTooLarge reports a push that does not fit a gossip message even
// without the scheduled item.
var ErrTooLarge = errors.New("p2p: assignment too large for gossip")

// ErrClosed reports a call on a closed Host.
var ErrClosed = errors.New("p2p: host closed")

// PublishAssignment pushes a new slot on its process's topic. message is the
// scheduled item (for the nonce-0 slot, the process); when the pair does not
// fit Gossip.MaxMessageBytes the assignment is pushed alone and followers
// fetch the item by id. The push passes the same validation as a received
// one, so an assignment the node's own validator rejects returns an error.
func (n *Host) PublishAssignment(ctx context.Context, assignment, message *dataitem.Item) error {
	pid, ok := assignment.Tag(tagProcess)
	if !ok {
		return fmt.Errorf("%w: no Process tag", ErrInvalidAssignment)
	}
	if _, err := dataitem.DecodeID(pid); err != nil {
		return fmt.Errorf("%w: process %q", ErrInvalidAssignment, pid)
	}
	data := EncodeAssignment(assignment, message)
	if len(data) > n.cfg.Gossip.MaxMessageBytes && message != nil && message.ID() != pid {
		data = EncodeAssignment(assignment, nil)
	}
	if len(data) > n.cfg.Gossip.MaxMessageBytes {
		return fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(data), n.cfg.Gossip.MaxMessageBytes)
	}
	pt, err := n.acquireTopic(pid, false)
	if err != nil {
		return err
	}
	if err := pt.topic.Publish(ctx, data); err != nil {
		return fmt.Errorf("p2p: publishing on %s: %w", ProcessTopic(pid), err)
	}
	return nil
}

// acquireTopic joins the topic of pid (once).
func (n *Host) acquireTopic(pid string, subscribe bool) (*processTopic, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return nil, ErrClosed
	}
	pt, ok := n.topics[pid]
	if !ok {
		t, err := n.ps.Join(ProcessTopic(pid))
		if err != nil {
			return nil, fmt.Errorf("p2p: joining %s: %w", ProcessTopic(pid), err)
		}
		pt = &processTopic{topic: t}
		n.topics[pid] = pt
	}
	pt.lastUse = time.Now()
	if subscribe {
		pt.subs++
	}
	return pt, nil
}

func (n *Host) releaseTopic(pid string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if pt, ok := n.topics[pid]; ok {
		pt.subs--
		pt.lastUse = time.Now()
	}
}

// ProcessSubscription delivers the verified pushes of one process.
type ProcessSubscription struct {
	*subscription[Assignment]
	pid string
}

// SubscribeProcess follows the topic of pid. Pushes arrive verified, in
// network order (not nonce order): run them through a Sequence and pull gaps
// from an SU. When the consumer lags more than Gossip.SubscriptionBuffer
// pushes, new ones are dropped (counted by Dropped) and show up as a gap.
func (n *Host) SubscribeProcess(pid string) (*ProcessSubscription, error) {
	if _, err := dataitem.DecodeID(pid); err != nil || len(pid) != idLen {
		return nil, fmt.Errorf("p2p: subscribe: %q is not a process id", pid)
	}
	pt, err := n.acquireTopic(pid, true)
	if err != nil {
		return nil, err
	}
	take := func(msg *pubsub.Message) (Assignment, bool) {
		a, ok := msg.ValidatorData.(*Assignment)
		if !ok {
			return Assignment{}, false
		}
		out := *a
		out.ReceivedFrom = msg.ReceivedFrom
		return out, true
	}
	delivered := func(msg *pubsub.Message, a Assignment) {
		n.metrics.delivered.WithLabelValues("delivered").Inc()
		if msg.ReceivedFrom != n.host.ID() {
			// Only pushes that crossed the network: the age of one's own is noise.
			n.metrics.pushAge.Observe(time.Since(time.UnixMilli(a.Timestamp)).Seconds())
		}
	}
	dropped := func() { n.metrics.delivered.WithLabelValues("dropped").Inc() }
	s, err := follow(n, pt, pid, ProcessTopic(pid), take, delivered, dropped)
	if err != nil {
		return nil, err
	}
	return &ProcessSubscription{subscription: s, pid: pid}, nil
}

// Process is the followed process id.
func (s *ProcessSubscription) Process() string { return s.pid }

// Assignments delivers the pushes; it is closed when the subscription ends
// (Close, or the Host closing).
func (s *ProcessSubscription) Assignments() <-chan Assignment { return s.ch }

// ProcessPeers are the peers known to follow the topic of pid (empty when
// this node has not joined it).
func (n *Host) ProcessPeers(pid string) []peer.ID { return n.ps.ListPeers(ProcessTopic(pid)) }

// ProcessMesh is how many peers this node exchanges full messages with on
// the topic of pid. A push received before the mesh forms reaches the other
// followers only through gossip, so a follower that sees a gap pulls.
func (n *Host) ProcessMesh(pid string) int { return n.mesh.size(ProcessTopic(pid)) }

// meshTracker follows GossipSub's mesh through its tracer hooks.
type meshTracker struct {
	mu    sync.Mutex
	topic map[string]map[peer.ID]struct{}
}

func newMeshTracker() *meshTracker { return &meshTracker{topic: map[string]map[peer.ID]struct{}{}} }

func (m *meshTracker) size(topic string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.topic[topic])
}

func (m *meshTracker) Graft(p peer.ID, topic string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.topic[topic] == nil {
		m.topic[topic] = map[peer.ID]struct{}{}
	}
	m.topic[topic][p] = struct{}{}
}

func (m *meshTracker) Prune(p peer.ID, topic string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.topic[topic], p)
}

func (m *meshTracker) RemovePeer(p peer.ID) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, peers := range m.topic {
		delete(peers, p)
	}
}

func (m *meshTracker) Leave(topic string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.topic, topic)
}

func (m *meshTracker) AddPeer(peer.ID, protocol.ID)                         {}
func (m *meshTracker) Join(string)                                          {}
func (m *meshTracker) ValidateMessage(*pubsub.Message)                      {}
func (m *meshTracker) DeliverMessage(*pubsub.Message)                       {}
func (m *meshTracker) RejectMessage(*pubsub.Message, string)                {}
func (m *meshTracker) DuplicateMessage(*pubsub.Message)                     {}
func (m *meshTracker) ThrottlePeer(peer.ID)                                 {}
func (m *meshTracker) RecvRPC(*pubsub.RPC)                                  {}
func (m *meshTracker) SendRPC(*pubsub.RPC, peer.ID)                         {}
func (m *meshTracker) SendRPCCompleted(*pubsub.RPC, peer.ID, time.Duration) {}
func (m *meshTracker) DropRPC(*pubsub.RPC, peer.ID)                         {}
func (m *meshTracker) UndeliverableMessage(*pubsub.Message)                 {}
func (m *meshTracker) OnNewOutboundStream(peer.ID, protocol.ID)             {}
func (m *meshTracker) OnClosedOutboundStream(peer.ID)                       {}
