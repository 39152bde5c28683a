package testnet

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/aonode/aonode/dataitem"
	"github.com/aonode/aonode/dataitem/aoapi"
	"github.com/aonode/aonode/node"
)

// Clock is the time a chaos run reads: clock.Wall, or a manual clock in tests.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

// proc is one process the workload sends to, and the SUs that must all hold its slots.
type proc struct {
	id      string
	members []Line
}

// sent is one message an MU acknowledged (202: queued durably).
type sent struct {
	pid string
	id  string
	at  time.Time
}

// workload sends messages to random MUs for several processes at a steady rate and keeps
// what was acknowledged.
type workload struct {
	a     *actor
	clk   Clock
	procs []proc
	mus   []Line
	rng   *rand.Rand
	run0  uint64 // the run's seed

	mu    sync.Mutex
	acked []sent
	// followers are, per process, the CUs that loaded it (so follow its topic).
	followers map[string]map[int]bool
	refused   int
	seq       int
}

// setup spawns n processes, each on another SU, through the MUs, plus extra (a multi-SU one)
// when given; then every CU follows every process, so the gossip figures count all of them.
func (w *workload) setup(ctx context.Context, n int, extra *proc) error {
	if _, err := w.a.publishModule(ctx); err != nil {
		return err
	}
	sus := w.a.st.withRole(node.RoleSU)
	w.mus = w.a.st.withRole(node.RoleMU)
	if len(sus) == 0 || len(w.mus) == 0 {
		return fmt.Errorf("the workload needs nodes with the su and mu roles")
	}
	for i := range n {
		su := sus[i%len(sus)]
		// The run's seed in the name: the same key signing the same tags would make the same
		// process id as an earlier run's (ed25519 signatures are deterministic).
		pid, err := w.a.spawn(ctx, w.mus[i%len(w.mus)], fmt.Sprintf("chaos-%x-%d", w.run0, i), []string{su.Address}, time.Minute)
		if err != nil {
			return err
		}
		w.procs = append(w.procs, proc{id: pid, members: []Line{su}})
	}
	if extra != nil {
		w.procs = append(w.procs, *extra)
	}
	w.follow(ctx, w.a.st.withRole(node.RoleCU))
	return nil
}

// follow asks each CU for every process's first result: a CU follows a process's topic once it
// has loaded it. Those that answer are the process's followers, whose deliveries the gossip
// figures expect; a CU that could not load it (a timeout on a loaded machine) is tried again.
func (w *workload) follow(ctx context.Context, cus []Line) {
	// One minute for all of it: on a loaded machine a CU that cannot load a process in that
	// time is not counted as following, and the run goes on.
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for _, c := range cus {
		for _, p := range w.procs {
			wg.Go(func() {
				sem <- struct{}{}
				defer func() { <-sem }()
				for range 5 {
					// Without no-busy: a CU that has loaded the process (and so follows it)
					// but is still evaluating answers 202 at once.
					cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
					_, err := w.a.api.CU(c.HTTP+"/cu").ResultBytes(cctx, p.id, p.id, false)
					cancel()
					if err == nil || aoapi.StatusOf(err) == http.StatusAccepted {
						w.mu.Lock()
						if w.followers == nil {
							w.followers = map[string]map[int]bool{}
						}
						if w.followers[p.id] == nil {
							w.followers[p.id] = map[int]bool{}
						}
						w.followers[p.id][c.Index] = true
						w.mu.Unlock()
						return
					}
					if ctx.Err() != nil {
						return
					}
					sleep(ctx, w.clk, time.Second)
				}
			})
		}
	}
	wg.Wait()
}

// run sends at rate messages a second until ctx ends, each to a random process through a
// random MU, several in flight at once so a hung MU does not stall the rest.
func (w *workload) run(ctx context.Context, rate float64) {
	var wg sync.WaitGroup
	defer wg.Wait()
	every := time.Duration(float64(time.Second) / rate)
	sem := make(chan struct{}, 32)
	for {
		select {
		case <-ctx.Done():
			return
		case <-w.clk.After(every):
		}
		w.mu.Lock()
		p := w.procs[w.rng.IntN(len(w.procs))]
		mu := w.mus[w.rng.IntN(len(w.mus))]
		w.seq++
		seq := w.seq
		w.mu.Unlock()
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return
		}
		wg.Go(func() {
			defer func() { <-sem }()
			w.send(ctx, p, mu, seq)
		})
	}
}

