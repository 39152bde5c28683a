package p2p

import (
	"bytes"
	"context"
	"crypto/sha256"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/aonode/aonode/dataitem"
	"github.com/aonode/aonode/dataitem/aoapi"
)

// signedAttestation is an attestation of slot of pid signed by s.
func signedAttestation(t testing.TB, s dataitem.Signer, pid string, slot uint64, result string) []byte {
	t.Helper()
	rs, ms := sha256.Sum256([]byte(result)), sha256.Sum256([]byte("memory"))
	f, err := aoapi.AttestationFields(aoapi.Attestation{
		Format: 2, Process: pid, Slot: slot, Message: dataitem.EncodeID(make([]byte, 32)),
		Timestamp: 1, BlockHeight: 1, ResultSHA256: rs[:], Memory: ms[:],
	})
	if err != nil {
		t.Fatal(err)
	}
	it, err := dataitem.Sign(s, f)
	if err != nil {
		t.Fatal(err)
	}
	return it.Raw()
}

// TestAttestationGossip: a CU's attestation reaches another CU; forged ones (bad signature,
// a signer whose record announces no cu role, another process than the topic's) are
// rejected, never delivered, and lower the sender's score. Evidence of a CU contradicting
// itself is gossiped and verified.
func TestAttestationGossip(t *testing.T) {
	nodes := startNodes(t, testConfig(), []NodeInfo{
		{Roles: []string{RoleCU}, URL: "http://127.0.0.1:1"},
		{Roles: []string{RoleCU}, URL: "http://127.0.0.1:2"},
		{Roles: []string{RoleMU}, URL: "http://127.0.0.1:3"},
	}, nil)
	honest, victim, mu := nodes[0], nodes[1], nodes[2]
	pid := dataitem.EncodeID(bytes.Repeat([]byte{7}, 32))
	other := dataitem.EncodeID(bytes.Repeat([]byte{8}, 32))
	waitFor(t, 20*time.Second, "the victim to know the honest CU and the MU", func() bool {
		_, cu := victim.Directory().AddressRoles(honest.id.Address, RoleCU)
		known, _ := victim.Directory().AddressRoles(mu.id.Address, RoleCU)
		return cu && known
	})
	sub, err := victim.SubscribeAttestations(pid)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	hsub, err := honest.SubscribeAttestations(pid)
	if err != nil {
		t.Fatal(err)
	}
	defer hsub.Close()

	evilID := testIdentity(t)
	evil := newRawGossip(t, evilID)
	if err := evil.h.Connect(context.Background(), peer.AddrInfo{ID: victim.ID(), Addrs: victim.Libp2p().Addrs()}); err != nil {
		t.Fatal(err)
	}
	topic, err := evil.ps.Join(AttestTopic(pid))
	if err != nil {
		t.Fatal(err)
	}
	esub, err := topic.Subscribe()
	if err != nil {
		t.Fatal(err)
	}
	defer esub.Cancel()
	waitFor(t, 10*time.Second, "the victim to see the evil peer on the topic", func() bool {
		return containsPeer(victim.ps.ListPeers(AttestTopic(pid)), evilID.PeerID) && containsPeer(evil.ps.ListPeers(AttestTopic(pid)), victim.ID())
	})
	badSig := signedAttestation(t, honest.id.Signer, pid, 1, "r")
	badSig[len(badSig)-1] ^= 1
	notCU := signedAttestation(t, mu.id.Signer, pid, 1, "r")
	wrongProcess := signedAttestation(t, honest.id.Signer, other, 1, "r")
	ctx := context.Background()
	for _, data := range [][]byte{badSig, notCU, wrongProcess} {
		if err := topic.Publish(ctx, data); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 10*time.Second, "the victim to reject the three attestations", func() bool {
		return counterValue(victim.metrics.validated.WithLabelValues("attest", "reject")) == 3
	})
	waitFor(t, 10*time.Second, "the evil peer's score to drop", func() bool {
		s, ok := victim.PeerScore(evilID.PeerID)
		return ok && s < gossipThreshold
	})
	good := signedAttestation(t, honest.id.Signer, pid, 1, "r")
	waitFor(t, 10*time.Second, "the honest CU on the victim's topic", func() bool {
		return containsPeer(honest.ps.ListPeers(AttestTopic(pid)), victim.ID())
	})
	if err := honest.PublishAttestation(ctx, good); err != nil {
		t.Fatal(err)
	}
	select {
	case a := <-sub.Attestations():
		if !bytes.Equal(a.Raw, good) || a.Signer != honest.id.Address || a.Slot != 1 {
			t.Fatalf("delivered %+v", a.Attestation)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the honest attestation was not delivered")
	}
	select {
	case a := <-sub.Attestations():
		t.Fatalf("extra delivery %+v", a.Attestation)
	default:
	}
	if s, ok := victim.PeerScore(honest.ID()); !ok || s < 0 {
		t.Fatalf("honest peer's score %v (%v)", s, ok)
	}

	// Evidence: the honest CU's key signs slot 1 twice, differently.
	got := make(chan *AttestEvidence, 1)
	victim.OnAttestEvidence(func(ev *AttestEvidence) {
		select {
		case got <- ev:
		default:
		}
	})
	if _, err := ParseAttestEvidence(mustEvidence(t, good, good)); err == nil {
		t.Fatal("two equal attestations accepted as evidence")
	}
	second := signedAttestation(t, honest.id.Signer, pid, 1, "another result")
	waitFor(t, 10*time.Second, "the victim on the evidence topic", func() bool {
		return containsPeer(honest.ps.ListPeers(TopicEvidence), victim.ID())
	})
	if err := honest.PublishAttestEvidence(ctx, good, second); err != nil {
		t.Fatal(err)
	}
	select {
	case ev := <-got:
		if ev.First.Signer != honest.id.Address || ev.Second.Slot != 1 {
			t.Fatalf("evidence %+v", ev)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("evidence not delivered")
	}
}

func mustEvidence(t *testing.T, a, b []byte) []byte {
	t.Helper()
	d, err := EncodeAttestEvidence(a, b)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// FuzzParseAttestEvidence: no payload panics; accepted evidence is two disagreeing
// attestations by one signer of one evaluation.
func FuzzParseAttestEvidence(f *testing.F) {
	s := ed25519Signer(f)
	pid := dataitem.EncodeID(bytes.Repeat([]byte{7}, 32))
	a, b := signedAttestation(f, s, pid, 1, "x"), signedAttestation(f, s, pid, 1, "y")
	ev, err := EncodeAttestEvidence(a, b)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(ev)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := ParseAttestEvidence(data)
		if err != nil {
			return
		}
		if e.First.Signer != e.Second.Signer || e.First.Key() != e.Second.Key() || e.First.Agrees(e.Second) {
			t.Fatalf("accepted %+v", e)
		}
	})
}
