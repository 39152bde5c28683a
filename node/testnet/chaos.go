package testnet

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/aonode/aonode/node"
)

// ChaosOptions describe one chaos run against a running testnet.
type ChaosOptions struct {
	Dir       string
	Scenario  string
	Processes int     // single-SU processes the workload spawns, beside the demo process
	Rate      float64 // messages a second, all processes together
	// The workload runs Before the fault, During it, and After it is healed.
	Before, During, After time.Duration
	// Recover bounds the wait, after the heal, for every acknowledged message to be scheduled.
	Recover time.Duration
	Seed    uint64
	Clock   Clock
	Log     *slog.Logger
}

// Scenarios lists the faults Chaos injects.
// "none" runs the workload alone: the baseline, and the gossip figures at a rate.
var Scenarios = []string{"none", "node-kill", "leader-kill", "pause", "partition", "latency"}

// ErrInvariant is a run after which an invariant does not hold.
var ErrInvariant = errors.New("testnet: invariant failed")

// Report is what a chaos run measured and checked.
type Report struct {
	Scenario   string
	Fault      string
	Acked      int
	Refused    int // requests an MU did not acknowledge (it was down or cut off): not counted
	Lost       int
	Duplicated int
	Gaps       int
	Slots      int
	Identical  string // "yes", "no", or why it was not checked
	CUAgree    int
	// Attested: messages with attestations of two or more CUs (GET /cu/agreement); of them,
	// AttestAgree agree and AttestDisagree do not.
	Attested, AttestAgree, AttestDisagree int
	CUCompared                            int
	Delivered                             float64 // % of expected pushes delivered to followers
	Pushes                                float64 // pushes delivered to other nodes, summed
	Expected                              float64 // acknowledged messages of single-SU processes × the CUs but their SU's
	Following                             string  // CUs that confirmed loading the processes, of those asked
	P50, P99                              time.Duration
	Recovered                             time.Duration
	MemIdleMiB                            float64 // mean per node
	MemLoadMiB                            float64
	MemLoadMax                            float64
	Failures                              []string
	MultiSU                               string
	Nodes                                 int
	TestnetKind                           string
}

// fault is one scenario's injection and heal.
type fault struct {
	what   string
	inject func(context.Context) error
	heal   func(context.Context) error
	// victims are the nodes the fault hits; they are asked to follow again after the heal.
	victims []int
}