func (w *workload) send(ctx context.Context, p proc, mu Line, seq int) {
	target, err := dataitem.DecodeID(p.id)
	if err != nil {
		return
	}
	it, err := dataitem.Sign(w.a.signer, dataitem.Fields{Target: target[:], Data: []byte(" "),
		Tags: aoTags("Type", "Message", "Action", "Ping", "Seq", strconv.Itoa(seq))})
	if err != nil {
		return
	}
	// Not the run's ctx: a request in flight when the run ends still gets its answer, or
	// an acknowledged message would go uncounted.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	_, err = w.a.api.MU(mu.HTTP+"/mu").Post(cctx, it.Raw())
	w.mu.Lock()
	defer w.mu.Unlock()
	if err != nil {
		w.refused++
		return
	}
	w.acked = append(w.acked, sent{pid: p.id, id: it.ID(), at: w.clk.Now()})
}

// following says how many (CU, process) pairs answered the follow request.
func (w *workload) following(cus int) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, f := range w.followers {
		n += len(f)
	}
	return fmt.Sprintf("%d of %d (CU, process) pairs confirmed the process loaded", n, cus*len(w.procs))
}

// slot is one entry of a schedule as an SU serves it.
type slot struct {
	nonce      int64
	message    string
	assignment string
}

// schedule reads a process's whole list from one SU, page by page.
func schedule(ctx context.Context, api *aoapi.Client, su Line, pid string) ([]slot, error) {
	var out []slot
	from := int64(-1)
	for {
		f := from
		page, err := api.SU(su.HTTP+"/su").Page(ctx, pid, aoapi.PageQuery{FromNonce: &f, Limit: 1000})
		if err != nil {
			return nil, err
		}
		for _, e := range page.Edges {
			a := e.Node.Assignment
			if a == nil {
				continue
			}
			n, _ := aoapi.TagValue(a.Tags, "Nonce")
			m, _ := aoapi.TagValue(a.Tags, "Message")
			nonce, err := strconv.ParseInt(n, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("slot of %s at node %d without a Nonce", pid, su.Index)
			}
			out = append(out, slot{nonce: nonce, message: m, assignment: a.ID})
			from = nonce
		}
		if !page.PageInfo.HasNextPage || len(page.Edges) == 0 {
			return out, nil
		}
	}
}

// checks are the invariants of a run.
type checks struct {
	lost, duplicated, gaps int
	identical              bool
	slots                  int
}

// check reads every member's schedule of every process and counts what was lost (acked, not
// scheduled), scheduled twice, skipped, and whether every member holds the same slots.
func (w *workload) check(ctx context.Context) (checks, error) {
	c := checks{identical: true}
	w.mu.Lock()
	acked := append([]sent(nil), w.acked...)
	w.mu.Unlock()
	want := map[string][]string{}
	for _, s := range acked {
		want[s.pid] = append(want[s.pid], s.id)
	}
	for _, p := range w.procs {
		first, identical, err := w.memberSchedules(ctx, p)
		if err != nil {
			return c, err
		}
		c.identical = c.identical && identical
		c.slots += len(first)
		seen := map[string]int{}
		for i, s := range first {
			if s.nonce != int64(i) {
				c.gaps++
			}
			seen[s.message]++
		}
		for id, k := range seen {
			if k > 1 {
				c.duplicated += k - 1
				_ = id
			}
		}
		for _, id := range want[p.id] {
			if seen[id] == 0 {
				c.lost++
			}
		}
	}
	return c, nil
}

// convergeWait bounds how long check waits for a process's members to hold the same slots. A
// follower applies committed slots after the leader (it verifies every signature), so on a
// loaded machine it can be seconds behind: behind is not divergent.
const convergeWait = 60 * time.Second

