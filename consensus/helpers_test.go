package consensus

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/aonode/aonode/dataitem"
	"github.com/aonode/aonode/store"
	"github.com/aonode/aonode/su"
	"github.com/hashicorp/raft"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// libp2p and its resource manager keep a few process-wide goroutines.
		goleak.IgnoreAnyFunction("github.com/ipfs/go-log/v2/writer.(*MirrorWriter).logRoutine"),
		goleak.IgnoreTopFunction("github.com/libp2p/go-libp2p/p2p/transport/quicreuse.(*reuse).gc"),
		goleak.IgnoreAnyFunction("github.com/libp2p/go-libp2p/p2p/host/resource-manager.(*resourceManager).background"),
		goleak.IgnoreAnyFunction("github.com/jbenet/goprocess.(*process).CloseAfterChildren"),
		goleak.IgnoreAnyFunction("go.opencensus.io/stats/view.(*worker).start"),
		goleak.IgnoreTopFunction("github.com/libp2p/go-libp2p/p2p/host/eventbus.(*basicBus).Subscribe.func1"),
	)
}

func quiet() *slog.Logger {
	if os.Getenv("AONODE_CONSENSUS_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func newKey(t testing.TB) dataitem.Signer {
	t.Helper()
	_, k, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return dataitem.NewEd25519Signer(k)
}

func signItem(t testing.TB, owner dataitem.Signer, f dataitem.Fields) *dataitem.Item {
	t.Helper()
	it, err := dataitem.Sign(owner, f)
	if err != nil {
		t.Fatal(err)
	}
	return it
}

// processItem names the schedulers, one Scheduler tag each.
func processItem(t testing.TB, owner dataitem.Signer, schedulers []string) *dataitem.Item {
	tags := []dataitem.Tag{
		{Name: "Data-Protocol", Value: "ao"}, {Name: "Variant", Value: "ao.TN.1"},
		{Name: "Type", Value: "Process"}, {Name: "Module", Value: "mod-" + fmt.Sprint(time.Now().UnixNano())},
	}
	for _, s := range schedulers {
		tags = append(tags, dataitem.Tag{Name: "Scheduler", Value: s})
	}
	return signItem(t, owner, dataitem.Fields{Tags: tags, Data: []byte("process")})
}

func messageItem(t testing.TB, owner dataitem.Signer, pid string, data string) *dataitem.Item {
	target, err := dataitem.DecodeID(pid)
	if err != nil {
		t.Fatal(err)
	}
	tags := []dataitem.Tag{{Name: "Data-Protocol", Value: "ao"}, {Name: "Type", Value: "Message"}}
	return signItem(t, owner, dataitem.Fields{Target: target[:], Tags: tags, Data: []byte(data)})
}

// member is one scheduler of a test cluster.
type member struct {
	signer dataitem.Signer
	addr   string
	dir    string
	db     *store.DB
	m      *Manager
}

// cluster is a scheduler set whose members run in this process.
type cluster struct {
	t       testing.TB
	members []*member
	set     []string
	net     func(i int) Network
	opts    func(o *Options)
	mu      sync.Mutex
}

func testTimeouts() Timeouts {
	return Timeouts{Heartbeat: 300 * time.Millisecond, Election: 300 * time.Millisecond, LeaderLease: 300 * time.Millisecond, Commit: 5 * time.Millisecond}
}

func newMembers(t testing.TB, n int) []*member {
	ms := make([]*member, n)
	for i := range ms {
		s := newKey(t)
		ms[i] = &member{signer: s, addr: su.AddressOfOwner(s.Owner()), dir: t.TempDir()}
	}
	return ms
}

// newCluster starts n members; net gives member i its network.
func newCluster(t testing.TB, ms []*member, net func(i int) Network, opts func(*Options)) *cluster {
	c := &cluster{t: t, members: ms, net: net, opts: opts}
	for _, m := range ms {
		c.set = append(c.set, m.addr)
	}
	sort.Strings(c.set)
	for i := range ms {
		c.start(i)
	}
	t.Cleanup(func() {
		for i := range c.members {
			c.stop(i)
		}
	})
	return c
}

func (c *cluster) start(i int) {
	c.t.Helper()
	m := c.members[i]
	if m.db == nil {
		o := store.DefaultOptions(m.dir)
		o.Logger = quiet()
		db, err := store.Open(o)
		if err != nil {
			c.t.Fatal(err)
		}
		m.db = db
	}
	o := Options{DB: m.db, Signer: m.signer, Network: c.net(i), Raft: testTimeouts(), Logger: quiet().With("member", i), TempDir: m.dir}
	if c.opts != nil {
		c.opts(&o)
	}
	mgr, err := New(o)
	if err != nil {
		c.t.Fatal(err)
	}
	m.m = mgr
}

// stop stops member i as a crash would, as far as this process can: Raft and the store close.
func (c *cluster) stop(i int) {
	m := c.members[i]
	if m.m != nil {
		_ = m.m.Close()
		m.m = nil
	}
	if m.db != nil {
		_ = m.db.Close()
		m.db = nil
	}
}

func (c *cluster) running(i int) bool { return c.members[i].m != nil }

// leader waits for a member that leads the group of set and returns its index.
func (c *cluster) leader(set []string, within time.Duration) int {
	c.t.Helper()
	deadline := time.Now().Add(within)
	id := GroupID(set)
	for time.Now().Before(deadline) {
		for i, m := range c.members {
			if m.m == nil {
				continue
			}
			m.m.mu.Lock()
			g := m.m.groups[id]
			m.m.mu.Unlock()
			if g != nil && g.raft.State() == raft.Leader {
				return i
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	return -1
}

// schedule sends req to member i until it is answered or d passes.
func (c *cluster) schedule(i int, req su.Request, d time.Duration) (su.Scheduled, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	m := c.members[i].m
	if m == nil {
		return su.Scheduled{}, errors.New("member down")
	}
	return m.Schedule(ctx, req, c.set)
}

// spawn schedules a new Process on member i.
func (c *cluster) spawn(i int, owner dataitem.Signer) string {
	c.t.Helper()
	p := processItem(c.t, owner, c.set)
	res, err := c.schedule(i, su.Request{Process: p.ID(), Item: p}, 20*time.Second)
	if err != nil {
		c.t.Fatalf("spawn: %v", err)
	}
	if res.Slot.Nonce != 0 {
		c.t.Fatalf("spawn got nonce %d", res.Slot.Nonce)
	}
	return p.ID()
}

// slotsOf reads a member's schedule of pid as raw records, for byte comparison.
func slotsOf(t testing.TB, db *store.DB, pid string) []string {
	t.Helper()
	var out []string
	err := db.Slots(pid, 0, func(s store.Slot) bool {
		a, err := db.Item(s.AssignmentID)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprintf("%d|%s|%s|%x", s.Nonce, s.MessageID, s.AssignmentID, a))
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// converge waits until every running member holds the same schedule of pid, at least min
// slots long, and returns it.
func (c *cluster) converge(pid string, min int, within time.Duration) []string {
	c.t.Helper()
	deadline := time.Now().Add(within)
	for {
		var ref []string
		same := true
		for _, m := range c.members {
			if m.db == nil || m.m == nil {
				continue
			}
			s := slotsOf(c.t, m.db, pid)
			if ref == nil {
				ref = s
			} else if !slices.Equal(ref, s) {
				same = false
			}
		}
		if same && len(ref) >= min {
			for _, m := range c.members {
				if m.db != nil && m.m != nil {
					if _, err := su.VerifySchedule(m.db, pid); err != nil {
						c.t.Fatalf("VerifySchedule on %s: %v", m.addr, err)
					}
				}
			}
			return ref
		}
		if time.Now().After(deadline) {
			for i, m := range c.members {
				if m.db != nil && m.m != nil {
					c.t.Logf("member %d: %d slots", i, len(slotsOf(c.t, m.db, pid)))
				}
			}
			c.t.Fatalf("members did not converge on %s (want >= %d slots)", pid, min)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func contextWithTimeout(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}
