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
