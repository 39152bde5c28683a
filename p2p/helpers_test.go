package p2p

import (
	"crypto/rand"
	"strconv"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/aonode/aonode/dataitem"
)

// No library goroutine needs ignoring: every one the hosts start ends with Close.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func ed25519Signer(t testing.TB) *dataitem.Ed25519Signer {
	t.Helper()
	s, err := dataitem.GenerateKey(dataitem.ED25519)
	if err != nil {
		t.Fatal(err)
	}
	return s.(*dataitem.Ed25519Signer)
}

func testIdentity(t testing.TB) *Identity {
	t.Helper()
	id, err := NewIdentity(ed25519Signer(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func sign(t testing.TB, s dataitem.Signer, tags []dataitem.Tag, data []byte) *dataitem.Item {
	t.Helper()
	anchor := make([]byte, 32)
	if _, err := rand.Read(anchor); err != nil {
		t.Fatal(err)
	}
	it, err := dataitem.Sign(s, dataitem.Fields{Anchor: anchor, Tags: tags, Data: data})
	if err != nil {
		t.Fatal(err)
	}
	return it
}

// newProcess is a process item naming schedulers.
func newProcess(t testing.TB, owner dataitem.Signer, schedulers ...string) *dataitem.Item {
	t.Helper()
	tags := []dataitem.Tag{
		{Name: "Data-Protocol", Value: "ao"},
		{Name: "Variant", Value: "ao.TN.1"},
		{Name: "Type", Value: "Process"},
		{Name: "Module", Value: dataitem.EncodeID(make([]byte, 32))},
	}
	for _, s := range schedulers {
		tags = append(tags, dataitem.Tag{Name: "Scheduler", Value: s})
	}
	return sign(t, owner, tags, []byte("process"))
}

func newMessage(t testing.TB, owner dataitem.Signer, pid string, data string) *dataitem.Item {
	t.Helper()
	return sign(t, owner, []dataitem.Tag{
		{Name: "Data-Protocol", Value: "ao"},
		{Name: "Variant", Value: "ao.TN.1"},
		{Name: "Type", Value: "Message"},
		{Name: "Action", Value: "Eval"},
	}, []byte(data))
}

// newAssignment is an assignment as the SU builds it; message "" is the
// process's own nonce-0 slot.
func newAssignment(t testing.TB, su dataitem.Signer, pid string, nonce uint64, message string, ts time.Time) *dataitem.Item {
	t.Helper()
	tags := []dataitem.Tag{
		{Name: "Process", Value: pid},
		{Name: "Epoch", Value: "0"},
		{Name: "Nonce", Value: strconv.FormatUint(nonce, 10)},
		{Name: "Hash-Chain", Value: dataitem.EncodeID(make([]byte, 32))},
		{Name: "Block-Height", Value: "000001500000"},
		{Name: "Timestamp", Value: strconv.FormatInt(ts.UnixMilli(), 10)},
		{Name: "Data-Protocol", Value: "ao"},
		{Name: "Type", Value: "Assignment"},
		{Name: "Variant", Value: "ao.TN.1"},
	}
	if message != "" {
		tags = append(tags, dataitem.Tag{Name: "Message", Value: message})
	}
	return sign(t, su, tags, nil)
}

// schedulerMap is an in-memory ProcessSchedulers.
type schedulerMap map[string][]string

func (m schedulerMap) ProcessSchedulers(pid string) ([]string, bool) {
	s, ok := m[pid]
	return s, ok
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
