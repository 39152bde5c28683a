package node

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/aonode/aonode/dataitem"
	"github.com/aonode/aonode/dataitem/aoapi"
	"github.com/aonode/aonode/store"
	"github.com/aonode/aonode/su/evidence"
	et "github.com/aonode/aonode/su/evidence/evidencetest"
)

// evidenceOf reads GET /su/evidence of n.
func evidenceOf(t *testing.T, n *Node) []aoapi.Evidence {
	t.Helper()
	r := newClient(t, n.URL(), nil).do("GET", "/su/evidence", "", nil)
	if r.code != http.StatusOK {
		t.Fatalf("GET /su/evidence: %d %s", r.code, r.body)
	}
	var out []aoapi.Evidence
	r.json(t, &out)
	return out
}

// TestEquivocationEvidenceServed: an SU schedules a process; another node pushes a second,
// different assignment of the same slot signed with the SU's key (a leaked key, or a
// scheduler equivocating through a relay). The SU finds it against its store, keeps it, and
// gossips it; both nodes serve it at GET /su/evidence, and what they serve verifies with
// nothing else.
func TestEquivocationEvidenceServed(t *testing.T) {
	b := p2pNode(t, 31, []string{RoleSU})
	c := p2pNode(t, 32, []string{RoleCU}, b)
	if got := evidenceOf(t, b); len(got) != 0 {
		t.Fatalf("evidence before any: %v", got)
	}
	suKey := seedSigner(31)
	proc := et.Process(t, seedSigner(33), et.Address(suKey))
	if r := newClient(t, b.URL(), nil).do("POST", "/su/", "application/octet-stream", proc.Raw()); r.code != http.StatusOK {
		t.Fatalf("POST process: %d %s", r.code, r.body)
	}
	pid := proc.ID()
	// The SU's host follows the topic, as a member of a scheduler set does.
	sub, err := b.Host().SubscribeProcess(pid)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	waitFor(t, "C to see B on the process topic", 20*time.Second, func() string {
		if _, err := c.Host().SubscribeProcess(pid); err != nil {
			return err.Error()
		}
		for _, p := range c.Host().ProcessPeers(pid) {
			if p == b.Host().ID() {
				return ""
			}
		}
		return "not yet"
	})
	forged := et.Assignment(t, suKey, pid, 0, "", time.Now().UnixMilli())
	if err := c.Host().PublishAssignment(context.Background(), forged, proc); err != nil {
		t.Fatal(err)
	}
	for name, n := range map[string]*Node{"SU": b, "CU": c} {
		var got []aoapi.Evidence
		waitFor(t, name+" to serve the evidence", 20*time.Second, func() string {
			got = evidenceOf(t, n)
			return unless(len(got) == 1, "%d records", len(got))
		})
		raw, _ := json.Marshal(got[0])
		e, err := evidence.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		if err := e.Verify(nil); err != nil {
			t.Fatalf("%s serves evidence that does not verify: %v", name, err)
		}
		if e.Process() != pid || e.Nonce() != 0 {
			t.Fatalf("%s: evidence of %s nonce %d", name, e.Process(), e.Nonce())
		}
		ids := []string{e.Assignments()[0].ID(), e.Assignments()[1].ID()}
		if ids[0] != forged.ID() && ids[1] != forged.ID() {
			t.Fatalf("%s: evidence without the forged assignment: %v", name, ids)
		}
	}
	if r := newClient(t, b.URL(), nil).do("GET", "/su/evidence?limit=0", "", nil); r.code != http.StatusBadRequest || !contains(r.body, "limit") {
		t.Fatalf("bad limit: %d %s", r.code, r.body)
	}
}

// TestConflictSinkProves: a report of two assignments for one slot (ids, or items) becomes stored,
// verifiable evidence when the node holds both items and the process; a report of a pair
// signed by a non-member is not.
func TestConflictSinkProves(t *testing.T) {
	db, err := store.Open(store.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	a, b, outsider := et.Key(t), et.Key(t), et.Key(t)
	proc := et.Process(t, et.Key(t), et.Address(a), et.Address(b))
	x := et.Assignment(t, a, proc.ID(), 3, et.MessageID(), 1)
	y := et.Assignment(t, b, proc.ID(), 3, et.MessageID(), 2)
	z := et.Assignment(t, outsider, proc.ID(), 3, et.MessageID(), 2)
	batch := db.NewBatch()
	for _, it := range []*dataitem.Item{proc, x, y, z} {
		batch.PutItem(it.ID(), it.Raw())
	}
	if err := db.Commit(context.Background(), batch); err != nil {
		t.Fatal(err)
	}
	s := newConflictSink(db, nil, slog.New(slog.DiscardHandler))
	s.AssignmentConflict(proc.ID(), 3, [2]string{x.ID(), z.ID()})
	s.AssignmentPair(y, z)
	s.AssignmentConflict(proc.ID(), 3, [2]string{x.ID(), y.ID()})
	var stored [][]byte
	waitFor(t, "the evidence stored", 10*time.Second, func() string {
		stored = nil
		_ = db.Evidence(func(v []byte) bool { stored = append(stored, append([]byte(nil), v...)); return true })
		return unless(len(stored) == 1, "%d records", len(stored))
	})
	s.close()
	e, err := evidence.Parse(stored[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Verify(nil); err != nil {
		t.Fatal(err)
	}
	if sg := e.Signers(); !(sg[0] == et.Address(a) || sg[1] == et.Address(a)) || !(sg[0] == et.Address(b) || sg[1] == et.Address(b)) {
		t.Fatalf("signers %v", sg)
	}
}
