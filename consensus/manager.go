package consensus

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/aonode/aonode/dataitem"
	"github.com/aonode/aonode/dataitem/aoapi"
	"github.com/aonode/aonode/store"
	"github.com/aonode/aonode/su"
)

// Timeouts are Raft's timing knobs. The defaults suit a LAN or one machine (failover well
// under a second); operators of a set spread over a WAN raise them above their round trips.
type Timeouts struct {
	// Heartbeat: how long a follower waits without hearing from the leader before it stands
	// for election (Raft waits between one and two of these).
	Heartbeat time.Duration
	// Election: how long a candidate waits for votes before it tries again.
	Election time.Duration
	// LeaderLease: how long a leader keeps leading without reaching a majority (at most
	// Heartbeat).
	LeaderLease time.Duration
	// Commit: how long the leader waits before telling followers of a new commit index
	// when no new entries are flowing (bounds how stale a follower's reads are).
	Commit time.Duration
}

// DefaultTimeouts: median failover about half a second on loopback (README figures).
func DefaultTimeouts() Timeouts {
	return Timeouts{Heartbeat: 250 * time.Millisecond, Election: 250 * time.Millisecond, LeaderLease: 250 * time.Millisecond, Commit: 10 * time.Millisecond}
}

// WithDefaults fills the zero fields from DefaultTimeouts (LeaderLease at most Heartbeat).
func (t Timeouts) WithDefaults() Timeouts {
	def := DefaultTimeouts()
	if t.Heartbeat <= 0 {
		t.Heartbeat = def.Heartbeat
	}
	if t.Election <= 0 {
		t.Election = def.Election
	}
	if t.LeaderLease <= 0 {
		t.LeaderLease = min(def.LeaderLease, t.Heartbeat)
	}
	if t.Commit <= 0 {
		t.Commit = def.Commit
	}
	return t
}

// Validate reports timeouts Raft refuses (after WithDefaults): each at least 5 ms (Commit
// 1 ms), the lease at most the heartbeat, the election at least the heartbeat.
func (t Timeouts) Validate() error {
	t = t.WithDefaults()
	switch {
	case t.Heartbeat < 5*time.Millisecond || t.Election < 5*time.Millisecond || t.LeaderLease < 5*time.Millisecond:
		return errors.New("consensus: raft heartbeat, election and leader-lease timeouts must be at least 5ms")
	case t.Commit < time.Millisecond:
		return errors.New("consensus: raft commit timeout must be at least 1ms")
	case t.LeaderLease > t.Heartbeat:
		return errors.New("consensus: raft leader-lease timeout must not exceed the heartbeat timeout")
	case t.Election < t.Heartbeat:
		return errors.New("consensus: raft election timeout must not be below the heartbeat timeout")
	}
	return nil
}

// Options configure a Manager. DB, Signer and Network are required.
type Options struct {
	DB      *store.DB
	Signer  dataitem.Signer
	Network Network
	// Clock returns unix milliseconds (default: the wall clock).
	Clock func() int64
	// BlockHeight is stamped on assignments (default: always 0).
	BlockHeight func() uint64
	Raft        Timeouts // zero fields take DefaultTimeouts
	// WriteTimeout bounds a write whose context has no deadline (default 10 s).
	WriteTimeout time.Duration
	// MaxEntryRecords and MaxEntryBytes bound the slots of one Raft entry (defaults 1024
	// and 1 MiB); Pipeline bounds the entries a leader has in flight (default 4).
	MaxEntryRecords int
	MaxEntryBytes   int
	Pipeline        int
	// Snapshots (Raft's knobs; defaults 8192 entries, 2 min, 10240 trailing entries).
	SnapshotThreshold uint64
	SnapshotInterval  time.Duration
	TrailingLogs      uint64
	// TempDir holds snapshots being sent or received (default os.TempDir()).
	TempDir string
	// Conflicts receives two valid assignments for one slot, both signed by members, when an
	// entry carries one for a slot the store holds with another (equivocation evidence);
	// nil drops them after logging.
	Conflicts ConflictSink
	Metrics   *Metrics
	Logger    *slog.Logger
}

