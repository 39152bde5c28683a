package p2p

import (
	"testing"
	"time"

	"github.com/aonode/aonode/dataitem"
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
