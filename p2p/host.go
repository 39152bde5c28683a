package p2p

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p"
	dht "github.com/libp2p/go-libp2p-kad-dht"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/discovery/mdns"
	drouting "github.com/libp2p/go-libp2p/p2p/discovery/routing"
	rcmgr "github.com/libp2p/go-libp2p/p2p/host/resource-manager"
	"github.com/libp2p/go-libp2p/p2p/net/connmgr"
	quic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/prometheus/client_golang/prometheus"
)

// Deps are what a Host needs from the node besides its Config.
type Deps struct {
	Identity *Identity
	// Info is announced in the node's record.
	Info NodeInfo
	// Items serves fetch requests; nil answers every request "not found".
	Items ItemSource
	// Schedulers validates process pushes; nil ignores every push but the
	// nonce-0 one (which names its own schedulers).
	Schedulers ProcessSchedulers
	// Locations receives the Scheduler-Locations accepted from gossip (a gateway indexes
	// them); nil drops them after validation and forwarding.
	Locations LocationSink
	// Evidence keeps the equivocation evidence the host finds among pushes or accepts from
	// ao/1/evidence, and answers which assignment the node holds for a slot; nil: evidence
	// is still detected among pushes, published and forwarded, only not kept.
	Evidence EvidenceSink
	Logger   *slog.Logger
	// Registerer receives the p2p metrics and libp2p's; nil registers none.
	Registerer prometheus.Registerer
}

// Host is a node's libp2p presence: host, discovery, gossip, directory and
// fetch. Close stops everything it started.
type Host struct {
	cfg   Config
	id    *Identity
	info  NodeInfo
	host  host.Host
	items ItemSource
	log   *slog.Logger

	ps         *pubsub.PubSub
	nodesTopic *pubsub.Topic
	dht        *dht.IpfsDHT
	rdisc      *drouting.RoutingDiscovery
	mdns       mdns.Service
	dir        *Directory
	mesh       *meshTracker
	penalty    *processPenalty
	heard      heardProcesses // attest.go
	attestEv   atomic.Pointer[func(*AttestEvidence)]
	checker    processChecker
	loc        *locations     // ao/1/scheduler-locations (location.go)
	ev         *evidenceState // ao/1/evidence (evidence.go)
	metrics    *metrics
	bootstrap  []peer.AddrInfo
	fetchSlots chan struct{}
	found      chan peer.AddrInfo
	republish  chan struct{}

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	closed   bool
	handlers sync.WaitGroup
	topics   map[string]*processTopic

	scoresMu sync.RWMutex
	scores   map[peer.ID]float64
}

type processTopic struct {
	topic   *pubsub.Topic
	subs    int
	lastUse time.Time
}

// New starts a libp2p host for cfg with the identity of deps (TCP and QUIC,
// fixed resource limits, the connection manager), then everything NewWithHost
// starts. Close stops it.
func New(cfg Config, deps Deps) (*Host, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Identity == nil {
		return nil, errors.New("p2p: no identity")
	}
	rm, err := newResourceManager(cfg.Resources)
	if err != nil {
		return nil, err
	}
	cm, err := connmgr.NewConnManager(cfg.ConnLowWater, cfg.ConnHighWater, connmgr.WithGracePeriod(cfg.ConnGracePeriod))
	if err != nil {
		rm.Close()
		return nil, fmt.Errorf("p2p: connection manager: %w", err)
	}
	opts := []libp2p.Option{
		libp2p.Identity(deps.Identity.PeerKey),
		libp2p.ListenAddrStrings(cfg.ListenAddrs...),
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.Transport(quic.NewTransport),
		libp2p.ResourceManager(rm),
		libp2p.ConnectionManager(cm),
	}
	if deps.Registerer != nil {
		opts = append(opts, libp2p.PrometheusRegisterer(deps.Registerer))
	} else {
		opts = append(opts, libp2p.DisableMetrics())
	}
	h, err := libp2p.New(opts...)
	if err != nil {
		// libp2p closes the managers it was given when it fails.
		return nil, fmt.Errorf("p2p: starting libp2p: %w", err)
	}
	return NewWithHost(h, cfg, deps)
}

