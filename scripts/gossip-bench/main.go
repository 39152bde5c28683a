// Command gossip-bench measures process gossip over GossipSub: it starts
// -peers p2p Hosts on an in-memory libp2p network (mocknet, random graph of
// -degree), lets every peer follow -processes processes whose schedulers are
// peers of the network, and for each rate in -rates publishes -messages signed
// assignments (each with its message) from those schedulers. It prints one
// row per rate: the delivery ratio over every (assignment, follower) pair and
// the p50/p99/max latency from publish to delivery. Every push goes through
// the full validator (both ANS-104 signatures, tags, scheduler check) at every
// hop; gossip messages carry no libp2p signature of their own (p2p's doc).
// A row counts only the deliveries of its own pushes: stragglers of an
// earlier row that arrive during it are shown apart ("late"). "CPU ms/push"
// is the process's CPU time during the row divided by its pushes: the whole
// network's cost of one push (all hops, heartbeats and records included), the
// figure to compare on a busy machine, where latency mostly measures the
// other jobs. Before the rows the network idles for -idle: its CPU then
// (heartbeats, peer scores, node records) is printed as "idle CPU ms/s", and
// "marginal ms/push" is a row's CPU minus that idle rate over the row's
// duration, per push. The cores a rate r needs are then about
// (idle + r × marginal) / 1000, which says whether a rate can be reached on
// the machine at all.
//
// All peers share this process's CPUs, so the work of the whole network (each
// push verified by every peer) lands on one machine: past a rate the machine
// saturates and latency is queueing, not the network.
//
//	go run ./scripts/gossip-bench                     # 60 peers, 300 pushes at 5, 10 and 20/s
//	go run ./scripts/gossip-bench -peers 100 -rates 10 -loopback
//
// mocknet's links have no added latency: its latency model holds small
// writes back while more keep coming, which would overstate gossip latency.
package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/aonode/aonode/dataitem"
	"github.com/aonode/aonode/p2p"
	"github.com/aonode/aonode/p2p/p2ptest"
)

type schedulers map[string][]string

func (s schedulers) ProcessSchedulers(pid string) ([]string, bool) {
	v, ok := s[pid]
	return v, ok
}

type push struct {
	publisher  int
	assignment *dataitem.Item
	message    *dataitem.Item
}

type params struct {
	peers, degree, processes, messages, payload int
	rates                                       []float64
	wait, heartbeat                             time.Duration
	loopback                                    bool
	idle                                        time.Duration
	cpuprofile                                  string
}

func main() {
	var p params
	flag.IntVar(&p.peers, "peers", 60, "hosts on the network")
	flag.IntVar(&p.degree, "degree", 8, "peers each host dials")
	flag.IntVar(&p.processes, "processes", 8, "processes followed by every host")
	flag.IntVar(&p.messages, "messages", 300, "assignments published per rate")
	rates := flag.String("rates", "5,10,20", "comma-separated publish rates (assignments/s), one row each")
	flag.IntVar(&p.payload, "payload", 1024, "bytes of data per message")
	flag.BoolVar(&p.loopback, "loopback", false, "real hosts on TCP loopback (noise, yamux) instead of mocknet")
	flag.DurationVar(&p.heartbeat, "heartbeat", time.Second, "GossipSub heartbeat")
	flag.DurationVar(&p.wait, "wait", 10*time.Second, "how long to wait for stragglers after the last publish")
	flag.DurationVar(&p.idle, "idle", 10*time.Second, "how long to measure the idle network's CPU before the rows")
	flag.StringVar(&p.cpuprofile, "cpuprofile", "", "write a CPU profile of the measured rows (not the start-up) here")
	flag.Parse()
	for _, f := range strings.Split(*rates, ",") {
		r, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil || r <= 0 {
			log.Fatalf("rate %q: want a positive number", f)
		}
		p.rates = append(p.rates, r)
	}
	if err := run(p); err != nil {
		log.Fatal(err)
	}
}

// bench is the network and what its followers have received.
type bench struct {
	params
	net   *p2ptest.Network
	user  dataitem.Signer
	pids  []string
	owner []int // scheduler peer of each process
	nonce []int

	mu        sync.Mutex
	published map[string]time.Time // assignment id → publish time
	publisher map[string]int
	roundOf   map[string]int // assignment id → the round (row) that published it
	current   int            // the round being measured
	idleRate  float64        // CPU ns per wall ns of the idle network
	latencies []time.Duration
	late      int             // deliveries of earlier rounds seen during this one
	seen      map[string]bool // assignment id + follower
	count     atomic.Int64
}

