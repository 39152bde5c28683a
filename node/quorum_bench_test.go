package node

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"
)

// TestResultQuorumLatency prints what --result-quorum costs on a three-node testnet (every
// node runs every role, real libp2p hosts on loopback in one process; B and C follow every
// process they hear of): the time from posting a Relay to A's MU until the Pong it causes is
// evaluated on A, at quorum 1, 2 and 3. A round is three slots (Relay, Ping, Pong) and two
// cranked outboxes (the Relay's Ping, the Ping's Pong), each waiting for the quorum of CUs.
// Set AONODE_QUORUM_BENCH=1 (AONODE_QUORUM_ROUNDS, default 30).
//
//	AONODE_QUORUM_BENCH=1 go test -count=1 -run TestResultQuorumLatency -v ./node/
func TestResultQuorumLatency(t *testing.T) {
	if os.Getenv("AONODE_QUORUM_BENCH") != "1" {
		t.Skip("SKIP: set AONODE_QUORUM_BENCH=1 to measure the latency of --result-quorum")
	}
	rounds := envCount(t, "AONODE_QUORUM_ROUNDS", 30)
	wasm := loopModule(t)
	type row struct {
		quorum        int
		p50, p90, max time.Duration
	}
	var rows []row
	for q := 1; q <= 3; q++ {
		t.Run(strconv.Itoa(q), func(t *testing.T) {
			var nodes []*Node
			for i := range 3 {
				cfg := diskConfig(t)
				cfg.Roles = AllRoles
				cfg.Signer = seedSigner(byte(60 + 10*q + i))
				if i == 0 {
					cfg.P2P = testP2P()
					cfg.ResultQuorum = q
				} else {
					cfg.P2P = testP2P(nodes[0])
					cfg.Follow = []string{FollowAll}
				}
				nodes = append(nodes, startNode(t, cfg))
			}
			m, su, cus := nodes[0], nodes[0], nodes
			waitFor(t, "the nodes to know each other", 30*time.Second, func() string {
				for _, a := range nodes {
					for _, b := range nodes {
						if a != b && !knows(a, b, "cu") {
							return "records missing"
						}
					}
				}
				return ""
			})
			client := newClient(t, m.URL(), seedSigner(20))
			pid := client.spawn(client.publish(wasm, "wasm32-wasip1-aonode"), su.SU().Address(), "Name", "quorum-"+strconv.Itoa(q))
			newClient(t, m.URL(), nil).result(pid, pid)
			waitFor(t, "B and C to follow the process", 30*time.Second, func() string {
				return unless(len(m.Host().AttestPeers(pid)) >= 2, "%d peers on the attestation topic", len(m.Host().AttestPeers(pid)))
			})
			waitFor(t, "the MU's queue to drain", 30*time.Second, func() string { return pending(m) })
			last := func() uint64 {
				r, err := cus[0].Store().LastEvalResult(pid)
				if err != nil {
					return 0
				}
				return r.Nonce
			}
			var lat []time.Duration
			for i := range rounds + 3 {
				base := last()
				start := time.Now()
				client.send(pid, "", "Action", "Relay", "Peer", pid, "Round", strconv.Itoa(i))
				waitFor(t, "the round's Pong", 60*time.Second, func() string {
					return unless(last() >= base+3, "slot %d of %d", last(), base+3)
				})
				if i >= 3 { // the first rounds warm the CUs' caches and the MU's look-ups
					lat = append(lat, time.Since(start))
				}
				waitFor(t, "the MU's queue to drain", 30*time.Second, func() string { return pending(m) })
			}
			slices.Sort(lat)
			rows = append(rows, row{q, lat[len(lat)/2], lat[len(lat)*9/10], lat[len(lat)-1]})
		})
	}
	fmt.Printf("\n3 nodes, every role; %d rounds per quorum (Relay -> Ping -> Pong: two cranked outboxes)\n", rounds)
	fmt.Printf("%-8s %10s %10s %10s\n", "quorum", "p50", "p90", "max")
	for _, r := range rows {
		fmt.Printf("%-8d %10s %10s %10s\n", r.quorum, r.p50.Round(time.Millisecond), r.p90.Round(time.Millisecond), r.max.Round(time.Millisecond))
	}
}