// Chaos runs a workload on the testnet in o.Dir, injects o.Scenario's fault while it runs,
// heals it, waits for every acknowledged message to be scheduled, checks the invariants and
// prints the report as a table on out. It returns ErrInvariant when one fails.
func Chaos(ctx context.Context, o ChaosOptions, out io.Writer) (*Report, error) {
	if !slices.Contains(Scenarios, o.Scenario) {
		return nil, fmt.Errorf("%w: unknown scenario %q (one of %s)", ErrOptions, o.Scenario, strings.Join(Scenarios, ", "))
	}
	if o.Scenario == "latency" {
		return nil, fmt.Errorf("%w: latency/loss: the image is FROM scratch, without tc (iproute2) to shape its interface, and no image with it can be pulled here", ErrUnsupported)
	}
	st, err := ReadState(o.Dir)
	if err != nil {
		return nil, err
	}
	log := o.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if o.Clock == nil {
		return nil, errors.New("testnet: chaos needs a clock")
	}
	a, err := newActor(st)
	if err != nil {
		return nil, err
	}
	defer a.close()
	// No faults.Wait: a node it restarted outlives the run (the testnet stops it).
	faults := NewFaults(st)
	w := &workload{a: a, clk: o.Clock, run0: o.Seed, rng: rand.New(rand.NewPCG(o.Seed, o.Seed^0x9e3779b97f4a7c15))}
	rep := &Report{Scenario: o.Scenario, Nodes: len(st.Nodes), TestnetKind: st.Kind}

	multi, why := multiSU(ctx, w, st)
	rep.MultiSU = why
	// What cannot run fails before anything is spawned.
	switch {
	case o.Scenario == "leader-kill" && multi == nil:
		return nil, fmt.Errorf("%w: leader-kill needs a scheduler group: %s", ErrUnsupported, why)
	case o.Scenario == "partition" && st.Kind != KindDocker:
		return nil, fmt.Errorf("%w: a partition of processes that share 127.0.0.1 needs network namespaces; use a --docker testnet", ErrUnsupported)
	}
	if err := w.setup(ctx, o.Processes, multi); err != nil {
		return nil, err
	}
	if err := WriteState(st); err != nil { // the module id, for the next run
		return nil, err
	}
	f, err := pickFault(ctx, o.Scenario, st, faults, w, multi)
	if err != nil {
		return nil, err
	}
	rep.Fault = f.what
	log.Info("chaos", "scenario", o.Scenario, "fault", f.what, "processes", len(w.procs))

	// Subscriptions join the topic meshes at the next GossipSub heartbeats: let them, or the
	// first pushes count as undelivered to CUs that were still grafting.
	sleep(ctx, o.Clock, 3*time.Second)
	rep.MemIdleMiB, _, _ = memory(ctx, st)
	before := gossipAll(ctx, w, st)

	wctx, stopLoad := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { w.run(wctx, o.Rate) })
	sleep(ctx, o.Clock, o.Before)
	injectErr := f.inject(ctx)
	if injectErr == nil {
		sleep(ctx, o.Clock, o.During)
	}
	healStart := o.Clock.Now()
	healErr := f.heal(ctx)
	if healErr == nil {
		wg.Go(func() { refollow(wctx, w, st, f.victims, o.Clock) })
	}
	sleep(ctx, o.Clock, o.After)
	rep.MemLoadMiB, rep.MemLoadMax, _ = memory(ctx, st)
	stopLoad()
	wg.Wait()
	if injectErr != nil || healErr != nil {
		return rep, fmt.Errorf("fault %s: inject: %v, heal: %v", f.what, injectErr, healErr)
	}

	// Recovery: every acknowledged message scheduled at its SU.
	deadline := o.Clock.Now().Add(o.Recover)
	for {
		miss, err := w.missing(ctx)
		if err == nil && miss == 0 {
			rep.Recovered = o.Clock.Now().Sub(healStart)
			break
		}
		if o.Clock.Now().After(deadline) {
			rep.Failures = append(rep.Failures, fmt.Sprintf("not recovered %v after the heal: %d acknowledged messages unscheduled (%v)", o.Recover, miss, err))
			rep.Recovered = -1
			break
		}
		if ctx.Err() != nil {
			return rep, ctx.Err()
		}
		sleep(ctx, o.Clock, 500*time.Millisecond)
	}
	c, err := w.check(ctx)
	if err != nil {
		return rep, fmt.Errorf("reading the schedules: %w", err)
	}
	w.mu.Lock()
	rep.Acked, rep.Refused = len(w.acked), w.refused
	w.mu.Unlock()
	rep.Lost, rep.Duplicated, rep.Gaps, rep.Slots = c.lost, c.duplicated, c.gaps, c.slots
	switch {
	case multi == nil:
		rep.Identical = "n/a: " + why
	case c.identical:
		rep.Identical = "yes"
	default:
		rep.Identical = "no"
	}
	rep.CUAgree, rep.CUCompared = w.agreement(ctx, st.withRole(node.RoleCU))
	rep.Attested, rep.AttestAgree, rep.AttestDisagree = w.attested(ctx, st.withRole(node.RoleCU))
	sleep(ctx, o.Clock, 2*time.Second) // the last pushes reach the followers
	after := gossipAll(ctx, w, st)
	rep.Delivered, rep.Pushes, rep.Expected, rep.P50, rep.P99 = gossipFigures(before, after, w, st)
	rep.Following = w.following(len(st.withRole(node.RoleCU)))

	if rep.Lost > 0 {
		rep.Failures = append(rep.Failures, fmt.Sprintf("%d acknowledged messages lost", rep.Lost))
	}
	if rep.Duplicated > 0 {
		rep.Failures = append(rep.Failures, fmt.Sprintf("%d messages scheduled twice", rep.Duplicated))
	}
	if rep.Gaps > 0 {
		rep.Failures = append(rep.Failures, fmt.Sprintf("%d slots out of place (gaps)", rep.Gaps))
	}
	if rep.Identical == "no" {
		rep.Failures = append(rep.Failures, "the SU members hold different slots")
	}
	if rep.CUAgree < rep.CUCompared {
		rep.Failures = append(rep.Failures, fmt.Sprintf("CUs disagree on %d of %d results", rep.CUCompared-rep.CUAgree, rep.CUCompared))
	}
	if rep.AttestDisagree > 0 {
		rep.Failures = append(rep.Failures, fmt.Sprintf("CU attestations disagree on %d messages", rep.AttestDisagree))
	}
	if rep.Acked == 0 {
		rep.Failures = append(rep.Failures, "no message was acknowledged")
	}
	rep.Print(out)
	if len(rep.Failures) > 0 {
		return rep, fmt.Errorf("%w: %s", ErrInvariant, strings.Join(rep.Failures, "; "))
	}
	return rep, nil
}

