package consensus

import (
	"fmt"
	"testing"
	"time"

	"github.com/aonode/aonode/su"
)

func memCluster(t testing.TB, n int, opts func(*Options)) (*cluster, *MemNet) {
	net := NewMemNet()
	ms := newMembers(t, n)
	c := newCluster(t, ms, func(i int) Network { return net.Node(ms[i].addr) }, opts)
	return c, net
}

func TestClusterBasic(t *testing.T) {
	c, _ := memCluster(t, 3, nil)
	owner := newKey(t)
	pid := c.spawn(0, owner)
	for i := 0; i < 30; i++ {
		msg := messageItem(t, owner, pid, fmt.Sprint("hello ", i))
		res, err := c.schedule(i%3, su.Request{Process: pid, Item: msg}, 10*time.Second)
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if res.Slot.Nonce != uint64(i+1) {
			t.Fatalf("message %d got nonce %d", i, res.Slot.Nonce)
		}
		// A retry returns the same slot.
		again, err := c.schedule((i+1)%3, su.Request{Process: pid, Item: msg}, 10*time.Second)
		if err != nil || again.Slot != res.Slot {
			t.Fatalf("retry of message %d: %+v, %v (first %+v)", i, again.Slot, err, res.Slot)
		}
	}
	c.converge(pid, 31, 10*time.Second)
}

// TestSnapshotCatchUp: a member that was down while the log was compacted past its last entry
// is caught up with a snapshot streamed from the leader's store.
func TestSnapshotCatchUp(t *testing.T) {
	c, _ := memCluster(t, 3, func(o *Options) {
		o.SnapshotThreshold = 8
		o.TrailingLogs = 2
		o.SnapshotInterval = time.Hour // snapshots are taken by hand below
	})
	owner := newKey(t)
	pid := c.spawn(0, owner)
	l := c.leader(c.set, 10*time.Second)
	down := (l + 1) % 3
	c.stop(down)
	for i := range 40 {
		msg := messageItem(t, owner, pid, fmt.Sprint("while down ", i))
		if _, err := c.schedule(l, su.Request{Process: pid, Item: msg}, 10*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	g := c.members[l].m.groups[GroupID(c.set)]
	if err := g.raft.Snapshot().Error(); err != nil {
		t.Fatal(err)
	}
	rs, _ := c.members[l].db.RaftStore(GroupID(c.set))
	if first, _ := rs.FirstIndex(); first <= 2 {
		t.Fatalf("log not compacted: first index %d", first)
	}
	c.start(down)
	c.converge(pid, 41, 20*time.Second)
	// The caught-up member takes part again: with the other follower down, it completes a
	// majority.
	c.stop((l + 2) % 3)
	msg := messageItem(t, owner, pid, "after catch-up")
	if res, err := c.schedule(l, su.Request{Process: pid, Item: msg}, 10*time.Second); err != nil || res.Slot.Nonce != 41 {
		t.Fatalf("after catch-up: %+v, %v", res.Slot, err)
	}
}
