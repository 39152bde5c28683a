// Command consensusbench measures the consensus sequencer: three members, each with its own
// durable (fsynced) store and libp2p host on loopback, in this process. For 1, 8 and 64
// concurrent clients it reports acknowledged assignments per second and p50/p99 latency, with
// clients sending to the leader ("leader") or spread over every member, followers forwarding
// ("any"); CPU µs per assignment is this process's, so all three members'. Then it kills the
// leader -kills times (its Raft and store stop, as in a crash, without handing leadership
// over) and reports how long until a survivor acknowledges a new message: min/median/max.
//
//	go run ./scripts/consensusbench [-duration 5s] [-clients 1,8,64] [-kills 10]
package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/aonode/aonode/consensus"
	"github.com/aonode/aonode/dataitem"
	"github.com/aonode/aonode/dataitem/aoapi"
	"github.com/aonode/aonode/store"
	"github.com/aonode/aonode/su"
	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	"github.com/prometheus/client_golang/prometheus"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "consensusbench:", err)
		os.Exit(1)
	}
}

type peers struct {
	byAddr map[string]peer.AddrInfo
	byPeer map[peer.ID]string
}

func (p *peers) PeerOf(a string) (peer.AddrInfo, bool) { i, ok := p.byAddr[a]; return i, ok }
func (p *peers) AddressOf(id peer.ID) (string, bool)   { a, ok := p.byPeer[id]; return a, ok }

type member struct {
	signer dataitem.Signer
	addr   string
	dir    string
	host   host.Host
	db     *store.DB
	m      *consensus.Manager
}

type bench struct {
	members []*member
	set     []string
	peers   *peers
	owner   dataitem.Signer
	timeout consensus.Timeouts
	log     *slog.Logger
	procs   []string // processes of the group, newest first (Status needs one)

	metrics    [3]*consensus.Metrics
	regs       [3]*prometheus.Registry
	pipeline   int
	maxRecords int
	verbose    bool
	runs       int
}

// stats prints the leader's consensus histograms (mean values), with -v.
func (b *bench) stats(l int) {
	if !b.verbose {
		return
	}
	mfs, _ := b.regs[l].Gather()
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			if h := m.GetHistogram(); h != nil && h.GetSampleCount() > 0 {
				fmt.Printf("    %s: n=%d mean=%.4g\n", mf.GetName(), h.GetSampleCount(), h.GetSampleSum()/float64(h.GetSampleCount()))
			}
		}
	}
}

func (b *bench) start(i int) error {
	m := b.members[i]
	o := store.DefaultOptions(m.dir)
	o.Logger = b.log
	if b.verbose && b.regs[i] != nil {
		o.Registerer = prometheus.WrapRegistererWith(prometheus.Labels{"run": strconv.Itoa(b.runs)}, b.regs[i])
		b.runs++
	}
	db, err := store.Open(o)
	if err != nil {
		return err
	}
	if b.metrics[i] == nil {
		b.regs[i] = prometheus.NewRegistry()
		if b.metrics[i], err = consensus.NewMetrics(b.regs[i]); err != nil {
			return err
		}
	}
	mgr, err := consensus.New(consensus.Options{
		DB: db, Signer: m.signer, Raft: b.timeout, Logger: b.log, TempDir: m.dir, Metrics: b.metrics[i], Pipeline: b.pipeline, MaxEntryRecords: b.maxRecords,
		Network: consensus.NewLibp2p(m.host, m.addr, b.peers, consensus.Libp2pOptions{Logger: b.log}),
	})
	if err != nil {
		_ = db.Close()
		return err
	}
	m.db, m.m = db, mgr
	return nil
}

func (b *bench) stop(i int) {
	m := b.members[i]
	if m.m != nil {
		_ = m.m.Close()
		_ = m.db.Close()
		m.m, m.db = nil, nil
	}
}

