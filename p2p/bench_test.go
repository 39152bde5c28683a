package p2p

import (
	"testing"
	"time"

	"github.com/aonode/aonode/dataitem"
	"github.com/aonode/aonode/su/evidence"
)

// BenchmarkValidateProcessPush is the per-hop cost of a process push: parse
// the bundle, verify both signatures, check tags and scheduler.
func BenchmarkValidateProcessPush(b *testing.B) {
	su, user := ed25519Signer(b), ed25519Signer(b)
	suAddr := dataitem.OwnerAddress(su.Owner())
	proc := newProcess(b, user, suAddr)
	pid := proc.ID()
	now := time.Now()
	msg := newMessage(b, user, pid, string(make([]byte, 1024)))
	data := EncodeAssignment(newAssignment(b, su, pid, 1, msg.ID(), now), msg)
	c := processChecker{schedulers: schedulerMap{pid: {suAddr}}, maxAge: time.Hour, maxSkew: time.Hour}
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := c.check(pid, data, now); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseRecord is the per-hop cost of a node record.
func BenchmarkParseRecord(b *testing.B) {
	id := testIdentity(b)
	now := time.Now()
	it, err := SignRecord(id, NodeInfo{Roles: []string{RoleSU, RoleCU}, URL: "http://127.0.0.1:8080", Version: "v1"}, nil, now, time.Minute)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseRecord(it.Raw(), now, testLimits); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkValidateProcessPushWitnessed is BenchmarkValidateProcessPush plus the equivocation
// check every accepted push goes through: the witness memory, and a look-up of the node's own
// slot (here one that finds nothing, as on a node that does not hold the process). Each
// iteration pushes a new slot, so the memory keeps filling and evicting.
func BenchmarkValidateProcessPushWitnessed(b *testing.B) {
	su, user := ed25519Signer(b), ed25519Signer(b)
	suAddr := dataitem.OwnerAddress(su.Owner())
	proc := newProcess(b, user, suAddr)
	pid := proc.ID()
	now := time.Now()
	msg := newMessage(b, user, pid, string(make([]byte, 1024)))
	const slots = 1024
	pushes := make([][]byte, slots)
	for i := range pushes {
		pushes[i] = EncodeAssignment(newAssignment(b, su, pid, uint64(i+1), msg.ID(), now), msg)
	}
	c := processChecker{schedulers: schedulerMap{pid: {suAddr}}, maxAge: time.Hour, maxSkew: time.Hour}
	w := evidence.NewWitness(witnessSlots/16, func(string, uint64) (*dataitem.Item, bool) { return nil, false })
	b.ReportAllocs()
	b.SetBytes(int64(len(pushes[0])))
	i := 0
	for b.Loop() {
		a, err := c.check(pid, pushes[i%slots], now)
		if err != nil {
			b.Fatal(err)
		}
		if e, err := w.Observe(a.Assignment); e != nil || err != nil {
			b.Fatal(e, err)
		}
		i++
	}
}
