package p2p

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/aonode/aonode/dataitem"
	"github.com/aonode/aonode/dataitem/aoapi"
	"github.com/aonode/aonode/su/evidence"
)

// memEvidence is an in-memory EvidenceSink.
type memEvidence struct {
	mu      sync.Mutex
	process *dataitem.Item
	kept    map[[32]byte]*evidence.Evidence
}

func newMemEvidence(process *dataitem.Item) *memEvidence {
	return &memEvidence{process: process, kept: map[[32]byte]*evidence.Evidence{}}
}

func (m *memEvidence) Assignment(string, uint64) (*dataitem.Item, bool) { return nil, false }

func (m *memEvidence) ProcessItem(pid string) (*dataitem.Item, bool) {
	return m.process, m.process != nil && pid == m.process.ID()
}

func (m *memEvidence) AddEvidence(e *evidence.Evidence) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, had := m.kept[e.Key()]
	m.kept[e.Key()] = e
	return !had, nil
}

func (m *memEvidence) get(k [32]byte) *evidence.Evidence {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.kept[k]
}

func (m *memEvidence) len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.kept)
}

// TestEquivocationBecomesEvidence: a scheduler of a two-member set signs two assignments for
// one slot; one reaches the followers through a relay, the other from the scheduler's own
// node. Every follower turns the second into evidence (not a delivery), keeps it with the
// process item, penalises the equivocating node, and the evidence verifies offline.
func TestEquivocationBecomesEvidence(t *testing.T) {
	eq := testIdentity(t)
	other := testIdentity(t)
	user := ed25519Signer(t)
	proc := newProcess(t, user, other.Address, eq.Address)
	pid := proc.ID()
	known := schedulerMap{pid: aoapi.Schedulers(proc.Tags)}
	sinks := []*memEvidence{newMemEvidence(proc), newMemEvidence(proc), newMemEvidence(proc)}
	nodes := startNodes(t, testConfig(), []NodeInfo{{Roles: []string{RoleSU}, URL: "http://127.0.0.1:1"}, {Roles: []string{RoleCU}}, {Roles: []string{RoleCU}}},
		func(i int, d *Deps) {
			if i == 0 {
				d.Identity = eq
			}
			d.Schedulers = known
			d.Evidence = sinks[i]
		})
	for i, n := range nodes {
		waitFor(t, 15*time.Second, "directories", func() bool { _, ok := n.Directory().Scheduler(eq.Address); return ok || i == 0 })
	}
	subs := make([]*ProcessSubscription, 0, 2)
	for _, n := range nodes[1:] {
		s, err := n.SubscribeProcess(pid)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		subs = append(subs, s)
	}
	if err := nodes[2].Connect(context.Background(), peer.AddrInfo{ID: nodes[1].ID(), Addrs: nodes[1].Libp2p().Addrs()}); err != nil {
		t.Fatal(err)
	}
	relay := newRawGossip(t, testIdentity(t))
	if err := relay.h.Connect(context.Background(), peer.AddrInfo{ID: nodes[1].ID(), Addrs: nodes[1].Libp2p().Addrs()}); err != nil {
		t.Fatal(err)
	}
	topic, err := relay.ps.Join(ProcessTopic(pid))
	if err != nil {
		t.Fatal(err)
	}
	rsub, err := topic.Subscribe()
	if err != nil {
		t.Fatal(err)
	}
	defer rsub.Cancel()
	waitFor(t, 10*time.Second, "the relay in the topic", func() bool {
		return containsPeer(nodes[1].ps.ListPeers(ProcessTopic(pid)), relay.h.ID()) && containsPeer(relay.ps.ListPeers(ProcessTopic(pid)), nodes[1].ID()) &&
			containsPeer(nodes[1].ps.ListPeers(ProcessTopic(pid)), nodes[2].ID())
	})

	now := time.Now()
	ctx := context.Background()
	m1, m2 := newMessage(t, user, pid, "one"), newMessage(t, user, pid, "two")
	first := newAssignment(t, eq.Signer, pid, 1, m1.ID(), now)
	second := newAssignment(t, eq.Signer, pid, 1, m2.ID(), now)
	if err := topic.Publish(ctx, EncodeAssignment(first, m1)); err != nil {
		t.Fatal(err)
	}
	for i, s := range subs {
		select {
		case a := <-s.Assignments():
			if a.Assignment.ID() != first.ID() {
				t.Fatalf("follower %d got %s first", i+1, a.Assignment.ID())
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("follower %d: first push not delivered", i+1)
		}
	}
	// The scheduler's node has not subscribed, so it never saw the first: it publishes the
	// second as its own.
	if err := nodes[0].PublishAssignment(ctx, second, m2); err != nil {
		t.Fatal(err)
	}
	want, err := evidence.New(first, second)
	if err != nil {
		t.Fatal(err)
	}
	for i, n := range nodes[1:] {
		sink := sinks[i+1]
		waitFor(t, 10*time.Second, "evidence kept", func() bool { return sink.get(want.Key()) != nil })
		e := sink.get(want.Key())
		// Offline: the kept evidence, encoded, verifies with nothing but itself.
		back, err := evidence.Parse(e.Marshal())
		if err != nil {
			t.Fatal(err)
		}
		if err := back.Verify(nil); err != nil {
			t.Fatalf("follower %d's evidence does not verify: %v", i+1, err)
		}
		waitFor(t, 10*time.Second, "the equivocator penalised", func() bool { return n.penalty.score(nodes[0].ID()) < 0 })
	}
	// The second push was not delivered as a slot.
	for i, s := range subs {
		select {
		case a := <-s.Assignments():
			t.Fatalf("follower %d: conflicting push delivered: %s", i+1, a.Assignment.ID())
		case <-time.After(200 * time.Millisecond):
		}
	}
	if sinks[1].len() != 1 || sinks[2].len() != 1 {
		t.Fatalf("evidence kept %d and %d times", sinks[1].len(), sinks[2].len())
	}
}

// TestForgedEvidenceRefused: evidence whose signer is not a scheduler, or whose bytes were
// edited, is rejected, not kept, and costs the peer that sent it.
func TestForgedEvidenceRefused(t *testing.T) {
	su := testIdentity(t)
	user := ed25519Signer(t)
	proc := newProcess(t, user, su.Address)
	pid := proc.ID()
	sink := newMemEvidence(proc)
	nodes := startNodes(t, testConfig(), []NodeInfo{{Roles: []string{RoleCU}}}, func(_ int, d *Deps) {
		d.Schedulers = schedulerMap{pid: {su.Address}}
		d.Evidence = sink
	})
	victim := nodes[0]
	evilID := testIdentity(t)
	evil := newRawGossip(t, evilID)
	if err := evil.h.Connect(context.Background(), peer.AddrInfo{ID: victim.ID(), Addrs: victim.Libp2p().Addrs()}); err != nil {
		t.Fatal(err)
	}
	topic, err := evil.ps.Join(TopicEvidence)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the evil peer on the evidence topic", func() bool {
		return containsPeer(evil.ps.ListPeers(TopicEvidence), victim.ID())
	})
	now := time.Now()
	stranger := ed25519Signer(t)
	byStranger, err := evidence.New(newAssignment(t, stranger, pid, 1, newMessage(t, user, pid, "a").ID(), now),
		newAssignment(t, stranger, pid, 1, newMessage(t, user, pid, "b").ID(), now))
	if err != nil {
		t.Fatal(err)
	}
	real, err := evidence.New(newAssignment(t, su.Signer, pid, 1, newMessage(t, user, pid, "a").ID(), now),
		newAssignment(t, su.Signer, pid, 1, newMessage(t, user, pid, "b").ID(), now))
	if err != nil {
		t.Fatal(err)
	}
	// Real evidence is accepted (sent first: after the forgeries the peer is graylisted).
	if err := topic.Publish(context.Background(), real.Marshal()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "real evidence kept", func() bool { return sink.get(real.Key()) != nil })
	edited := real.API()
	edited.Nonce = 2
	editedJSON, _ := json.Marshal(edited)
	for _, data := range [][]byte{byStranger.Marshal(), byStranger.WithProcess(proc).Marshal(), editedJSON, []byte("not json")} {
		if err := topic.Publish(context.Background(), data); err != nil {
			t.Fatal(err)
		}
	}
	// Each forgery the victim validates is rejected; once the sender's score falls far enough
	// GossipSub may graylist it and drop the rest unvalidated, which keeps them out too. So
	// at least one rejection, then time for the others, and none of them kept.
	rejected := func() float64 { return counterValue(victim.metrics.validated.WithLabelValues("evidence", "reject")) }
	waitFor(t, 30*time.Second, "a rejection", func() bool { return rejected() >= 1 })
	deadline := time.Now().Add(5 * time.Second)
	for rejected() < 4 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if r := rejected(); r > 4 {
		t.Fatalf("%v rejections for four forgeries", r)
	}
	if sink.len() != 1 {
		t.Fatal("forged evidence kept")
	}
	if p := victim.penalty.score(evilID.PeerID); p >= 0 {
		t.Fatalf("the sender of forged evidence is not penalised: %v", p)
	}
}
