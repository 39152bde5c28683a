package p2p

import (
	"math"
	"strings"
	"sync"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
)

// processPenalty scores invalid messages on process topics (and on the attestation topics
// (attest.go), counted the same way).
//
// GossipSub recomputes every scored topic a peer shares with us on each RPC
// it receives (and for every forward and gossip decision): with one topic
// per followed process that cost grows with the processes a node follows, and
// at 100 peers and 8 processes it was a ninth of all CPU. So process topics
// are not scored by GossipSub; their invalid messages are counted here, per
// peer, with GossipSub's P4 rule (weight invalidMessageWeight, squared,
// decaying by invalidMessageDecay a second, to zero below decayToZero), and
// reach the peer's score through AppSpecificScore. The nodes topic keeps
// GossipSub's full topic score.
type processPenalty struct {
	now func() time.Time

	mu    sync.Mutex
	peers map[peer.ID]*decaying
}

// decaying is a counter of invalid messages as of at.
type decaying struct {
	v  float64
	at time.Time
}

const (
	invalidMessageDecay = 0.99 // per second
	decayToZero         = 0.01
	// maxInvalidCount caps a counter: the penalty is far below the graylist
	// threshold long before, and a cap bounds how long the entry lives.
	maxInvalidCount = 1000
)

func newProcessPenalty(now func() time.Time) *processPenalty {
	return &processPenalty{now: now, peers: map[peer.ID]*decaying{}}
}

func (d *decaying) valueAt(t time.Time) float64 {
	v := d.v * math.Pow(invalidMessageDecay, t.Sub(d.at).Seconds())
	if v < decayToZero {
		return 0
	}
	return v
}

// add counts one invalid message from p.
func (pp *processPenalty) add(p peer.ID) {
	pp.mu.Lock()
	defer pp.mu.Unlock()
	now := pp.now()
	d, ok := pp.peers[p]
	if !ok {
		d = &decaying{}
		pp.peers[p] = d
	}
	d.v, d.at = min(d.valueAt(now)+1, maxInvalidCount), now
}

// score is p's penalty (zero or negative), GossipSub's AppSpecificScore.
func (pp *processPenalty) score(p peer.ID) float64 {
	pp.mu.Lock()
	d, ok := pp.peers[p]
	var v float64
	if ok {
		v = d.valueAt(pp.now())
	}
	pp.mu.Unlock()
	return invalidMessageWeight * v * v
}

// prune drops the counters that have decayed to zero.
func (pp *processPenalty) prune() {
	pp.mu.Lock()
	defer pp.mu.Unlock()
	now := pp.now()
	for p, d := range pp.peers {
		if d.valueAt(now) == 0 {
			delete(pp.peers, p)
		}
	}
}

// RejectMessage counts, on process topics, the rejections that are the
// forwarding peer's fault, as GossipSub's P4 does on the topics it scores:
// a failed validation and messages that break the signature policy. Ignored,
// throttled and queue-dropped messages are not counted.
func (pp *processPenalty) RejectMessage(msg *pubsub.Message, reason string) {
	if t := msg.GetTopic(); !strings.HasPrefix(t, processTopicPrefix) && t != TopicEvidence && !strings.HasPrefix(t, attestTopicPrefix) {
		return
	}
	switch reason {
	case pubsub.RejectValidationFailed, pubsub.RejectMissingSignature, pubsub.RejectInvalidSignature,
		pubsub.RejectUnexpectedSignature, pubsub.RejectUnexpectedAuthInfo, pubsub.RejectSelfOrigin:
		pp.add(msg.ReceivedFrom)
	}
}

func (pp *processPenalty) AddPeer(peer.ID, protocol.ID)                         {}
func (pp *processPenalty) RemovePeer(peer.ID)                                   {}
func (pp *processPenalty) Join(string)                                          {}
func (pp *processPenalty) Leave(string)                                         {}
func (pp *processPenalty) Graft(peer.ID, string)                                {}
func (pp *processPenalty) Prune(peer.ID, string)                                {}
func (pp *processPenalty) ValidateMessage(*pubsub.Message)                      {}
func (pp *processPenalty) DeliverMessage(*pubsub.Message)                       {}
func (pp *processPenalty) DuplicateMessage(*pubsub.Message)                     {}
func (pp *processPenalty) ThrottlePeer(peer.ID)                                 {}
func (pp *processPenalty) RecvRPC(*pubsub.RPC)                                  {}
func (pp *processPenalty) SendRPC(*pubsub.RPC, peer.ID)                         {}
func (pp *processPenalty) SendRPCCompleted(*pubsub.RPC, peer.ID, time.Duration) {}
func (pp *processPenalty) DropRPC(*pubsub.RPC, peer.ID)                         {}
func (pp *processPenalty) UndeliverableMessage(*pubsub.Message)                 {}
func (pp *processPenalty) OnNewOutboundStream(peer.ID, protocol.ID)             {}
func (pp *processPenalty) OnClosedOutboundStream(peer.ID)                       {}
