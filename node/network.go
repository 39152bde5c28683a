package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aonode/aonode/cu"
	"github.com/aonode/aonode/dataitem"
	"github.com/aonode/aonode/mu"
	"github.com/aonode/aonode/p2p"
	"github.com/aonode/aonode/store"
	"github.com/aonode/aonode/su"
	"github.com/libp2p/go-libp2p/core/crypto"
	libp2pnet "github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/prometheus/client_golang/prometheus"
)

// ErrNoScheduler reports a process whose scheduler no known node serves (yet): its process
// item could not be fetched from peers, or no node record names its Scheduler address.
var ErrNoScheduler = errors.New("node: no known SU serves the process")

// Bounds of the network's caches: process definitions never change, so the caches only
// forget to stay small.
const (
	maxSchedulerCache = 16384
	maxFollowed       = 4096
	// missTTL is how long a process no peer had is answered "unknown" without asking the
	// network again: look-ups come from untrusted requests, and each can cost many streams.
	missTTL        = 5 * time.Second
	publishTimeout = 10 * time.Second
	resolveTimeout = 20 * time.Second
)

// network is a node's peer-to-peer side: the libp2p host, the routing of SU and CU requests
// through its node directory in place of configured URLs, the SU's pushes of new slots and
// the CU's following of process topics.
type network struct {
	host     *p2p.Host
	db       *store.DB
	client   *http.Client
	log      *slog.Logger
	selfAddr string // this node's wallet address
	selfSU   string // this node's SU base URL, when it runs the su role

	mu      sync.Mutex
	scheds  map[string][]string  // process id → its Scheduler tags
	misses  map[string]time.Time // process id → when a look-up last failed
	clients map[string]*cu.SUClient
	follows map[string]*p2p.ProcessSubscription
	wake    func(pid string) error // the CU's, once built
	closed  bool
	ctx     context.Context // ends with close: bounds the followers' dials
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

// startNetwork starts the libp2p host when the Config asks for one. It runs after the
// listener exists (the node record announces its URL) and before the roles are built (they
// route through it).
func (n *Node) startNetwork(signer dataitem.Signer) error {
	if n.cfg.P2P == nil {
		return nil
	}
	id, err := p2p.NewIdentity(signer, nil)
	if errors.Is(err, p2p.ErrPeerKeyRequired) && !n.cfg.InMemory {
		// A wallet that cannot double as a libp2p key gets its own beside the store.
		var pk crypto.PrivKey
		if pk, err = p2p.LoadOrCreatePeerKey(filepath.Join(n.cfg.DataDir, "libp2p.key")); err == nil {
			id, err = p2p.NewIdentity(signer, pk)
		}
	}
	if err != nil {
		return fmt.Errorf("node: p2p identity: %w", err)
	}
	var roles []string
	for _, r := range n.cfg.Roles {
		if slices.Contains([]string{p2p.RoleSU, p2p.RoleCU, p2p.RoleMU}, r) {
			roles = append(roles, r)
		}
	}
	nw := &network{
		db:       n.db,
		client:   n.client,
		log:      n.log.With("component", "network"),
		selfAddr: id.Address,
		scheds:   map[string][]string{},
		misses:   map[string]time.Time{},
		clients:  map[string]*cu.SUClient{},
		follows:  map[string]*p2p.ProcessSubscription{},
	}
	nw.ctx, nw.cancel = context.WithCancel(context.Background())
	if n.cfg.has(RoleSU) {
		nw.selfSU = n.urls.Node + "/su"
	}
	publicURL := n.urls.Node
	if n.cfg.PublicURL != "" {
		publicURL = strings.TrimRight(n.cfg.PublicURL, "/")
	}
	nw.host, err = p2p.New(*n.cfg.P2P, p2p.Deps{
		Identity:   id,
		Info:       p2p.NodeInfo{Roles: roles, URL: publicURL, Version: Version},
		Items:      storeItems{n.db},
		Schedulers: nw,
		Logger:     n.log.With("component", "p2p"),
		Registerer: n.registry,
	})
	if err != nil {
		nw.cancel()
		return fmt.Errorf("node: starting p2p: %w", err)
	}
	n.net = nw
	return nil
}

// validateNetwork checks the p2p settings of c.
func (c Config) validateNetwork() error {
	if c.P2P == nil {
		if c.PublicURL != "" {
			return errors.New("node: PublicURL is announced over p2p, which is off")
		}
		return nil
	}
	if err := c.P2P.Validate(); err != nil {
		return fmt.Errorf("node: %w", err)
	}
	if c.PublicURL != "" {
		u, err := url.Parse(c.PublicURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			return fmt.Errorf("node: public URL %q is not an http(s) base URL", c.PublicURL)
		}
	}
	return nil
}

// Version is what a node announces in its record.
const Version = "aonode/1"

// Host is the node's libp2p host, nil without p2p.
func (n *Node) Host() *p2p.Host {
	if n.net == nil {
		return nil
	}
	return n.net.host
}

// close stops following and closes the host. The CU is closed before: nothing wakes it.
func (nw *network) close() error {
	nw.cancel()
	nw.mu.Lock()
	nw.closed = true
	subs := nw.follows
	nw.follows = map[string]*p2p.ProcessSubscription{}
	nw.mu.Unlock()
	for _, s := range subs {
		s.Close()
	}
	nw.wg.Wait()
	if err := nw.host.Close(); err != nil {
		return fmt.Errorf("node: closing p2p: %w", err)
	}
	return nil
}

// storeItems serves the store's items to peers.
type storeItems struct{ db *store.DB }

func (s storeItems) Item(id string) ([]byte, error) {
	raw, err := s.db.Item(id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%w: %s", p2p.ErrNotFound, id)
	}
	return raw, err
}

// ProcessSchedulers implements p2p.ProcessSchedulers from the processes this node has met:
// cached, else held in the store. It never goes to the network (it runs in the validator).
func (nw *network) ProcessSchedulers(pid string) ([]string, bool) {
	nw.mu.Lock()
	s, ok := nw.scheds[pid]
	nw.mu.Unlock()
	if ok {
		return s, true
	}
	raw, err := nw.db.Item(pid)
	if err != nil {
		return nil, false
	}
	it, err := dataitem.Parse(raw)
	if err != nil {
		return nil, false
	}
	s, ok = schedulerTags(it)
	if ok {
		nw.remember(pid, s)
	}
	return s, ok
}

// schedulerTags are the Scheduler tags of a Process item.
func schedulerTags(it *dataitem.Item) ([]string, bool) {
	if typ, _ := it.Tag("Type"); typ != "Process" {
		return nil, false
	}
	var out []string
	for _, t := range it.Tags {
		if t.Name == "Scheduler" && t.Value != "" {
			out = append(out, t.Value)
		}
	}
	return out, len(out) > 0
}

func (nw *network) remember(pid string, scheds []string) {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	if len(nw.scheds) >= maxSchedulerCache {
		clear(nw.scheds)
	}
	nw.scheds[pid] = scheds
}

// schedulers are the Scheduler tags of process pid, fetching the process item from peers
// when this node has not met it.
func (nw *network) schedulers(ctx context.Context, pid string) ([]string, error) {
	if s, ok := nw.ProcessSchedulers(pid); ok {
		return s, nil
	}
	if _, err := dataitem.DecodeID(pid); err != nil {
		return nil, fmt.Errorf("%w: %q is not a process id", ErrNoScheduler, clipForError(pid, 64))
	}
	nw.mu.Lock()
	missed, ok := nw.misses[pid]
	nw.mu.Unlock()
	if ok && time.Since(missed) < missTTL {
		return nil, fmt.Errorf("%w: process %s was not found moments ago", ErrNoScheduler, pid)
	}
	ctx, cancel := context.WithTimeout(ctx, resolveTimeout)
	defer cancel()
	it, err := nw.fetch(ctx, pid)
	if err != nil {
		if errors.Is(err, p2p.ErrNotFound) {
			nw.missed(pid)
		}
		return nil, fmt.Errorf("%w: process %s: %v", ErrNoScheduler, pid, err)
	}
	s, ok := schedulerTags(it)
	if !ok {
		nw.missed(pid)
		return nil, fmt.Errorf("%w: %s is not a Process with a Scheduler", ErrNoScheduler, pid)
	}
	nw.remember(pid, s)
	return s, nil
}

func (nw *network) missed(pid string) {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	if len(nw.misses) >= maxSchedulerCache {
		clear(nw.misses)
	}
	nw.misses[pid] = time.Now()
}

// fetch gets item id from the peers; when none of the connected ones has it, it dials the
// directory's nodes it is not connected to and asks again: a node holds connections to its
// bootstrap peers and neighbours, not to every node whose record it has.
func (nw *network) fetch(ctx context.Context, id string) (*dataitem.Item, error) {
	it, err := nw.host.Fetch(ctx, id)
	if err == nil || !errors.Is(err, p2p.ErrNotFound) {
		return it, err
	}
	if nw.dialDirectory(ctx, nil) == 0 {
		return nil, err
	}
	return nw.host.Fetch(ctx, id)
}

// maxDials bounds how many directory nodes one look-up dials.
const maxDials = 16

// dialDirectory connects to the directory's nodes that want (all when nil) accepts and this
// node is not connected to, and reports how many it reached.
func (nw *network) dialDirectory(ctx context.Context, want func(p2p.NodeRecord) bool) int {
	h := nw.host
	net := h.Libp2p().Network()
	reached := 0
	tried := 0
	for _, r := range h.Directory().Peers() {
		if r.PeerID == h.ID() || len(r.ListenAddrs) == 0 || (want != nil && !want(r)) {
			continue
		}
		if net.Connectedness(r.PeerID) == libp2pnet.Connected {
			continue
		}
		if tried++; tried > maxDials {
			break
		}
		if err := h.Connect(ctx, peer.AddrInfo{ID: r.PeerID, Addrs: r.ListenAddrs}); err != nil {
			nw.log.Debug("dialling a directory node", "peer", r.PeerID, "err", err)
			continue
		}
		reached++
	}
	return reached
}

// schedulerURL is the SU base URL of scheduler address addr.
func (nw *network) schedulerURL(addr string) (string, bool) {
	if addr == nw.selfAddr && nw.selfSU != "" {
		return nw.selfSU, true
	}
	u, ok := nw.host.Directory().SchedulerURL(addr)
	if !ok || u == "" {
		return "", false
	}
	return strings.TrimRight(u, "/") + "/su", true
}

// suOf is the SU base URL of process pid.
func (nw *network) suOf(ctx context.Context, pid string) (string, error) {
	scheds, err := nw.schedulers(ctx, pid)
	if err != nil {
		return "", err
	}
	for _, a := range scheds {
		if u, ok := nw.schedulerURL(a); ok {
			return u, nil
		}
	}
	return "", fmt.Errorf("%w: no node record names scheduler %s of process %s", ErrNoScheduler, scheds[0], pid)
}

// peersWithRole are the base URLs of the directory's nodes announcing role, by peer id.
func (nw *network) peersWithRole(role string) []string {
	var out []string
	for _, r := range nw.host.Directory().Peers() {
		if r.HasRole(role) && r.URL != "" && r.PeerID != nw.host.ID() {
			out = append(out, strings.TrimRight(r.URL, "/"))
		}
	}
	return out
}

// follow subscribes to the topic of pid and wakes the CU's evaluator on every push.
func (nw *network) follow(pid string) {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	if nw.closed || nw.wake == nil || nw.follows[pid] != nil {
		return
	}
	if len(nw.follows) >= maxFollowed {
		nw.log.Warn("not following process: too many followed", "process", pid, "max", maxFollowed)
		return
	}
	sub, err := nw.host.SubscribeProcess(pid)
	if err != nil {
		nw.log.Warn("following process failed", "process", pid, "err", err)
		return
	}
	nw.follows[pid] = sub
	wake := nw.wake
	nw.wg.Go(func() {
		// Pushes come from the process's schedulers: be their neighbour, or the topic may
		// have no member this node is connected to.
		scheds, _ := nw.ProcessSchedulers(pid)
		ctx, cancel := context.WithTimeout(nw.ctx, resolveTimeout)
		nw.dialDirectory(ctx, func(r p2p.NodeRecord) bool { return r.Scheduler != "" && slices.Contains(scheds, r.Scheduler) })
		cancel()
		for a := range sub.Assignments() {
			if err := wake(pid); err != nil {
				nw.log.Debug("waking evaluator", "process", pid, "nonce", a.Nonce, "err", err)
			}
		}
	})
}

// netSource is the CU's Source on a p2p node: each process is read from the SU its
// Scheduler tag names, found through the node directory. Loading a process starts following
// its topic, so later slots are evaluated when they are pushed, not when asked for.
type netSource struct{ nw *network }

func (s netSource) client(ctx context.Context, pid string) (*cu.SUClient, error) {
	u, err := s.nw.suOf(ctx, pid)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", cu.ErrNotFound, err)
	}
	s.nw.mu.Lock()
	defer s.nw.mu.Unlock()
	if c := s.nw.clients[u]; c != nil {
		return c, nil
	}
	c, err := cu.NewSUClient(u, cu.SUClientOptions{HTTPClient: s.nw.client})
	if err != nil {
		return nil, err
	}
	if len(s.nw.clients) >= maxSchedulerCache {
		clear(s.nw.clients)
	}
	s.nw.clients[u] = c
	return c, nil
}

