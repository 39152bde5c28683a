package cu

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/aonode/aonode/cu/module"
	"github.com/aonode/aonode/dataitem"
)

// memSource serves a schedule built in the test; slots can be replaced to play a fork.
type memSource struct {
	mu    sync.Mutex
	def   ProcessDef
	slots []Scheduled
}

func (m *memSource) Process(_ context.Context, pid string) (ProcessDef, error) {
	if pid != m.def.ID {
		return ProcessDef{}, errorf(ErrNotFound, "no process %s", pid)
	}
	return m.def, nil
}

func (m *memSource) Scheduled(_ context.Context, pid string, after int64, fn func(Scheduled) bool) error {
	m.mu.Lock()
	slots := append([]Scheduled(nil), m.slots...)
	m.mu.Unlock()
	for _, s := range slots {
		if int64(s.Nonce) > after && !fn(s) {
			return nil
		}
	}
	return nil
}

func (m *memSource) Slot(_ context.Context, pid, id string) (Scheduled, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, s := range m.slots {
		if s.MessageID == id {
			return s, nil
		}
	}
	return Scheduled{}, errorf(ErrNotFound, "no message %s", id)
}

func (m *memSource) Latest(context.Context, string) (Scheduled, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.slots[len(m.slots)-1], nil
}

func (m *memSource) Timestamp(context.Context, string) (int64, uint64, error) {
	return 1_700_000_100_000, 1_500_000, nil
}