// refollow waits for healed nodes to answer and has their CUs follow the processes again (a
// restarted CU follows a process only once asked for it).
func refollow(ctx context.Context, w *workload, st *State, victims []int, clk Clock) {
	for _, i := range victims {
		l := st.Nodes[i]
		if !slices.Contains(l.Roles, node.RoleCU) {
			continue
		}
		for range 60 {
			if _, err := w.httpGet(ctx, l.HTTP, "/health"); err == nil || ctx.Err() != nil {
				break
			}
			sleep(ctx, clk, 500*time.Millisecond)
		}
		w.follow(ctx, []Line{l})
	}
}

func sleep(ctx context.Context, clk Clock, d time.Duration) {
	if d <= 0 {
		return
	}
	select {
	case <-ctx.Done():
	case <-clk.After(d):
	}
}

// consensusState is GET /su/consensus/{pid} as far as chaos reads it.
type consensusState struct {
	Members []string `json:"members"`
	Leader  string   `json:"leader"`
	Term    uint64   `json:"term"`
}

// multiSU is the demo process as a workload process, when its schedulers serve it as a
// group (GET /su/consensus answers); otherwise nil and why.
func multiSU(ctx context.Context, w *workload, st *State) (*proc, string) {
	if st.DemoProcess == "" || len(st.Schedulers) < 2 {
		return nil, "no multi-SU demo process (start the testnet with --schedulers K)"
	}
	var members []Line
	for _, s := range st.Schedulers {
		if l, ok := st.nodeOf(s); ok {
			members = append(members, l)
		}
	}
	if _, err := leaderOf(ctx, w, members[0], st.DemoProcess); err != nil {
		return nil, "this build serves no scheduler group (GET /su/consensus: " + err.Error() + ")"
	}
	return &proc{id: st.DemoProcess, members: members}, "demo process on " + strconv.Itoa(len(members)) + " SUs"
}

func leaderOf(ctx context.Context, w *workload, su Line, pid string) (consensusState, error) {
	var cs consensusState
	b, err := w.httpGet(ctx, su.HTTP, "/su/consensus/"+pid)
	if err != nil {
		return cs, err
	}
	return cs, json.Unmarshal(b, &cs)
}

// pickFault chooses the victims: the SU of the first process (node-kill, partition), of the
// second (pause), or the demo group's leader.
func pickFault(ctx context.Context, scenario string, st *State, f *Faults, w *workload, multi *proc) (fault, error) {
	victim := w.procs[0].members[0].Index
	switch scenario {
	case "none":
		nothing := func(context.Context) error { return nil }
		return fault{what: "none (workload only)", inject: nothing, heal: nothing}, nil
	case "node-kill":
		return fault{what: fmt.Sprintf("SIGKILL node %d (SU of a workload process), restart", victim), victims: []int{victim},
			inject: func(ctx context.Context) error { return f.Kill(ctx, victim) },
			heal:   func(ctx context.Context) error { return f.Restart(ctx, victim) }}, nil
	case "leader-kill":
		if multi == nil {
			return fault{}, fmt.Errorf("%w: leader-kill needs a scheduler group: %s", ErrUnsupported, "start the testnet with --schedulers 3 on a build with consensus")
		}
		var leader = -1
		return fault{what: "SIGKILL the Raft leader of the demo process's group, restart", victims: nil,
			inject: func(ctx context.Context) error {
				cs, err := leaderOf(ctx, w, multi.members[0], multi.id)
				if err != nil {
					return err
				}
				l, ok := st.nodeOf(cs.Leader)
				if !ok {
					return fmt.Errorf("leader %q is no testnet node", cs.Leader)
				}
				leader = l.Index
				return f.Kill(ctx, leader)
			},
			heal: func(ctx context.Context) error { return f.Restart(ctx, leader) }}, nil
	case "pause":
		victim = w.procs[min(1, len(w.procs)-1)].members[0].Index
		return fault{what: fmt.Sprintf("pause node %d (SU of a workload process), unpause", victim), victims: []int{victim},
			inject: func(ctx context.Context) error { return f.Pause(ctx, victim) },
			heal:   func(ctx context.Context) error { return f.Unpause(ctx, victim) }}, nil
	case "partition":
		if st.Kind != KindDocker {
			return fault{}, fmt.Errorf("%w: a partition of processes that share 127.0.0.1 needs network namespaces; use a --docker testnet", ErrUnsupported)
		}
		// A minority: the victim SU and a fifth of the others.
		side := []int{victim}
		for _, l := range st.Nodes {
			if len(side) >= max(1, len(st.Nodes)/5) {
				break
			}
			if l.Index != victim {
				side = append(side, l.Index)
			}
		}
		return fault{what: fmt.Sprintf("disconnect nodes %v from the network, reconnect", side), victims: side,
			inject: func(ctx context.Context) error {
				for _, i := range side {
					if err := f.Disconnect(ctx, i); err != nil {
						return err
					}
				}
				return nil
			},
			heal: func(ctx context.Context) error {
				for _, i := range side {
					if err := f.Connect(ctx, i); err != nil {
						return err
					}
				}
				return nil
			}}, nil
	}
	return fault{}, fmt.Errorf("%w: scenario %q", ErrOptions, scenario)
}