func (s netSource) Process(ctx context.Context, pid string) (cu.ProcessDef, error) {
	c, err := s.client(ctx, pid)
	if err != nil {
		return cu.ProcessDef{}, err
	}
	def, err := c.Process(ctx, pid)
	if err == nil {
		s.nw.follow(pid)
	}
	return def, err
}

func (s netSource) Scheduled(ctx context.Context, pid string, after int64, fn func(cu.Scheduled) bool) error {
	c, err := s.client(ctx, pid)
	if err != nil {
		return err
	}
	return c.Scheduled(ctx, pid, after, fn)
}

func (s netSource) Slot(ctx context.Context, pid, msgID string) (cu.Scheduled, error) {
	c, err := s.client(ctx, pid)
	if err != nil {
		return cu.Scheduled{}, err
	}
	return c.Slot(ctx, pid, msgID)
}

func (s netSource) Latest(ctx context.Context, pid string) (cu.Scheduled, error) {
	c, err := s.client(ctx, pid)
	if err != nil {
		return cu.Scheduled{}, err
	}
	return c.Latest(ctx, pid)
}

func (s netSource) Timestamp(ctx context.Context, pid string) (int64, uint64, error) {
	c, err := s.client(ctx, pid)
	if err != nil {
		return 0, 0, err
	}
	return c.Timestamp(ctx, pid)
}

