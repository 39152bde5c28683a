package cu

import (
	"crypto/ed25519"
	"crypto/sha256"
	"sync"
	"testing"

	"github.com/aonode/aonode/dataitem"
	"github.com/aonode/aonode/dataitem/aoapi"
)

func otherSigner(name string) dataitem.Signer {
	seed := sha256.Sum256([]byte(name))
	return dataitem.NewEd25519Signer(ed25519.NewKeyFromSeed(seed[:]))
}

// signAs re-signs a with s, as another CU computing the same evaluation would.
func signAs(t *testing.T, s dataitem.Signer, a aoapi.Attestation) Attestation {
	t.Helper()
	f, err := aoapi.AttestationFields(a)
	if err != nil {
		t.Fatal(err)
	}
	it, err := dataitem.Sign(s, f)
	if err != nil {
		t.Fatal(err)
	}
	p, err := aoapi.ParseAttestation(it.Raw())
	if err != nil {
		t.Fatal(err)
	}
	return Attestation{Attestation: p, Raw: it.Raw()}
}

// TestAgreement feeds the CU other CUs' attestations of a slot, before and after it computes
// it: an agreeing one, a diverging one (counted), and a CU contradicting itself (evidence).
func TestAgreement(t *testing.T) {
	var mu sync.Mutex
	var published [][]byte
	var evidence []Evidence
	h := newHarness(t, func(c *Config) {
		c.OnAttest = func(_ string, raw []byte) {
			mu.Lock()
			published = append(published, raw)
			mu.Unlock()
		}
		c.OnEvidence = func(e Evidence) {
			mu.Lock()
			evidence = append(evidence, e)
			mu.Unlock()
		}
	})
	defer h.close()
	pid := h.su.addProcess(h.mod, false)
	ids := h.addMessages(pid, 2)
	wantStatus(t, h.get("/result/"+ids[0]+"?process-id="+pid), 200, "")
	raw, err := h.cu.db.EvalResultByMessage(pid, ids[0])
	if err != nil {
		t.Fatal(err)
	}
	own, err := aoapi.ParseAttestation(raw.Attestation)
	if err != nil {
		t.Fatal(err)
	}
	// B agrees, C's result differs; both arrive after the CU computed the slot.
	b := signAs(t, otherSigner("B"), own)
	wrong := own
	wrong.ResultSHA256 = make([]byte, 32)
	c := signAs(t, otherSigner("C"), wrong)
	h.cu.ReceiveAttestation(b)
	h.cu.ReceiveAttestation(c)
	if n := counterValue(t, h.cu.agree.divergences); n != 1 {
		t.Fatalf("%v divergences, want 1", n)
	}
	var ag aoapi.Agreement
	r := h.get("/agreement/" + pid + "?slot=1")
	wantStatus(t, r, 200, "")
	r.json(t, &ag)
	if ag.Agree || len(ag.Attestations) != 3 || ag.Attestations[0].CU != h.cu.Address() || ag.Message != ids[0] || ag.Slot != 1 {
		t.Fatalf("agreement %+v", ag)
	}
	// An attestation of a slot not computed yet is held, then compared once it is.
	next := own
	next.Slot, next.Message = 2, ids[1]
	early := signAs(t, otherSigner("C"), next)
	h.cu.ReceiveAttestation(early)
	wantStatus(t, h.get("/result/"+ids[1]+"?process-id="+pid), 200, "")
	if n := counterValue(t, h.cu.agree.divergences); n != 2 {
		t.Fatalf("%v divergences after slot 2, want 2 (C's early hash is another's)", n)
	}
	r = h.get("/agreement/" + pid + "?message=" + ids[1])
	wantStatus(t, r, 200, "")
	r.json(t, &ag)
	if ag.Agree || len(ag.Attestations) != 2 || ag.Slot != 2 {
		t.Fatalf("agreement by message %+v", ag)
	}
	// C attests slot 1 again, differently: evidence.
	c2 := signAs(t, otherSigner("C"), own)
	h.cu.ReceiveAttestation(c2)
	mu.Lock()
	if len(evidence) != 1 || evidence[0].Signer != c.Signer || string(evidence[0].First) != string(c.Raw) {
		t.Fatalf("evidence %+v", evidence)
	}
	if len(published) != 3 { // slot 0 (the process), 1 and 2
		t.Fatalf("%d attestations published", len(published))
	}
	mu.Unlock()
	wantStatus(t, h.get("/agreement/"+pid), 400, "")
	wantStatus(t, h.get("/agreement/"+pid+"?slot=99"), 404, "")
	wantStatus(t, h.get("/agreement/"+pid+"?slot=x"), 400, "")
}

// TestHeldAttestationsBounded: past MaxHeldAttestations evaluations, the oldest received is
// forgotten.
func TestHeldAttestationsBounded(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.MaxHeldAttestations = 2 })
	defer h.close()
	pid := h.su.addProcess(h.mod, false)
	base := aoapi.Attestation{Format: 2, Process: pid, Message: randID(), Timestamp: 1, ResultSHA256: make([]byte, 32), Memory: make([]byte, 32)}
	for slot := range uint64(3) {
		a := base
		a.Slot = 10 + slot
		h.cu.ReceiveAttestation(signAs(t, otherSigner("B"), a))
	}
	h.cu.agree.mu.Lock()
	n := len(h.cu.agree.held)
	_, oldest := h.cu.agree.held[aoapi.AttestationKey{Process: pid, Slot: 10}]
	h.cu.agree.mu.Unlock()
	if n != 2 || oldest {
		t.Fatalf("%d held, oldest kept %v", n, oldest)
	}
	wantStatus(t, h.get("/agreement/"+pid+"?slot=12"), 200, "")
	wantStatus(t, h.get("/agreement/"+pid+"?slot=10"), 404, "")
}