// newResourceManager builds fixed limits: libp2p's defaults scaled to the
// configured memory and descriptors (never to the machine's RAM), with the
// system connection and stream totals from the config.
func newResourceManager(r Resources) (network.ResourceManager, error) {
	scaling := rcmgr.DefaultLimits
	libp2p.SetDefaultServiceLimits(&scaling)
	concrete := scaling.Scale(r.MemoryBytes, r.MaxFileDescriptors)
	partial := rcmgr.PartialLimitConfig{
		System: rcmgr.ResourceLimits{
			Conns:   rcmgr.LimitVal(r.MaxConns),
			Streams: rcmgr.LimitVal(r.MaxStreams),
			Memory:  rcmgr.LimitVal64(r.MemoryBytes),
			FD:      rcmgr.LimitVal(r.MaxFileDescriptors),
		},
	}
	rm, err := rcmgr.NewResourceManager(rcmgr.NewFixedLimiter(partial.Build(concrete)))
	if err != nil {
		return nil, fmt.Errorf("p2p: resource manager: %w", err)
	}
	return rm, nil
}

// NewWithHost runs the p2p services on an existing libp2p host (a mocknet
// host in tests and benchmarks, or one built by the caller) whose identity is
// deps.Identity. The Host owns h from then on and closes it in Close, also
// when NewWithHost fails.
func NewWithHost(h host.Host, cfg Config, deps Deps) (_ *Host, err error) {
	if err := cfg.Validate(); err != nil {
		h.Close()
		return nil, err
	}
	if deps.Identity == nil || h.ID() != deps.Identity.PeerID {
		h.Close()
		return nil, errors.New("p2p: the libp2p host does not have the node's identity")
	}
	if len(deps.Info.Roles) > 0 {
		if err := checkInfo(deps.Info); err != nil {
			h.Close()
			return nil, err
		}
	}
	log := deps.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	boot, _ := cfg.bootstrapPeers()
	n := &Host{
		cfg:        cfg,
		id:         deps.Identity,
		info:       deps.Info,
		host:       h,
		items:      deps.Items,
		log:        log.With("peer", h.ID()),
		dir:        NewDirectory(cfg.Gossip.MaxDirectoryPeers, nil),
		mesh:       newMeshTracker(),
		penalty:    newProcessPenalty(time.Now),
		heard:      heardProcesses{seen: map[string]struct{}{}},
		bootstrap:  boot,
		fetchSlots: make(chan struct{}, cfg.Fetch.MaxConcurrentServes),
		found:      make(chan peer.AddrInfo, 64),
		republish:  make(chan struct{}, 1),
		topics:     map[string]*processTopic{},
		scores:     map[peer.ID]float64{},
		checker: processChecker{
			schedulers: deps.Schedulers,
			maxAge:     cfg.Gossip.MaxAssignmentAge,
			maxSkew:    cfg.Gossip.MaxClockSkew,
		},
	}
	if n.checker.schedulers == nil {
		n.checker.schedulers = noSchedulers{}
	}
	n.ctx, n.cancel = context.WithCancel(context.Background())
	defer func() {
		if err != nil {
			n.Close()
		}
	}()
	n.metrics, err = newMetrics(deps.Registerer,
		func() float64 { return float64(n.dir.Len()) },
		func() float64 { return float64(len(h.Network().Peers())) })
	if err != nil {
		return nil, fmt.Errorf("p2p: metrics: %w", err)
	}
	if err := n.startGossip(); err != nil {
		return nil, err
	}
	if err := n.startLocations(deps.Locations); err != nil {
		return nil, err
	}
	if err := n.startEvidence(deps.Evidence); err != nil {
		return nil, err
	}
	h.SetStreamHandler(FetchProtocol, n.trackHandler(n.handleFetch))
	if err := n.startDiscovery(); err != nil {
		return nil, err
	}
	n.wg.Add(2)
	go n.recordLoop()
	go n.janitor()
	return n, nil
}