// histogram is the push-age histogram of one node: cumulative counts by upper bound.
type histogram struct {
	bounds []float64
	counts []float64
	count  float64
}

const pushAgeMetric = "aonode_p2p_process_push_age_seconds"

func gossipAll(ctx context.Context, w *workload, st *State) []histogram {
	out := make([]histogram, len(st.Nodes))
	var wg sync.WaitGroup
	for i, l := range st.Nodes {
		wg.Go(func() {
			cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			if b, err := w.httpGet(cctx, l.HTTP, "/metrics"); err == nil {
				out[i] = parseHistogram(string(b), pushAgeMetric)
			}
		})
	}
	wg.Wait()
	return out
}

// parseHistogram reads one histogram from Prometheus text exposition.
func parseHistogram(text, name string) histogram {
	var h histogram
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, name+"_bucket{"):
			i := strings.Index(line, `le="`)
			j := strings.Index(line, `"}`)
			if i < 0 || j < i {
				continue
			}
			le := line[i+4 : j]
			v, err := strconv.ParseFloat(strings.TrimSpace(line[j+2:]), 64)
			if err != nil {
				continue
			}
			b := math.Inf(1)
			if le != "+Inf" {
				if b, err = strconv.ParseFloat(le, 64); err != nil {
					continue
				}
			}
			h.bounds, h.counts = append(h.bounds, b), append(h.counts, v)
		case strings.HasPrefix(line, name+"_count "):
			h.count, _ = strconv.ParseFloat(strings.TrimSpace(strings.TrimPrefix(line, name+"_count ")), 64)
		}
	}
	return h
}

// gossipFigures sums every node's new pushes between two readings. A node restarted between
// them (its counters start again) counts from its restart. Expected: every acknowledged
// message of a single-SU process reaches every CU but its SU's own.
func gossipFigures(before, after []histogram, w *workload, st *State) (pct, got, expected float64, p50, p99 time.Duration) {
	var merged histogram
	for i := range after {
		a, b := after[i], before[i]
		if len(a.bounds) == 0 {
			continue
		}
		reset := a.count < b.count || len(b.counts) != len(a.counts)
		if merged.bounds == nil {
			merged.bounds = a.bounds
			merged.counts = make([]float64, len(a.counts))
		}
		for k := range a.counts {
			d := a.counts[k]
			if !reset {
				d -= b.counts[k]
			}
			if k < len(merged.counts) {
				merged.counts[k] += d
			}
		}
		d := a.count
		if !reset {
			d -= b.count
		}
		merged.count += d
	}
	w.mu.Lock()
	per := map[string]int{}
	for _, s := range w.acked {
		per[s.pid]++
	}
	for _, p := range w.procs {
		if len(p.members) != 1 {
			continue // a group's pushes: every member publishes, so not comparable
		}
		// Every CU but the SU's own: whether a CU really follows is not visible from outside
		// (one that could not load the process does not), so this is a lower bound.
		followers := 0
		for _, c := range st.withRole(node.RoleCU) {
			if c.Index != p.members[0].Index {
				followers++
			}
		}
		expected += float64(per[p.id] * followers)
	}
	w.mu.Unlock()
	if expected == 0 || merged.count == 0 {
		return 0, merged.count, expected, 0, 0
	}
	// Above 100% when messages no MU acknowledged (a request cut off by the fault) were
	// scheduled anyway: the share is capped, the counts are printed.
	return min(100, 100*merged.count/expected), merged.count, expected, merged.quantile(0.50), merged.quantile(0.99)
}

// quantile is the upper bound of the bucket that holds the f quantile of h (seconds as a
// Duration), ageBeyondBuckets when that is the +Inf bucket.
func (h histogram) quantile(f float64) time.Duration {
	target := f * h.count
	for k, c := range h.counts {
		if c >= target {
			if math.IsInf(h.bounds[k], 1) {
				return ageBeyondBuckets
			}
			return time.Duration(h.bounds[k] * float64(time.Second))
		}
	}
	return ageBeyondBuckets
}