func run(p params) error {
	if p.peers < 2 || p.processes < 1 || p.messages < 1 || p.payload < 0 {
		return errors.New("need peers >= 2, processes >= 1, messages >= 1, payload >= 0")
	}
	cfg := p2p.DefaultConfig()
	cfg.Gossip.HeartbeatInterval = p.heartbeat
	// A row on a starved machine can take longer than the 10 minutes after
	// which pushes are ignored as stale: measure it slow rather than fail.
	cfg.Gossip.MaxAssignmentAge = time.Hour
	known := schedulers{}
	b := &bench{params: p, published: map[string]time.Time{}, publisher: map[string]int{}, roundOf: map[string]int{}, seen: map[string]bool{}}
	var err error
	if b.user, err = dataitem.GenerateKey(dataitem.ED25519); err != nil {
		return err
	}
	b.net, err = p2ptest.New(p.peers, cfg, p2ptest.Options{Degree: p.degree, Loopback: p.loopback, Seed: 1},
		func(i int, d *p2p.Deps) {
			d.Info = p2p.NodeInfo{Roles: []string{p2p.RoleCU}}
			d.Schedulers = known
		})
	if err != nil {
		return err
	}
	defer b.net.Close()
	// The processes and their schedulers are fixed before any push is
	// validated, so the map is only read from here on.
	for i := range p.processes {
		owner := (i * 7919) % p.peers
		proc, err := dataitem.Sign(b.user, dataitem.Fields{Tags: []dataitem.Tag{
			{Name: "Data-Protocol", Value: "ao"}, {Name: "Type", Value: "Process"},
			{Name: "Scheduler", Value: b.net.Identities[owner].Address},
		}, Data: []byte("process " + strconv.Itoa(i))})
		if err != nil {
			return err
		}
		b.pids = append(b.pids, proc.ID())
		b.owner = append(b.owner, owner)
		b.nonce = append(b.nonce, 0)
		known[proc.ID()] = []string{b.net.Identities[owner].Address}
	}

	var wg sync.WaitGroup
	var subs []*p2p.ProcessSubscription
	defer func() {
		for _, s := range subs {
			s.Close()
		}
		wg.Wait()
	}()
	for hi, h := range b.net.Hosts {
		for _, pid := range b.pids {
			s, err := h.SubscribeProcess(pid)
			if err != nil {
				return err
			}
			subs = append(subs, s)
			wg.Add(1)
			go func() {
				defer wg.Done()
				for a := range s.Assignments() {
					b.record(hi, a.Assignment.ID(), time.Now())
				}
			}()
		}
	}
	// Meshes form on heartbeats: a push published before would reach only
	// the publisher's neighbours and whoever gossip reaches in time.
	deadline := time.Now().Add(60 * time.Second)
	for !b.meshReady() {
		if time.Now().After(deadline) {
			return errors.New("topic meshes did not form in 60s")
		}
		time.Sleep(100 * time.Millisecond)
	}

	if p.idle > 0 {
		cpu, start := processCPU(), time.Now()
		time.Sleep(p.idle)
		b.idleRate = float64(processCPU()-cpu) / float64(time.Since(start))
		fmt.Printf("idle CPU ms/s: %.1f (over %s)\n", 1000*b.idleRate, p.idle)
	}
	if p.cpuprofile != "" {
		f, err := os.Create(p.cpuprofile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "network\tpeers\tdegree\tprocesses\tpayload B\ttarget/s\tachieved/s\tdelivered\tdelivery %\tp50\tp99\tmax\tlate\tCPU ms/push\tmarginal ms/push\tcores needed\t")
	for _, rate := range p.rates {
		if err := b.round(tw, rate); err != nil {
			return err
		}
	}
	var dropped uint64
	for _, s := range subs {
		dropped += s.Dropped()
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if dropped > 0 {
		fmt.Printf("pushes dropped by lagging consumers: %d\n", dropped)
	}
	return nil
}

func (b *bench) record(follower int, id string, at time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	pub, ok := b.published[id]
	if !ok || b.publisher[id] == follower {
		return
	}
	key := id + "/" + strconv.Itoa(follower)
	if b.seen[key] {
		return
	}
	b.seen[key] = true
	// A delivery of an earlier row that arrives during this one belongs to
	// neither: counting it here would inflate this row's delivery ratio.
	if b.roundOf[id] != b.current {
		b.late++
		return
	}
	b.latencies = append(b.latencies, at.Sub(pub))
	b.count.Add(1)
}

func (b *bench) meshReady() bool {
	for _, pid := range b.pids {
		if !b.net.MeshReady(pid) {
			return false
		}
	}
	return true
}

// round publishes b.messages pushes at rate and prints one row.
func (b *bench) round(tw *tabwriter.Writer, rate float64) error {
	b.mu.Lock()
	b.current++
	b.latencies = b.latencies[:0]
	b.late = 0
	b.count.Store(0)
	b.mu.Unlock()
	pushes, err := b.sign()
	if err != nil {
		return err
	}

	ctx := context.Background()
	interval := time.Duration(float64(time.Second) / rate)
	cpu := processCPU()
	start := time.Now()
	// One publisher per process, as each process has its own SU: a single
	// loop would make every push wait for the previous one's local
	// validation and hand-off to GossipSub, and on a loaded machine cap the
	// rate below the target (the harness, not the network). Within a process
	// pushes stay in nonce order.
	byProcess := map[int][]int{}
	for i, p := range pushes {
		pi := slices.Index(b.pids, mustTag(p.assignment, "Process"))
		byProcess[pi] = append(byProcess[pi], i)
	}
	var (
		pubWG   sync.WaitGroup
		errOnce sync.Once
		pubErr  error
	)
	for _, idx := range byProcess {
		pubWG.Add(1)
		go func() {
			defer pubWG.Done()
			for _, i := range idx {
				if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
					time.Sleep(d)
				}
				p := pushes[i]
				b.mu.Lock()
				b.published[p.assignment.ID()] = time.Now()
				b.mu.Unlock()
				if err := b.net.Hosts[p.publisher].PublishAssignment(ctx, p.assignment, p.message); err != nil {
					errOnce.Do(func() { pubErr = fmt.Errorf("publish %d: %w", i, err) })
					return
				}
			}
		}()
	}
	pubWG.Wait()
	if pubErr != nil {
		return pubErr
	}
	achieved := float64(len(pushes)) / time.Since(start).Seconds()
	expected := int64(len(pushes) * (b.peers - 1))
	for until := time.Now().Add(b.wait); time.Now().Before(until) && b.count.Load() < expected; {
		time.Sleep(20 * time.Millisecond)
	}
	used := processCPU() - cpu
	cpuPerPush := used / time.Duration(len(pushes))
	marginal := (float64(used) - b.idleRate*float64(time.Since(start))) / float64(len(pushes)) / float64(time.Millisecond)
	cores := (1000*b.idleRate + rate*marginal) / 1000
	b.mu.Lock()
	lat := slices.Clone(b.latencies)
	late := b.late
	b.mu.Unlock()
	slices.Sort(lat)
	network := "mocknet"
	if b.loopback {
		network = "tcp loopback"
	}
	fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%.0f\t%.1f\t%d/%d\t%.2f\t%s\t%s\t%s\t%d\t%.1f\t%.1f\t%.2f\t\n",
		network, b.peers, b.degree, b.processes, b.payload, rate, achieved,
		len(lat), expected, 100*float64(len(lat))/float64(expected),
		pct(lat, 0.50), pct(lat, 0.99), pct(lat, 1), late, float64(cpuPerPush)/float64(time.Millisecond), marginal, cores)
	return nil
}

