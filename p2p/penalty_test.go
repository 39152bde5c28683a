package p2p

import (
	"math"
	"testing"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/peer"
)

func TestProcessPenalty(t *testing.T) {
	now := time.Unix(1000, 0)
	pp := newProcessPenalty(func() time.Time { return now })
	a, b := peer.ID("a"), peer.ID("b")
	msg := func(topic string, from peer.ID) *pubsub.Message {
		return &pubsub.Message{Message: &pb.Message{Topic: &topic}, ReceivedFrom: from}
	}
	proc := ProcessTopic("pid")
	// Only the sender's faults on process topics count.
	for _, reason := range []string{pubsub.RejectValidationIgnored, pubsub.RejectValidationThrottled, pubsub.RejectValidationQueueFull, pubsub.RejectBlacklstedPeer} {
		pp.RejectMessage(msg(proc, a), reason)
	}
	pp.RejectMessage(msg(TopicNodes, a), pubsub.RejectValidationFailed) // GossipSub scores that topic itself
	if s := pp.score(a); s != 0 {
		t.Fatalf("score after ignorable rejections %v", s)
	}
	pp.RejectMessage(msg(proc, a), pubsub.RejectValidationFailed)
	if s := pp.score(a); s != invalidMessageWeight {
		t.Fatalf("one invalid message: %v, want %v", s, float64(invalidMessageWeight))
	}
	pp.RejectMessage(msg(proc, a), pubsub.RejectUnexpectedSignature)
	if s := pp.score(a); s != 4*invalidMessageWeight || s > publishThreshold {
		t.Fatalf("two invalid messages: %v, want %v (below the publish threshold %v)", s, 4*invalidMessageWeight, float64(publishThreshold))
	}
	if s := pp.score(b); s != 0 {
		t.Fatalf("other peer %v", s)
	}
	// The count decays by 0.99 a second, as GossipSub's P4 does.
	now = now.Add(100 * time.Second)
	v := 2 * math.Pow(invalidMessageDecay, 100)
	if s, want := pp.score(a), invalidMessageWeight*v*v; math.Abs(s-want) > 1e-9 {
		t.Fatalf("after 100 s: %v, want %v", s, want)
	}
	pp.prune()
	if len(pp.peers) != 1 {
		t.Fatal("pruned a live counter")
	}
	// Below decayToZero it is zero and pruned.
	now = now.Add(time.Hour)
	if s := pp.score(a); s != 0 {
		t.Fatalf("after an hour: %v", s)
	}
	pp.prune()
	if len(pp.peers) != 0 {
		t.Fatal("decayed counter kept")
	}
	// The count is capped.
	for range 2 * maxInvalidCount {
		pp.add(b)
	}
	if s := pp.score(b); s != invalidMessageWeight*maxInvalidCount*maxInvalidCount {
		t.Fatalf("capped score %v", s)
	}
}