// netRouter is the MU's Router on a p2p node: scheduler addresses resolve through the node
// directory; a process whose scheduler is unknown is looked up on every SU the directory
// lists.
type netRouter struct{ nw *network }

func (r netRouter) SchedulerURL(_ context.Context, addr string) (string, error) {
	if u, ok := r.nw.schedulerURL(addr); ok {
		return u, nil
	}
	// Not ErrNotFound: the record may not have reached this node yet, so the MU retries.
	return "", fmt.Errorf("%w: scheduler %s is not in the node directory", mu.ErrUnavailable, addr)
}

func (r netRouter) SchedulerURLs() []string {
	var out []string
	if r.nw.selfSU != "" {
		out = append(out, r.nw.selfSU)
	}
	for _, u := range r.nw.peersWithRole(p2p.RoleSU) {
		out = append(out, u+"/su")
	}
	return out
}

// netCompute is the MU's Compute on a p2p node without a CU: it reads results from the
// CUs of the directory, in peer order, the first that answers.
type netCompute struct{ nw *network }

func (c netCompute) each(fn func(*mu.HTTPClient) error) error {
	cus := c.nw.peersWithRole(p2p.RoleCU)
	if len(cus) == 0 {
		return fmt.Errorf("%w: no CU in the node directory", mu.ErrUnavailable)
	}
	var errs []error
	for _, u := range cus {
		err := fn(&mu.HTTPClient{HTTP: c.nw.client, CUURL: u + "/cu"})
		if err == nil || !errors.Is(err, mu.ErrUnavailable) {
			return err
		}
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func (c netCompute) Result(ctx context.Context, pid, id string) (r *mu.Result, err error) {
	err = c.each(func(h *mu.HTTPClient) error {
		r, err = h.Result(ctx, pid, id)
		return err
	})
	return r, err
}

func (c netCompute) Cron(ctx context.Context, pid, from string, limit int) (p *mu.CronPage, err error) {
	err = c.each(func(h *mu.HTTPClient) error {
		p, err = h.Cron(ctx, pid, from, limit)
		return err
	})
	return p, err
}

// publishing pushes every new slot on its process's topic once the sequencer has made it
// durable. A failed push only delays followers until their next pull.
type publishing struct {
	seq  su.Sequencer
	host *p2p.Host
	log  *slog.Logger
}

func (p publishing) Schedule(ctx context.Context, req su.Request) (su.Scheduled, error) {
	s, err := p.seq.Schedule(ctx, req)
	if err != nil {
		return s, err
	}
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), publishTimeout)
	defer cancel()
	if perr := p.host.PublishAssignment(pctx, s.Assignment, req.Item); perr != nil {
		p.log.Warn("pushing a slot failed", "process", req.Process, "nonce", s.Slot.Nonce, "err", perr)
	}
	return s, nil
}