func (b *bench) leader(within time.Duration) (int, error) {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		for i, m := range b.members {
			if m.m == nil {
				continue
			}
			if st, ok, _ := m.m.Status(b.procs[0]); ok && st.Leader == m.addr {
				return i, nil
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	return -1, errors.New("no leader")
}

func sign(s dataitem.Signer, f dataitem.Fields) *dataitem.Item {
	it, err := dataitem.Sign(s, f)
	if err != nil {
		panic(err)
	}
	return it
}

func (b *bench) spawn(at int) (string, error) {
	tags := []dataitem.Tag{{Name: "Data-Protocol", Value: "ao"}, {Name: "Type", Value: "Process"}, {Name: "Module", Value: "bench"},
		{Name: "Salt", Value: strconv.FormatInt(time.Now().UnixNano(), 10)}}
	for _, s := range b.set {
		tags = append(tags, dataitem.Tag{Name: "Scheduler", Value: s})
	}
	p := sign(b.owner, dataitem.Fields{Tags: tags, Data: []byte(" ")})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err := b.members[at].m.Schedule(ctx, su.Request{Process: p.ID(), Item: p}, b.set)
	return p.ID(), err
}

func (b *bench) messages(pid string, n int) []*dataitem.Item {
	target, _ := dataitem.DecodeID(pid)
	out := make([]*dataitem.Item, n)
	for i := range out {
		out[i] = sign(b.owner, dataitem.Fields{Target: target[:], Tags: []dataitem.Tag{{Name: "Data-Protocol", Value: "ao"}, {Name: "Type", Value: "Message"}},
			Data: []byte(fmt.Sprint("bench ", pid[:8], " ", i))})
	}
	return out
}

func cpu() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

type row struct {
	mode             string
	clients, n       int
	perSec, p50, p99 float64
	cpuPerOp         float64
}

// throughput runs clients against the group for d (or until msgs run out).
func (b *bench) throughput(mode string, clients int, d time.Duration, perClient int) (row, error) {
	l, err := b.leader(10 * time.Second)
	if err != nil {
		return row{}, err
	}
	pid, err := b.spawn(l)
	if err != nil {
		return row{}, err
	}
	b.procs = append([]string{pid}, b.procs...)
	msgs := b.messages(pid, clients*perClient)
	var (
		mu   sync.Mutex
		lats []time.Duration
		errs atomic.Int64
		wg   sync.WaitGroup
	)
	stopAt := time.Now().Add(d)
	c0, t0 := cpu(), time.Now()
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			for i := range perClient {
				if time.Now().After(stopAt) {
					break
				}
				at := l
				if mode == "any" {
					at = (c + i) % len(b.members)
				}
				msg := msgs[c*perClient+i]
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				s := time.Now()
				_, err := b.members[at].m.Schedule(ctx, su.Request{Process: pid, Item: msg}, b.set)
				cancel()
				if err != nil {
					errs.Add(1)
					continue
				}
				mine = append(mine, time.Since(s))
			}
			mu.Lock()
			lats = append(lats, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	el, c1 := time.Since(t0), cpu()
	b.stats(l)
	if e := errs.Load(); e > 0 {
		return row{}, fmt.Errorf("%d writes failed", e)
	}
	sort.Slice(lats, func(i, j int) bool { return lats[i] < lats[j] })
	r := row{mode: mode, clients: clients, n: len(lats), perSec: float64(len(lats)) / el.Seconds()}
	if len(lats) > 0 {
		r.p50 = float64(lats[len(lats)/2].Microseconds()) / 1000
		r.p99 = float64(lats[len(lats)*99/100].Microseconds()) / 1000
		r.cpuPerOp = float64((c1 - c0).Microseconds()) / float64(len(lats))
	}
	return r, nil
}

// failover kills the leader and measures until a survivor acknowledges a new message, and
// until a survivor sees itself elected.
func (b *bench) failover(pid string, msgs []*dataitem.Item) (time.Duration, time.Duration, error) {
	l, err := b.leader(10 * time.Second)
	if err != nil {
		return 0, 0, err
	}
	// A crash stops the member at once; closing its store afterwards is not part of it.
	_ = b.members[l].m.Close()
	killed := time.Now()
	b.stop(l)
	survivor := (l + 1) % len(b.members)
	msg := msgs[0]
	elected := make(chan time.Duration, 1)
	go func() {
		for time.Since(killed) < 30*time.Second {
			for i, m := range b.members {
				if i == l {
					continue
				}
				if st, ok, _ := m.m.Status(pid); ok && st.Leader == m.addr {
					elected <- time.Since(killed)
					return
				}
			}
			time.Sleep(2 * time.Millisecond)
		}
		elected <- 0
	}()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		_, err := b.members[survivor].m.Schedule(ctx, su.Request{Process: pid, Item: msg}, b.set)
		cancel()
		if err == nil {
			d := time.Since(killed)
			e := <-elected
			if err := b.start(l); err != nil {
				return 0, 0, err
			}
			return d, e, nil
		}
		if time.Since(killed) > 30*time.Second {
			<-elected
			return 0, 0, fmt.Errorf("no survivor acknowledged within 30s: %v", err)
		}
	}
}

func run() error {
	dur := flag.Duration("duration", 5*time.Second, "time budget per throughput configuration")
	clientList := flag.String("clients", "1,8,64", "concurrent client counts")
	modes := flag.String("modes", "leader,any", "leader: clients send to the leader; any: spread over all members")
	kills := flag.Int("kills", 10, "leader kills for the failover figures")
	hb := flag.Duration("raft-heartbeat", 0, "Raft heartbeat timeout (0: default)")
	el := flag.Duration("raft-election", 0, "Raft election timeout (0: default)")
	lease := flag.Duration("raft-leader-lease", 0, "Raft leader lease (0: default)")
	pipeline := flag.Int("pipeline", 0, "entries a leader has in flight (0: default)")
	maxRecords := flag.Int("max-entry-records", 0, "slots per Raft entry at most (0: default)")
	verbose := flag.Bool("v", false, "print the leader's consensus histograms after each row")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the throughput runs to this file")
	traceFile := flag.String("trace", "", "write a Go execution trace of the throughput runs to this file")
	blockprofile := flag.String("blockprofile", "", "write a block profile of the throughput runs to this file")
	mutexprofile := flag.String("mutexprofile", "", "write a mutex profile of the throughput runs to this file")
	flag.Parse()
	var clients []int
	for _, s := range strings.Split(*clientList, ",") {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			return fmt.Errorf("-clients %q", *clientList)
		}
		clients = append(clients, n)
	}
	tmp, err := os.MkdirTemp("", "consensusbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	b := &bench{
		peers:    &peers{byAddr: map[string]peer.AddrInfo{}, byPeer: map[peer.ID]string{}},
		timeout:  consensus.Timeouts{Heartbeat: *hb, Election: *el, LeaderLease: *lease}.WithDefaults(),
		log:      slog.New(slog.NewTextHandler(io.Discard, nil)),
		pipeline: *pipeline, maxRecords: *maxRecords, verbose: *verbose,
	}
	_, ok, _ := ed25519.GenerateKey(nil)
	b.owner = dataitem.NewEd25519Signer(ok)
	for i := range 3 {
		_, k, _ := ed25519.GenerateKey(nil)
		s := dataitem.NewEd25519Signer(k)
		h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.Transport(tcp.NewTCPTransport), libp2p.DisableMetrics())
		if err != nil {
			return err
		}
		defer h.Close()
		m := &member{signer: s, addr: su.AddressOfOwner(s.Owner()), dir: fmt.Sprintf("%s/m%d", tmp, i), host: h}
		b.members = append(b.members, m)
		b.peers.byAddr[m.addr] = peer.AddrInfo{ID: h.ID(), Addrs: h.Addrs()}
		b.peers.byPeer[h.ID()] = m.addr
		b.set = append(b.set, m.addr)
	}
	slices.Sort(b.set)
	b.set = aoapi.Schedulers(setTags(b.set))
	for i := range b.members {
		if err := b.start(i); err != nil {
			return err
		}
	}
	defer func() {
		for i := range b.members {
			b.stop(i)
		}
	}()
	pid, err := b.spawn(0)
	if err != nil {
		return err
	}
	b.procs = []string{pid}
	fmt.Printf("3-member group, libp2p TCP on loopback, fsynced Badger stores; Raft heartbeat %v election %v lease %v\n\n",
		b.timeout.Heartbeat, b.timeout.Election, b.timeout.LeaderLease)
	fmt.Printf("%-7s %8s %9s %14s %9s %9s %12s\n", "send to", "clients", "acked", "assignments/s", "p50 ms", "p99 ms", "cpu µs/op")
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
	}
	if *traceFile != "" {
		f, err := os.Create(*traceFile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := trace.Start(f); err != nil {
			return err
		}
	}
	if *blockprofile != "" {
		runtime.SetBlockProfileRate(int(time.Microsecond))
	}
	if *mutexprofile != "" {
		runtime.SetMutexProfileFraction(5)
	}
	for _, mode := range strings.Split(*modes, ",") {
		for _, c := range clients {
			per := max(20000/c, 50)
			r, err := b.throughput(mode, c, *dur, per)
			if err != nil {
				return fmt.Errorf("%s %d clients: %w", mode, c, err)
			}
			fmt.Printf("%-7s %8d %9d %14.0f %9.2f %9.2f %12.0f\n", r.mode, r.clients, r.n, r.perSec, r.p50, r.p99, r.cpuPerOp)
		}
	}
	if *cpuprofile != "" {
		pprof.StopCPUProfile()
	}
	if *traceFile != "" {
		trace.Stop()
	}
	for name, file := range map[string]string{"block": *blockprofile, "mutex": *mutexprofile} {
		if file == "" {
			continue
		}
		if err := writeProfile(name, file); err != nil {
			return err
		}
	}
	if *kills > 0 {
		var ds, es []time.Duration
		msgs := b.messages(pid, *kills)
		for k := range *kills {
			d, e, err := b.failover(pid, msgs[k:k+1])
			if err != nil {
				return err
			}
			ds, es = append(ds, d), append(es, e)
			time.Sleep(time.Second) // the restarted member catches up
		}
		line := func(what string, ds []time.Duration) {
			slices.Sort(ds)
			fmt.Printf("%-46s min %-8v median %-8v max %v\n", what, ds[0].Round(time.Millisecond), ds[len(ds)/2].Round(time.Millisecond), ds[len(ds)-1].Round(time.Millisecond))
		}
		fmt.Printf("\nfailover over %d leader kills\n", len(ds))
		line("leader killed -> a survivor acknowledges", ds)
		line("leader killed -> a survivor is elected", es)
	}
	return nil
}

func setTags(set []string) []dataitem.Tag {
	var t []dataitem.Tag
	for _, s := range set {
		t = append(t, dataitem.Tag{Name: "Scheduler", Value: s})
	}
	return t
}

func writeProfile(name, file string) error {
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if err := pprof.Lookup(name).WriteTo(f, 0); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