type noSchedulers struct{}

func (noSchedulers) ProcessSchedulers(string) ([]string, bool) { return nil, false }

// trackHandler lets Close wait for stream handlers in flight.
func (n *Host) trackHandler(f network.StreamHandler) network.StreamHandler {
	return func(s network.Stream) {
		n.mu.Lock()
		if n.closed {
			n.mu.Unlock()
			_ = s.Reset()
			return
		}
		n.handlers.Add(1)
		n.mu.Unlock()
		defer n.handlers.Done()
		f(s)
	}
}

// ID is the node's peer ID.
func (n *Host) ID() peer.ID { return n.host.ID() }

// Address is the node's wallet address.
func (n *Host) Address() string { return n.id.Address }

// Addrs are the node's listen addresses, each ending in /p2p/<peer id>.
func (n *Host) Addrs() []ma.Multiaddr {
	info := peer.AddrInfo{ID: n.host.ID(), Addrs: n.host.Addrs()}
	addrs, err := peer.AddrInfoToP2pAddrs(&info)
	if err != nil {
		return nil
	}
	return addrs
}

// Libp2p is the underlying host, for protocols of other packages (the Raft
// transport of consensus). Do not close it: Close does.
func (n *Host) Libp2p() host.Host { return n.host }

// Directory is the node directory fed by gossip.
func (n *Host) Directory() *Directory { return n.dir }

// Connect dials a peer and keeps its addresses.
func (n *Host) Connect(ctx context.Context, info peer.AddrInfo) error {
	return n.host.Connect(ctx, info)
}

// PeerScore is the latest GossipSub score of p (snapshotted every
// Gossip.ScoreInspectInterval); ok is false for a peer not scored yet.
func (n *Host) PeerScore(p peer.ID) (score float64, ok bool) {
	n.scoresMu.RLock()
	defer n.scoresMu.RUnlock()
	score, ok = n.scores[p]
	return score, ok
}

func (n *Host) onScores(m map[peer.ID]float64) {
	cp := make(map[peer.ID]float64, len(m))
	for k, v := range m {
		cp[k] = v
	}
	n.scoresMu.Lock()
	n.scores = cp
	n.scoresMu.Unlock()
}

// Close stops every goroutine the Host started and closes the libp2p host.
func (n *Host) Close() error {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return nil
	}
	n.closed = true
	n.mu.Unlock()
	n.cancel()
	n.wg.Wait()
	var errs []error
	if n.mdns != nil {
		errs = append(errs, n.mdns.Close())
	}
	if n.dht != nil {
		errs = append(errs, n.dht.Close())
	}
	n.host.RemoveStreamHandler(FetchProtocol)
	errs = append(errs, n.host.Close())
	n.handlers.Wait()
	return errors.Join(errs...)
}

// janitor prunes the directory and closes process topics used only for
// publishing once idle.
func (n *Host) janitor() {
	defer n.wg.Done()
	period := min(n.cfg.Gossip.TopicIdle, n.cfg.Gossip.RecordMinInterval*5)
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-t.C:
		}
		if dropped := n.dir.Prune(); dropped > 0 {
			n.log.Debug("pruned expired node records", "count", dropped)
		}
		n.penalty.prune()
		n.mu.Lock()
		for pid, pt := range n.topics {
			if pt.subs == 0 && time.Since(pt.lastUse) > n.cfg.Gossip.TopicIdle {
				if err := pt.topic.Close(); err == nil {
					delete(n.topics, pid)
				}
			}
		}
		n.mu.Unlock()
	}
}