// suSequencer is the SU's sequencer on a p2p node (nil without p2p: the SU builds its own)
// and the registerer the SU itself takes: the sequencer's metrics go on the registry from
// here, so the SU must not register them again.
func (n *Node) suSequencer(signer dataitem.Signer, height func() uint64) (su.Sequencer, prometheus.Registerer, error) {
	if n.net == nil {
		return nil, n.registry, nil
	}
	m, err := su.NewMetrics(nameFilter{n.registry, func(name string) bool { return !strings.HasPrefix(name, "su_http_") }})
	if err != nil {
		return nil, nil, fmt.Errorf("node: SU metrics: %w", err)
	}
	local, err := su.NewLocal(su.LocalOptions{DB: n.db, Signer: signer, BlockHeight: height, Metrics: m})
	if err != nil {
		return nil, nil, err
	}
	seq := publishing{seq: local, host: n.net.host, log: n.log.With("role", RoleSU)}
	return seq, nameFilter{n.registry, func(name string) bool { return strings.HasPrefix(name, "su_http_") }}, nil
}

// nameFilter registers only the collectors whose metric names keep accepts and silently
// skips the others.
type nameFilter struct {
	reg  prometheus.Registerer
	keep func(name string) bool
}

func (f nameFilter) Register(c prometheus.Collector) error {
	if !f.wants(c) {
		return nil
	}
	return f.reg.Register(c)
}