// ConflictSink takes two signed assignments for one slot of a process.
type ConflictSink interface {
	AssignmentPair(a, b *dataitem.Item)
}

// Manager runs this node's Raft groups: one per scheduler set it is a member of. It is the
// consensus sequencer: Schedule orders a request of a process whose set has two or more
// members.
type Manager struct {
	opts    Options
	self    string
	signer  *su.AssignmentSigner
	metrics *Metrics
	log     *slog.Logger

	anchorMu sync.Mutex
	anchorR  *mrand.ChaCha8

	mu      sync.Mutex
	groups  map[string]*group
	closed  bool
	ctx     context.Context
	cancel  context.CancelFunc
	bg      sync.WaitGroup
	opening map[string]chan struct{}
}

// New starts a Manager and restarts the groups recorded in the store.
func New(opts Options) (*Manager, error) {
	if opts.DB == nil || opts.Signer == nil || opts.Network == nil {
		return nil, errors.New("consensus: New needs a DB, a Signer and a Network")
	}
	if opts.Clock == nil {
		opts.Clock = func() int64 { return time.Now().UnixMilli() }
	}
	if opts.BlockHeight == nil {
		opts.BlockHeight = func() uint64 { return 0 }
	}
	opts.Raft = opts.Raft.WithDefaults()
	if err := opts.Raft.Validate(); err != nil {
		return nil, err
	}
	if opts.WriteTimeout <= 0 {
		opts.WriteTimeout = 10 * time.Second
	}
	if opts.MaxEntryRecords <= 0 {
		opts.MaxEntryRecords = 1024
	}
	opts.MaxEntryRecords = min(opts.MaxEntryRecords, maxEntryRecords)
	if opts.MaxEntryBytes <= 0 {
		opts.MaxEntryBytes = 1 << 20
	}
	if opts.Pipeline <= 0 {
		opts.Pipeline = 4
	}
	if opts.SnapshotThreshold == 0 {
		opts.SnapshotThreshold = 8192
	}
	if opts.SnapshotInterval <= 0 {
		opts.SnapshotInterval = 2 * time.Minute
	}
	if opts.TrailingLogs == 0 {
		opts.TrailingLogs = 10240
	}
	if opts.TempDir == "" {
		opts.TempDir = os.TempDir()
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	var seed [32]byte
	if _, err := rand.Read(seed[:]); err != nil {
		return nil, fmt.Errorf("consensus: seed anchors: %w", err)
	}
	m := &Manager{
		opts:    opts,
		self:    su.AddressOfOwner(opts.Signer.Owner()),
		signer:  su.NewAssignmentSigner(opts.Signer),
		metrics: opts.Metrics,
		log:     opts.Logger.With("component", "consensus"),
		anchorR: mrand.NewChaCha8(seed),
		groups:  map[string]*group{},
		opening: map[string]chan struct{}{},
	}
	m.ctx, m.cancel = context.WithCancel(context.Background())
	opts.Network.Serve(m.handleCall)
	if err := m.restart(); err != nil {
		_ = m.Close()
		return nil, err
	}
	return m, nil
}

// Groups is the number of groups this member runs.
func (m *Manager) Groups() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.groups)
}

// Self is this member's scheduler address.
func (m *Manager) Self() string { return m.self }

func (m *Manager) anchor(b []byte) error {
	m.anchorMu.Lock()
	defer m.anchorMu.Unlock()
	_, err := m.anchorR.Read(b)
	return err
}

// groupDef is the stored definition of a group: what restarts it at boot.
type groupDef struct {
	Members []string `json:"members"`
	// Process is the Process item that named the set first (its signature is the proof
	// shown to the other members when this one announces the group).
	Process string `json:"process"`
}