// sign builds the next b.messages pushes, round-robin over the processes,
// before the clock starts: the bench measures gossip, not signing.
func (b *bench) sign() ([]push, error) {
	pushes := make([]push, b.messages)
	data := make([]byte, b.payload)
	for i := range pushes {
		p := i % b.processes
		if _, err := rand.Read(data); err != nil {
			return nil, err
		}
		msg, err := dataitem.Sign(b.user, dataitem.Fields{Tags: []dataitem.Tag{
			{Name: "Data-Protocol", Value: "ao"}, {Name: "Type", Value: "Message"}, {Name: "Action", Value: "Bench"},
		}, Data: data})
		if err != nil {
			return nil, err
		}
		b.nonce[p]++
		a, err := dataitem.Sign(b.net.Identities[b.owner[p]].Signer, dataitem.Fields{Tags: []dataitem.Tag{
			{Name: "Process", Value: b.pids[p]},
			{Name: "Nonce", Value: strconv.Itoa(b.nonce[p])},
			{Name: "Hash-Chain", Value: dataitem.EncodeID(make([]byte, 32))},
			{Name: "Timestamp", Value: strconv.FormatInt(time.Now().UnixMilli(), 10)},
			{Name: "Type", Value: "Assignment"},
			{Name: "Message", Value: msg.ID()},
		}})
		if err != nil {
			return nil, err
		}
		pushes[i] = push{publisher: b.owner[p], assignment: a, message: msg}
		b.mu.Lock()
		b.publisher[a.ID()] = b.owner[p]
		b.roundOf[a.ID()] = b.current
		b.mu.Unlock()
	}
	return pushes, nil
}

// processCPU is the CPU time of this process (user and system): the whole
// network's work per push, which other jobs on the machine disturb far less
// than they disturb latency.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func mustTag(it *dataitem.Item, name string) string {
	v, _ := it.Tag(name)
	return v
}

func pct(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted)-1) + 0.5)
	return sorted[i].Round(100 * time.Microsecond)
}