// ageBeyondBuckets stands for a quantile in the histogram's +Inf bucket: later than its
// largest bound, by an unknown amount.
const ageBeyondBuckets = time.Duration(math.MaxInt64)

// age prints a quantile of the push-age histogram.
func age(d time.Duration) string {
	if d == ageBeyondBuckets {
		return "beyond the largest bucket"
	}
	return d.String()
}

// memory reads each node's resident memory: docker stats, or /proc for processes. It
// returns the mean and the largest, in MiB.
func memory(ctx context.Context, st *State) (mean, largest float64, err error) {
	var vals []float64
	if st.Kind == KindDocker {
		args := []string{"stats", "--no-stream", "--format", "{{.Name}} {{.MemUsage}}"}
		for _, l := range st.Nodes {
			args = append(args, l.Container)
		}
		outp, err := dockerOutput(ctx, args...)
		if err != nil {
			return 0, 0, err
		}
		for _, line := range strings.Split(strings.TrimSpace(outp), "\n") {
			f := strings.Fields(line)
			if len(f) >= 2 {
				if v, ok := parseSize(f[1]); ok {
					vals = append(vals, v/(1<<20))
				}
			}
		}
	} else {
		for _, l := range st.Nodes {
			b, err := os.ReadFile("/proc/" + strconv.Itoa(l.PID) + "/status")
			if err != nil {
				continue
			}
			for _, line := range strings.Split(string(b), "\n") {
				if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
					kb, _ := strconv.ParseFloat(f[1], 64)
					vals = append(vals, kb/1024)
				}
			}
		}
	}
	for _, v := range vals {
		mean += v
		largest = max(largest, v)
	}
	if len(vals) > 0 {
		mean /= float64(len(vals))
	}
	return mean, largest, nil
}

// parseSize reads docker's sizes: "45.2MiB", "1.1GiB", "900KiB", "12B".
func parseSize(s string) (float64, bool) {
	for _, u := range []struct {
		suffix string
		mul    float64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"kB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"B", 1}} {
		if strings.HasSuffix(s, u.suffix) {
			v, err := strconv.ParseFloat(strings.TrimSuffix(s, u.suffix), 64)
			return v * u.mul, err == nil
		}
	}
	return 0, false
}

// Print writes the report as a table.
func (r *Report) Print(out io.Writer) {
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	row := func(k, v string) { fmt.Fprintf(tw, "%s\t%s\n", k, v) }
	row("scenario", fmt.Sprintf("%s (%s testnet, %d nodes)", r.Scenario, r.TestnetKind, r.Nodes))
	row("fault", r.Fault)
	row("multi-SU process", r.MultiSU)
	row("messages acknowledged", fmt.Sprintf("%d (%d requests refused while nodes were down)", r.Acked, r.Refused))
	row("lost (must be 0)", strconv.Itoa(r.Lost))
	row("duplicated (must be 0)", strconv.Itoa(r.Duplicated))
	row("gaps (must be 0)", fmt.Sprintf("%d (%d slots checked)", r.Gaps, r.Slots))
	row("slots identical on every SU member", r.Identical)
	row("results the CUs agree on", fmt.Sprintf("%d of %d compared (last message of each process, up to 3 CUs)", r.CUAgree, r.CUCompared))
	row("attestation agreement", fmt.Sprintf("%d of %d messages attested by two or more CUs agree (GET /cu/agreement on the first CU)", r.AttestAgree, r.Attested))
	row("gossip delivery", fmt.Sprintf("%.1f%% (%.0f pushes delivered to other nodes' CUs of %.0f: every message to every CU but its SU's); age at delivery p50 %s, p99 %s (bucket bounds)", r.Delivered, r.Pushes, r.Expected, age(r.P50), age(r.P99)))
	row("CUs following", r.Following)
	if r.Recovered >= 0 {
		row("time to recover", fmt.Sprintf("%v (heal to every acknowledged message scheduled)", r.Recovered.Round(100*time.Millisecond)))
	} else {
		row("time to recover", "NOT RECOVERED")
	}
	row("memory per node", fmt.Sprintf("idle %.0f MiB mean; under the workload %.0f MiB mean, %.0f MiB largest", r.MemIdleMiB, r.MemLoadMiB, r.MemLoadMax))
	verdict := "PASS"
	if len(r.Failures) > 0 {
		verdict = "FAIL: " + strings.Join(r.Failures, "; ")
	}
	row("invariants", verdict)
	_ = tw.Flush()
}