// chain is the Hash-Chain that follows prev (the process's first slot when prev is nil).
func chain(pid string, prev *Scheduled) string {
	var sum [32]byte
	if prev == nil {
		p, _ := base64.RawURLEncoding.DecodeString(pid)
		sum = sha256.Sum256(p)
	} else {
		a, _ := base64.RawURLEncoding.DecodeString(prev.AssignmentID)
		c, _ := base64.RawURLEncoding.DecodeString(prev.HashChain)
		sum = sha256.Sum256(append(a, c...))
	}
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// schedule builds slots 0..len(signers)-1 of pid, slot i signed by signers[i], chained.
func schedule(pid string, signers ...string) []Scheduled {
	var out []Scheduled
	for i, signer := range signers {
		s := Scheduled{
			Process: pid, AssignmentID: randID(), MessageID: randID(), Nonce: uint64(i),
			Timestamp: 1_700_000_000_000 + int64(i), BlockHeight: 1_500_000, Signer: signer,
			Message: &SourceMessage{Owner: Owner{Address: "user"}, Tags: []Tag{{Name: "Type", Value: "Message"}}},
		}
		if i == 0 {
			s.MessageID = pid
			s.Message.Tags = []Tag{{Name: "Type", Value: "Process"}}
		}
		var prev *Scheduled
		if i > 0 {
			prev = &out[i-1]
		}
		s.HashChain = chain(pid, prev)
		s.Message.ID = s.MessageID
		out = append(out, s)
	}
	return out
}

type conflicts struct {
	mu  sync.Mutex
	got [][2]string
}

func (c *conflicts) AssignmentConflict(pid string, nonce uint64, ids [2]string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.got = append(c.got, ids)
}

func newSetCU(t *testing.T, src *memSource, sink ConflictSink) *CU {
	t.Helper()
	db := openStore(t, "")
	t.Cleanup(func() { _ = db.Close() })
	gw := newFakeGateway(t)
	mod := gw.addModule([]byte("fake wasm"), moduleTags(string(fakeFormat),
		Tag{Name: "Memory-Limit", Value: "1-mb"}, Tag{Name: "Compute-Limit", Value: "1"}))
	src.def.Tags = append(src.def.Tags, Tag{Name: "Module", Value: mod})
	g, _ := NewGateway(gw.srv.URL, nil, 0)
	c, err := New(Config{
		Store: db, Signer: testSigner(), Source: src, Gateway: g, Conflicts: sink,
		Runtimes: map[module.Format]Runtime{fakeFormat: &fakeRuntime{}}, Registerer: prometheus.NewRegistry(), Logger: quietLogger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func addr(seed string) string {
	k := sha256.Sum256([]byte(seed))
	return dataitem.OwnerAddress(k[:])
}

// TestSchedulerSetSigners: a process names two schedulers; its slots, signed by one member,
// then the other (a change of leader), then the first again, evaluate with the hash chain
// checked across the changes. A slot signed by a non-member is refused.
func TestSchedulerSetSigners(t *testing.T) {
	a, b, outsider := addr("a"), addr("b"), addr("outsider")
	pid := randID()
	src := &memSource{def: ProcessDef{ID: pid, Owner: Owner{Address: "owner"}, BlockHeight: 1_500_000,
		Tags: []Tag{{Name: "Data-Protocol", Value: "ao"}, {Name: "Type", Value: "Process"}, {Name: "Scheduler", Value: b}, {Name: "Scheduler", Value: a}}}}
	src.slots = schedule(pid, a, a, b, b, a)
	c := newSetCU(t, src, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rec, err := c.Result(ctx, pid, src.slots[4].MessageID)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Nonce != 4 || rec.AssignmentID != src.slots[4].AssignmentID {
		t.Fatalf("last result: slot %d assignment %s", rec.Nonce, rec.AssignmentID)
	}

	pid2 := randID()
	src2 := &memSource{def: ProcessDef{ID: pid2, Owner: Owner{Address: "owner"}, BlockHeight: 1_500_000,
		Tags: []Tag{{Name: "Data-Protocol", Value: "ao"}, {Name: "Type", Value: "Process"}, {Name: "Scheduler", Value: a}, {Name: "Scheduler", Value: b}}}}
	src2.slots = schedule(pid2, a, b, outsider)
	c2 := newSetCU(t, src2, nil)
	if _, err := c2.Result(ctx, pid2, src2.slots[2].MessageID); !errors.Is(err, ErrWrongScheduler) {
		t.Fatalf("slot of a non-member: %v", err)
	}
	if rec, err := c2.db.LastEvalResult(pid2); err != nil || rec.Nonce != 1 {
		t.Fatalf("evaluated up to %d (%v), want the members' slots only", rec.Nonce, err)
	}
	if statusOf(errorf(ErrWrongScheduler, "x")) != 422 {
		t.Fatal("a non-member's slot is not a 422")
	}
}

// TestForkReported: the CU evaluates slot 1 from one member; the source then serves a fork (a
// different slot 1, and a slot 2 chained to it). The broken chain is refused, and the two
// assignments of slot 1 are reported as a conflict.
func TestForkReported(t *testing.T) {
	a, b := addr("a"), addr("b")
	pid := randID()
	src := &memSource{def: ProcessDef{ID: pid, Owner: Owner{Address: "owner"}, BlockHeight: 1_500_000,
		Tags: []Tag{{Name: "Data-Protocol", Value: "ao"}, {Name: "Type", Value: "Process"}, {Name: "Scheduler", Value: a}, {Name: "Scheduler", Value: b}}}}
	src.slots = schedule(pid, a, a)
	sink := &conflicts{}
	c := newSetCU(t, src, sink)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.Result(ctx, pid, src.slots[1].MessageID); err != nil {
		t.Fatal(err)
	}
	ours := src.slots[1].AssignmentID
	fork := schedule(pid, a, b, b)
	fork[0] = src.slots[0]
	fork[1].HashChain = chain(pid, &fork[0])
	fork[2].HashChain = chain(pid, &fork[1])
	src.mu.Lock()
	src.slots = fork
	src.mu.Unlock()
	if _, err := c.Result(ctx, pid, fork[2].MessageID); !errors.Is(err, ErrHashChain) {
		t.Fatalf("slot chained to the fork: %v", err)
	}
	sink.mu.Lock()
	defer sink.mu.Unlock()
	if len(sink.got) == 0 || sink.got[0] != [2]string{ours, fork[1].AssignmentID} {
		t.Fatalf("conflicts reported: %v", sink.got)
	}
}