// restart opens every group recorded in the store and announces it to the other members.
func (m *Manager) restart() error {
	var defs []groupDef
	err := m.opts.DB.Scan(store.KsConsensusGroups, nil, nil, false, func(_, v []byte) bool {
		var d groupDef
		if json.Unmarshal(v, &d) == nil {
			defs = append(defs, d)
		}
		return true
	})
	if err != nil {
		return err
	}
	for _, d := range defs {
		if _, err := m.group(d.Members, d.Process, nil); err != nil {
			return err
		}
	}
	return nil
}

// group returns the running group of members, opening (and, the first time, recording and
// announcing) it. process is the id of a Process naming the set, raw its bytes when at hand.
func (m *Manager) group(members []string, process string, raw []byte) (*group, error) {
	id := GroupID(members)
	for {
		m.mu.Lock()
		if m.closed {
			m.mu.Unlock()
			return nil, fmt.Errorf("%w: consensus stopped", su.ErrUnavailable)
		}
		if g := m.groups[id]; g != nil {
			m.mu.Unlock()
			return g, nil
		}
		if wait := m.opening[id]; wait != nil {
			m.mu.Unlock()
			<-wait
			continue
		}
		wait := make(chan struct{})
		m.opening[id] = wait
		m.mu.Unlock()
		g, err := m.open(id, members, process, raw)
		m.mu.Lock()
		delete(m.opening, id)
		close(wait)
		if err == nil {
			if m.closed {
				m.mu.Unlock()
				_ = g.close()
				return nil, fmt.Errorf("%w: consensus stopped", su.ErrUnavailable)
			}
			m.groups[id] = g
			if m.metrics != nil {
				m.metrics.groups.Inc()
			}
		}
		m.mu.Unlock()
		return g, err
	}
}

// MaxGroups bounds the groups a member runs: each is a Raft instance with its own heartbeats.
const MaxGroups = 1024

func (m *Manager) open(id string, members []string, process string, raw []byte) (*group, error) {
	key := []byte(id)
	if ok, err := m.opts.DB.Has(store.KsConsensusGroups, key); err != nil {
		return nil, err
	} else if !ok {
		// A new set: every member must be a node the network knows (a set naming addresses
		// nobody answers for could never commit, yet would run forever), within the bound.
		for _, a := range members {
			if !m.opts.Network.Known(a) {
				return nil, su.Refuse(su.ErrWrongScheduler, "scheduler %s of the set is not a known SU (no node record)", a)
			}
		}
		if m.Groups() >= MaxGroups {
			return nil, fmt.Errorf("%w: this SU already runs %d scheduler sets", su.ErrUnavailable, MaxGroups)
		}
		v, _ := json.Marshal(groupDef{Members: members, Process: process})
		b := m.opts.DB.NewBatch()
		b.Set(store.KsConsensusGroups, key, v)
		if err := m.opts.DB.Commit(context.Background(), b); err != nil {
			return nil, err
		}
		if len(members) == 2 {
			m.log.Warn("consensus: a scheduler set of two cannot survive the loss of either member", "group", id, "members", members)
		}
	}
	g, err := m.openGroup(id, members)
	if err != nil {
		return nil, err
	}
	m.bg.Add(1)
	go m.announce(g, process, raw)
	return g, nil
}

// announce shows the Process that defines the group to the other members until each has
// answered, so that a member that learns of the set first does not wait for the others to
// see the process on their own (they need the group running to form a majority).
func (m *Manager) announce(g *group, process string, raw []byte) {
	defer m.bg.Done()
	if raw == nil {
		var err error
		if raw, err = m.opts.DB.Item(process); err != nil {
			return // the Process never got its slot here; whoever spawns it again announces it
		}
	}
	req := encodeAnnounce(raw)
	todo := slices.DeleteFunc(slices.Clone(g.members), func(a string) bool { return a == m.self })
	backoff := 200 * time.Millisecond
	for len(todo) > 0 {
		for i := 0; i < len(todo); {
			ctx, cancel := context.WithTimeout(m.ctx, 5*time.Second)
			resp, err := m.opts.Network.Call(ctx, todo[i], req)
			cancel()
			if err == nil && len(resp) > 0 && resp[0] == statusOK {
				todo = slices.Delete(todo, i, i+1)
				continue
			}
			i++
		}
		if len(todo) == 0 {
			return
		}
		select {
		case <-m.ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 10*time.Second)
	}
}

