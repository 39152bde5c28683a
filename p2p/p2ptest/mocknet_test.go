package p2ptest

import (
	"context"
	"strconv"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/aonode/aonode/dataitem"
	"github.com/aonode/aonode/p2p"
)

// mocknet's per-stream delivery goroutine sometimes outlives the closed
// mocknet by a moment (it ends on its own once the stream's reset is seen);
// it is the library's, not a Host's.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/libp2p/go-libp2p/p2p/net/mock.(*stream).transport"))
}

type schedulers map[string][]string

func (s schedulers) ProcessSchedulers(pid string) ([]string, bool) {
	v, ok := s[pid]
	return v, ok
}

func TestGossipReachesEveryHost(t *testing.T) {
	for _, loopback := range []bool{false, true} {
		name := "mocknet"
		if loopback {
			name = "loopback"
		}
		t.Run(name, func(t *testing.T) {
			cfg := p2p.DefaultConfig()
			cfg.Gossip.HeartbeatInterval = 50 * time.Millisecond
			known := schedulers{}
			net, err := New(8, cfg, Options{Degree: 2, Loopback: loopback, Seed: 7}, func(i int, d *p2p.Deps) {
				d.Info = p2p.NodeInfo{Roles: []string{p2p.RoleCU}}
				d.Schedulers = known
			})
			if err != nil {
				t.Fatal(err)
			}
			defer func() {
				if err := net.Close(); err != nil {
					t.Error(err)
				}
			}()
			user, err := dataitem.GenerateKey(dataitem.ED25519)
			if err != nil {
				t.Fatal(err)
			}
			su := net.Identities[3]
			proc, err := dataitem.Sign(user, dataitem.Fields{Tags: []dataitem.Tag{
				{Name: "Type", Value: "Process"}, {Name: "Scheduler", Value: su.Address},
			}})
			if err != nil {
				t.Fatal(err)
			}
			pid := proc.ID()
			known[pid] = []string{su.Address}
			var subs []*p2p.ProcessSubscription
			for _, h := range net.Hosts {
				s, err := h.SubscribeProcess(pid)
				if err != nil {
					t.Fatal(err)
				}
				defer s.Close()
				subs = append(subs, s)
			}
			deadline := time.Now().Add(10 * time.Second)
			for !net.MeshReady(pid) {
				if time.Now().After(deadline) {
					t.Fatal("topic meshes never formed")
				}
				time.Sleep(20 * time.Millisecond)
			}
			a, err := dataitem.Sign(su.Signer, dataitem.Fields{Tags: []dataitem.Tag{
				{Name: "Process", Value: pid}, {Name: "Nonce", Value: "0"},
				{Name: "Hash-Chain", Value: dataitem.EncodeID(make([]byte, 32))},
				{Name: "Timestamp", Value: strconv.FormatInt(time.Now().UnixMilli(), 10)},
			}})
			if err != nil {
				t.Fatal(err)
			}
			if err := net.Hosts[3].PublishAssignment(context.Background(), a, proc); err != nil {
				t.Fatal(err)
			}
			for i, s := range subs {
				select {
				case got := <-s.Assignments():
					if got.Assignment.ID() != a.ID() || got.MessageID != pid {
						t.Fatalf("host %d got %+v", i, got)
					}
				case <-time.After(10 * time.Second):
					t.Fatalf("host %d got nothing", i)
				}
			}
		})
	}
}