// memberSchedules reads a process's schedule from each of its members until all hold the same
// slots or convergeWait passes, and returns the longest. identical is false when they never
// converge: a member that holds a different slot at some nonce (divergence), or one still behind.
func (w *workload) memberSchedules(ctx context.Context, p proc) (longest []slot, identical bool, err error) {
	deadline := w.clk.Now().Add(convergeWait)
	for {
		var lists [][]slot
		for _, m := range p.members {
			sl, err := schedule(ctx, w.a.api, m, p.id)
			if err != nil {
				return nil, false, err
			}
			lists = append(lists, sl)
		}
		longest, identical = lists[0], true
		prefixes := true
		for _, sl := range lists[1:] {
			if len(sl) > len(longest) {
				longest = sl
			}
		}
		for _, sl := range lists {
			identical = identical && sameSlots(sl, longest)
			prefixes = prefixes && sameSlots(sl, longest[:len(sl)])
		}
		if identical || !prefixes || !w.clk.Now().Before(deadline) {
			return longest, identical, nil
		}
		select {
		case <-ctx.Done():
			return longest, false, ctx.Err()
		case <-w.clk.After(time.Second):
		}
	}
}

func sameSlots(a, b []slot) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// missing counts acknowledged messages not yet in their process's schedule at its first
// member: the recovery wait.
func (w *workload) missing(ctx context.Context) (int, error) {
	w.mu.Lock()
	acked := append([]sent(nil), w.acked...)
	w.mu.Unlock()
	miss := 0
	for _, p := range w.procs {
		sl, err := schedule(ctx, w.a.api, p.members[0], p.id)
		if err != nil {
			return 0, err
		}
		have := map[string]bool{}
		for _, s := range sl {
			have[s.message] = true
		}
		for _, s := range acked {
			if s.pid == p.id && !have[s.id] {
				miss++
			}
		}
	}
	return miss, nil
}

// attested asks the first CU for its attestation agreement (GET /cu/agreement) on the last
// acknowledged message of each process: how many messages had attestations from two or more
// CUs, how many of those all agree, and how many disagree.
func (w *workload) attested(ctx context.Context, cus []Line) (multi, agree, disagree int) {
	if len(cus) == 0 {
		return 0, 0, 0
	}
	last := map[string]string{}
	w.mu.Lock()
	for _, s := range w.acked {
		last[s.pid] = s.id
	}
	w.mu.Unlock()
	for _, p := range w.procs {
		if last[p.id] == "" {
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		ag, err := w.a.api.CU(cus[0].HTTP+"/cu").Agreement(cctx, p.id, url.Values{"message": {last[p.id]}})
		cancel()
		if err != nil || len(ag.Attestations) < 2 {
			continue
		}
		multi++
		if ag.Agree {
			agree++
		} else {
			disagree++
		}
	}
	return multi, agree, disagree
}

// agreement asks up to three CUs for the result of the last acknowledged message of each
// process and counts the messages whose results are byte-identical on all that answered.
func (w *workload) agreement(ctx context.Context, cus []Line) (agree, compared int) {
	last := map[string]string{}
	w.mu.Lock()
	for _, s := range w.acked {
		last[s.pid] = s.id
	}
	w.mu.Unlock()
	for _, p := range w.procs {
		id := last[p.id]
		if id == "" {
			continue
		}
		var got [][]byte
		for _, c := range cus[:min(3, len(cus))] {
			cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			b, err := w.a.api.CU(c.HTTP+"/cu").ResultBytes(cctx, p.id, id, true)
			cancel()
			if err == nil {
				got = append(got, b)
			}
		}
		if len(got) < 2 {
			continue
		}
		compared++
		same := true
		for _, b := range got[1:] {
			same = same && bytes.Equal(b, got[0])
		}
		if same {
			agree++
		}
	}
	return agree, compared
}

// httpGet reads a small answer (metrics, consensus state) with the workload's client.
func (w *workload) httpGet(ctx context.Context, base, path string) ([]byte, error) {
	return w.a.api.Do(ctx, http.MethodGet, base, path, nil, "", nil)
}