// Schedule orders req among members (the sorted scheduler set of req's process, two or
// more, with this node among them). The slot is committed by a majority and durable here
// before it returns; a request for a message that already has a slot returns that slot.
func (m *Manager) Schedule(ctx context.Context, req su.Request, members []string) (su.Scheduled, error) {
	if len(members) < 2 || !slices.Contains(members, m.self) {
		return su.Scheduled{}, fmt.Errorf("consensus: %s is not a member of %v", m.self, members)
	}
	var raw []byte
	if req.Item != nil && req.Item.ID() == req.Process {
		raw = req.Item.Raw()
	}
	g, err := m.group(members, req.Process, raw)
	if err != nil {
		return su.Scheduled{}, err
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, m.opts.WriteTimeout)
		defer cancel()
	}
	res, err := g.schedule(ctx, req)
	if err == nil && len(members) == 2 && res.Slot.Nonce == 0 {
		res.Warning = "this process has a scheduler set of two: it stops taking messages when either scheduler is down"
	}
	return res, err
}

// existing returns the slot pid already gave message mid, if any, as Schedule answers it.
func (m *Manager) existing(pid, mid string) (su.Scheduled, bool, error) {
	s, err := m.opts.DB.SlotByMessage(pid, mid)
	if errors.Is(err, store.ErrNotFound) {
		return su.Scheduled{}, false, nil
	}
	if err != nil {
		return su.Scheduled{}, false, err
	}
	raw, err := m.opts.DB.Item(s.AssignmentID)
	if err != nil {
		return su.Scheduled{}, false, err
	}
	a, err := dataitem.Parse(raw)
	if err != nil {
		return su.Scheduled{}, false, err
	}
	return su.Scheduled{Slot: s, Assignment: a}, true, nil
}

// Status is GET /su/consensus/{pid}: ok is false when pid is not a process of a group of this
// member.
func (m *Manager) Status(pid string) (aoapi.Consensus, bool, error) {
	raw, err := m.opts.DB.Item(pid)
	if errors.Is(err, store.ErrNotFound) {
		return aoapi.Consensus{}, false, nil
	}
	if err != nil {
		return aoapi.Consensus{}, false, err
	}
	it, err := dataitem.Parse(raw)
	if err != nil {
		return aoapi.Consensus{}, false, err
	}
	members := aoapi.Schedulers(it.Tags)
	id := GroupID(members)
	m.mu.Lock()
	g := m.groups[id]
	m.mu.Unlock()
	if g == nil {
		return aoapi.Consensus{}, false, nil
	}
	st := aoapi.Consensus{
		Process: pid, Group: id, Members: members, Leader: g.leaderAddr(),
		Term: g.raft.CurrentTerm(), CommitIndex: g.raft.CommitIndex(),
	}
	if s, err := m.opts.DB.LastSlot(pid); err == nil {
		st.LastNonce = s.Nonce
	} else if !errors.Is(err, store.ErrNotFound) {
		return aoapi.Consensus{}, false, err
	}
	if len(members) == 2 {
		st.Warning = "a scheduler set of two stops taking messages when either member is down"
	}
	return st, true, nil
}

// Close stops every group and the network handler.
func (m *Manager) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	groups := m.groups
	m.groups = map[string]*group{}
	m.mu.Unlock()
	m.cancel()
	m.opts.Network.Serve(nil)
	var errs []error
	for _, g := range groups {
		errs = append(errs, g.close())
		if m.metrics != nil {
			m.metrics.groups.Dec()
		}
	}
	m.bg.Wait()
	return errors.Join(errs...)
}