func (f nameFilter) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		if err := f.Register(c); err != nil {
			panic(err)
		}
	}
}

func (f nameFilter) Unregister(c prometheus.Collector) bool {
	if !f.wants(c) {
		return false
	}
	return f.reg.Unregister(c)
}

func (f nameFilter) wants(c prometheus.Collector) bool {
	ch := make(chan *prometheus.Desc, 16)
	go func() {
		c.Describe(ch)
		close(ch)
	}()
	want := false
	for d := range ch {
		if f.keep(descName(d)) {
			want = true
		}
	}
	return want
}

// descName reads the fully-qualified name out of a Desc, which exposes it only in String.
func descName(d *prometheus.Desc) string {
	s := d.String()
	const key = `fqName: "`
	i := strings.Index(s, key)
	if i < 0 {
		return ""
	}
	s = s[i+len(key):]
	if j := strings.IndexByte(s, '"'); j >= 0 {
		return s[:j]
	}
	return ""
}

// cuSource is the CU's schedule source: the directory-routed one on a p2p node, else the SU
// the node runs or names.
func (n *Node) cuSource() (cu.Source, error) {
	if n.net != nil {
		return netSource{n.net}, nil
	}
	return cu.NewSUClient(n.urls.SU, cu.SUClientOptions{HTTPClient: n.client})
}

// muRouter routes the MU's items: through the directory on a p2p node.
func (n *Node) muRouter() mu.Router {
	if n.net != nil {
		return netRouter{n.net}
	}
	return mu.StaticRouter{Default: n.urls.SU}
}

// muCompute is the MU's CU on a p2p node that runs no CU and names none; nil otherwise.
func (n *Node) muCompute() mu.Compute {
	if n.net == nil || n.urls.CU != "" {
		return nil
	}
	return netCompute{n.net}
}

// followWith lets the network wake the node's CU on pushes.
func (n *Node) followWith(c *cu.CU) {
	if n.net == nil || c == nil {
		return
	}
	n.net.mu.Lock()
	n.net.wake = c.Wake
	n.net.mu.Unlock()
}

// PeerInfo is one entry of GET /peers.
type PeerInfo struct {
	PeerID    string   `json:"peerId"`
	Addrs     []string `json:"addrs,omitempty"`
	Roles     []string `json:"roles,omitempty"`
	URL       string   `json:"url,omitempty"`
	Scheduler string   `json:"scheduler,omitempty"`
	Connected bool     `json:"connected"`
}

// PeersReply is the body of GET /peers: the node itself and the peers it knows, from its
// directory and its open connections.
type PeersReply struct {
	Self  PeerInfo   `json:"self"`
	Peers []PeerInfo `json:"peers"`
}

func (n *Node) peers(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	if n.net == nil {
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(`{"error":"this node runs no p2p host"}` + "\n"))
		return
	}
	_ = json.NewEncoder(w).Encode(n.net.peersReply())
}

func (nw *network) peersReply() PeersReply {
	h := nw.host
	self := h.ID()
	connected := map[peer.ID]bool{}
	for _, p := range h.Libp2p().Network().Peers() {
		connected[p] = true
	}
	reply := PeersReply{Peers: []PeerInfo{}}
	seen := map[peer.ID]bool{}
	for _, r := range h.Directory().Peers() {
		info := PeerInfo{PeerID: r.PeerID.String(), Roles: r.Roles, URL: r.URL, Scheduler: r.Scheduler, Connected: connected[r.PeerID]}
		for _, a := range r.ListenAddrs {
			info.Addrs = append(info.Addrs, a.String())
		}
		if r.PeerID == self {
			info.Connected = true
			reply.Self = info
			continue
		}
		seen[r.PeerID] = true
		reply.Peers = append(reply.Peers, info)
	}
	if reply.Self.PeerID == "" {
		reply.Self = PeerInfo{PeerID: self.String(), Connected: true}
		for _, a := range h.Addrs() {
			reply.Self.Addrs = append(reply.Self.Addrs, a.String())
		}
	}
	var rest []PeerInfo
	for p := range connected {
		if !seen[p] && p != self {
			rest = append(rest, PeerInfo{PeerID: p.String(), Connected: true})
		}
	}
	slices.SortFunc(rest, func(a, b PeerInfo) int { return strings.Compare(a.PeerID, b.PeerID) })
	reply.Peers = append(reply.Peers, rest...)
	return reply
}

func clipForError(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// netItems is the CU's item look-up on a p2p node: the store, then the peers (a module
// published on another node's gateway is fetched by id and verified).
type netItems struct{ nw *network }

func (i netItems) Item(id string) ([]byte, error) {
	raw, err := i.nw.db.Item(id)
	if !errors.Is(err, store.ErrNotFound) {
		return raw, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), resolveTimeout)
	defer cancel()
	it, ferr := i.nw.fetch(ctx, id)
	if ferr != nil {
		return nil, fmt.Errorf("%w: %s: not in the store, and from peers: %v", store.ErrNotFound, id, ferr)
	}
	return it.Raw(), nil
}

// cuItems is the CU's item look-up: nil (the store) without p2p.
func (n *Node) cuItems() cu.ItemLookup {
	if n.net == nil {
		return nil
	}
	return netItems{n.net}
}
