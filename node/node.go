// Package node assembles the roles of an aonode process behind one HTTP listener: it opens
// the store, builds each configured role (SU, CU, MU, gateway), mounts each unit's API under
// its prefix (/su, /cu, /mu) so that http://host:port/mu is a drop-in base URL for reference
// clients, serves the gateway routes (/graphql, /raw/{id}, /{id}, /tx) at the root, the
// explorer under /explorer (node/explorer), and /health and /metrics. Tests start many nodes in one process through it;
// the command line only fills a Config and calls Run.
package node

import (
	"context"
	"errors"
	"fmt"
	"github.com/aonode/aonode/consensus"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/aonode/aonode/cu"
	"github.com/aonode/aonode/dataitem"
	"github.com/aonode/aonode/mu"
	"github.com/aonode/aonode/node/gateway"
	"github.com/aonode/aonode/node/httplimit"
	"github.com/aonode/aonode/store"
	"github.com/aonode/aonode/su"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Node is a running node. Close stops it.
type Node struct {
	cfg      Config
	log      *slog.Logger
	db       *store.DB
	registry *prometheus.Registry
	su       *su.SU
	cons     *consensus.Manager // the Raft groups of multi-scheduler processes (p2p only)
	cu       *cu.CU
	mu       *mu.MU
	closeRT  func(context.Context) error
	client   *http.Client    // the roles' calls to each other and to remote units
	network  *http.Transport // client's transport to other nodes

	handlerMu sync.RWMutex
	handler   http.Handler
	listener  net.Listener
	server    *http.Server
	urls      URLs
	net       *network // the p2p side (network.go), nil without Config.P2P
	locations locationSink

	cancel    context.CancelFunc
	wg        sync.WaitGroup
	conflicts *conflictSink // conflicting assignments met by the roles, turned into evidence
	serveErr  chan error
	closeOnce sync.Once
	closeErr  error
}

// URLs are the base URLs of the units a node uses: its own (under its listener) or the
// remote ones its Config names. Empty when neither.
type URLs struct {
	Node    string // http://host:port
	SU      string
	CU      string
	MU      string
	Gateway string
}

// New opens the store, listens on cfg.HTTPAddr, builds the roles and starts serving.
func New(cfg Config) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	n := &Node{cfg: cfg, log: cfg.Logger, registry: prometheus.NewRegistry(), serveErr: make(chan error, 1)}
	n.locations.log = cfg.Logger
	n.registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	signer := cfg.Signer
	if signer == nil {
		raw, err := os.ReadFile(cfg.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("node: reading key: %w", err)
		}
		if signer, err = dataitem.ParseKey(raw); err != nil {
			return nil, fmt.Errorf("node: key file %s: %w", cfg.KeyFile, err)
		}
	}

	sopts := store.DefaultOptions(cfg.DataDir)
	sopts.InMemory = cfg.InMemory
	sopts.Logger = cfg.Logger
	sopts.MaxBatchDelay = cfg.StoreBatchDelay
	sopts.Registerer = n.registry
	db, err := store.Open(sopts)
	if err != nil {
		return nil, fmt.Errorf("node: opening store: %w", err)
	}
	n.db = db
	ctx, cancel := context.WithCancel(context.Background())
	n.cancel = cancel
	n.network = &http.Transport{
		Proxy:               nil, // the units talk to each other directly
		MaxIdleConns:        256,
		MaxIdleConnsPerHost: 128,
		IdleConnTimeout:     90 * time.Second,
	}
	n.client = &http.Client{Timeout: 2 * time.Minute, Transport: n.network}

	// The listener comes first: the units' base URLs are under its address.
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		n.abort()
		return nil, fmt.Errorf("node: listen on %s: %w", cfg.HTTPAddr, err)
	}
	n.listener = ln
	n.urls = n.resolveURLs()
	if !cfg.NoLocalShortcut {
		self, _ := url.Parse(n.urls.Node)
		n.client.Transport = &localTransport{host: self.Host, handler: n.ownHandler, next: n.network}
	}

	if err := n.startNetwork(signer); err != nil {
		n.abort()
		return nil, err
	}
	mux, err := n.build(ctx, signer)
	if err != nil {
		n.abort()
		return nil, err
	}
	n.handlerMu.Lock()
	n.handler = mux
	n.handlerMu.Unlock()
	n.server = &http.Server{
		// The guard bounds how long a body may take (cfg.Limits.BodyMinRate), so no fixed
		// ReadTimeout cuts off a large upload on a slow link.
		Handler:           httplimit.Guard(cfg.Limits.guard(), mux),
		ReadHeaderTimeout: cfg.Limits.ReadHeaderTimeout,
		WriteTimeout:      5 * time.Minute,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelWarn),
	}
	n.wg.Go(func() {
		if err := n.server.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			n.serveErr <- err
		}
	})
	if n.mu != nil {
		if err := n.mu.Start(); err != nil {
			_ = n.Close()
			return nil, fmt.Errorf("node: starting the MU: %w", err)
		}
	}
	attrs := []any{"addr", ln.Addr().String(), "roles", strings.Join(cfg.Roles, ",")}
	if n.su != nil {
		attrs = append(attrs, "su_address", n.su.Address())
	}
	n.log.Info("node started", attrs...)
	return n, nil
}

// ownHandler is the node's handler once built (nil before).
func (n *Node) ownHandler() http.Handler {
	n.handlerMu.RLock()
	defer n.handlerMu.RUnlock()
	return n.handler
}

// resolveURLs names the units' base URLs. A node listening on every interface reaches itself
// on the loopback address.
func (n *Node) resolveURLs() URLs {
	host, port, _ := net.SplitHostPort(n.listener.Addr().String())
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
		if ip.To4() == nil {
			host = "::1"
		}
	}
	u := URLs{Node: "http://" + net.JoinHostPort(host, port)}
	pick := func(role, path, remote string) string {
		if n.cfg.has(role) {
			return u.Node + path
		}
		return strings.TrimRight(remote, "/")
	}
	u.SU = pick(RoleSU, "/su", n.cfg.SUURL)
	u.CU = pick(RoleCU, "/cu", n.cfg.CUURL)
	u.Gateway = pick(RoleGateway, "", n.cfg.GatewayURL)
	if n.cfg.has(RoleMU) {
		u.MU = u.Node + "/mu"
	}
	return u
}

// build creates the configured roles and mounts their APIs.
func (n *Node) build(ctx context.Context, signer dataitem.Signer) (*http.ServeMux, error) {
	cfg := n.cfg
	heights := newHeightSource(cfg.BlockHeight, cfg.ArweaveURL, cfg.ArweavePollInterval, cfg.Logger)
	if cfg.ArweaveURL != "" {
		n.wg.Go(func() { heights.run(ctx) })
	}
	metrics := promhttp.HandlerFor(n.registry, promhttp.HandlerOpts{EnableOpenMetrics: true})
	// Before the roles: any of them may meet two assignments for one slot.
	n.conflicts = newConflictSink(n.db, n.net, cfg.Logger.With("component", "evidence"))
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", metrics)
	mux.HandleFunc("GET /health", n.health)
	mux.HandleFunc("GET /peers", n.peers)
	if cfg.has(RoleSU) || n.net != nil {
		// Evidence a node found or heard of, whatever its roles: more specific than /su/.
		mux.HandleFunc("GET /su/evidence", n.serveEvidence)
	}
	if err := n.mountExplorer(mux, signer, time.Now()); err != nil {
		return nil, err
	}

	var err error
	if cfg.has(RoleSU) {
		m, err := su.NewMetrics(n.registry)
		if err != nil {
			return nil, fmt.Errorf("node: SU metrics: %w", err)
		}
		seq, err := n.sequencer(signer, heights.get, m)
		if err != nil {
			return nil, err
		}
		n.su, err = su.New(su.Options{
			DB:             n.db,
			Signer:         signer,
			Sequencer:      seq,
			BlockHeight:    heights.get,
			MaxItemBytes:   cfg.MaxItemBytes,
			Metrics:        m,
			Pushers:        n.pusherTrust(),
			Consensus:      consensusStatus(n.cons),
			MetricsHandler: metrics,
			Logger:         cfg.Logger.With("role", RoleSU),
		})
		if err != nil {
			return nil, err
		}
		mount(mux, "/su", n.su.Handler())
	}
	if cfg.has(RoleGateway) {
		opts := gateway.Options{
			Store:          n.db,
			MaxUploadBytes: cfg.MaxItemBytes,
			Logger:         cfg.Logger.With("role", RoleGateway),
			Registerer:     n.registry,
			Now:            cfg.Clock.Now,
		}
		if n.net != nil {
			opts.Peers = netFetcher{n.net}
		}
		gw, err := gateway.New(opts)
		if err != nil {
			return nil, err
		}
		n.locations.gw.Store(gw)
		// The more specific patterns (/su/, /cu/, /mu/, /health, /metrics) win over "/".
		mux.Handle("/", gw)
	}
	if cfg.has(RoleCU) {
		if err := n.buildCU(signer); err != nil {
			return nil, err
		}
		mount(mux, "/cu", n.cu.Handler())
	}
	if cfg.has(RoleMU) {
		n.mu, err = mu.New(mu.Config{
			Store:        n.db,
			Signer:       signer,
			Router:       n.muRouter(),
			CUURL:        n.urls.CU,
			Compute:      n.muCompute(),
			HTTPClient:   n.client,
			MaxItemBytes: cfg.MaxItemBytes,
			CronInterval: cfg.CronInterval,
			ResultQuorum: cfg.ResultQuorum,
			Attesters:    nodeAttesters{n},
			Registerer:   n.registry,
			Logger:       cfg.Logger.With("role", RoleMU),
		})
		if err != nil {
			return nil, fmt.Errorf("node: building the MU: %w", err)
		}
		mount(mux, "/mu", n.mu.Handler())
	}
	if n.su != nil {
		n.wg.Go(func() { n.announceLocation(ctx, signer) })
	}
	return mux, nil
}

func (n *Node) buildCU(signer dataitem.Signer) error {
	cacheDir := n.cfg.CompileCacheDir
	if cacheDir == "" && !n.cfg.InMemory {
		cacheDir = filepath.Join(n.cfg.DataDir, "wasm-cache")
	}
	rts, closeRT, err := cu.DefaultRuntimesIn(context.Background(), cacheDir)
	if err != nil {
		return fmt.Errorf("node: module runtimes: %w", err)
	}
	n.closeRT = closeRT
	src, err := n.cuSource()
	if err != nil {
		return err
	}
	var gw *cu.Gateway
	if n.urls.Gateway != "" {
		if gw, err = cu.NewGateway(n.urls.Gateway, n.client, 0); err != nil {
			return err
		}
	}
	ccfg := cu.Config{
		Store:      n.db,
		Signer:     signer,
		Source:     src,
		Gateway:    gw,
		Items:      n.cuItems(),
		Runtimes:   rts,
		Registerer: n.registry,
		Gatherer:   n.registry,
		Logger:     n.cfg.Logger,
		// A deliberately wrong CU, for tests only.
		TestAlterResult: n.cfg.alterResult,
	}
	if n.net != nil {
		ccfg.OnAttest, ccfg.OnEvidence = n.net.publishAttestation, n.net.publishEvidence
	}
	ccfg.Conflicts = n.conflicts
	n.cfg.Limits.cu(&ccfg)
	n.cu, err = cu.New(ccfg)
	if err != nil {
		return fmt.Errorf("node: building the CU: %w", err)
	}
	n.attestWiring(n.cu)
	n.followWith(n.cu)
	n.startFollowing(n.cu)
	return nil
}

// mount serves h under prefix, with the prefix stripped; the bare prefix is h's root, so
// both http://host/su and http://host/su/ work as a base URL.
func mount(mux *http.ServeMux, prefix string, h http.Handler) {
	strip := http.StripPrefix(prefix, h)
	mux.Handle(prefix+"/", strip)
	mux.Handle(prefix, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r2 := r.Clone(r.Context())
		r2.URL.Path, r2.URL.RawPath = "/", ""
		h.ServeHTTP(w, r2)
	}))
}

func (n *Node) health(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"status":"ok","roles":["%s"]}`, strings.Join(n.cfg.Roles, `","`))
}

// abort undoes a partly built node (no server running yet).
func (n *Node) abort() {
	if n.listener != nil {
		_ = n.listener.Close()
	}
	if err := n.stopRoles(); err != nil {
		n.log.Error("stopping roles", "err", err)
	}
}

// stopRoles stops the background work and the roles, then closes the store: the CU first
// (it checkpoints), then its runtimes, then the MU (its queue stays in the store).
func (n *Node) stopRoles() error {
	var errs []error
	n.cancel()
	n.wg.Wait()
	if n.cu != nil {
		if err := n.cu.Close(); err != nil {
			errs = append(errs, fmt.Errorf("node: closing the CU: %w", err))
		}
	}
	if n.cons != nil {
		// Before the conflict sink it reports to, the host and the store it runs on.
		if err := n.cons.Close(); err != nil {
			errs = append(errs, fmt.Errorf("node: closing consensus: %w", err))
		}
	}
	if n.conflicts != nil {
		// After the CU, which reports to it; before the store it writes to.
		n.conflicts.close()
	}
	if n.closeRT != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		if err := n.closeRT(ctx); err != nil {
			errs = append(errs, fmt.Errorf("node: closing module runtimes: %w", err))
		}
		cancel()
	}
	if n.mu != nil {
		if err := n.mu.Close(); err != nil {
			errs = append(errs, fmt.Errorf("node: closing the MU: %w", err))
		}
	}
	if n.net != nil {
		errs = append(errs, n.net.close())
	}
	n.network.CloseIdleConnections()
	if err := n.db.Close(); err != nil {
		errs = append(errs, fmt.Errorf("node: closing store: %w", err))
	}
	return errors.Join(errs...)
}

// Addr is the address the node listens on.
func (n *Node) Addr() net.Addr { return n.listener.Addr() }

// URL is the node's base URL, e.g. http://127.0.0.1:8080.
func (n *Node) URL() string { return "http://" + n.listener.Addr().String() }

// Handler is the node's whole HTTP API, for tests that do not need the socket.
func (n *Node) Handler() http.Handler { return n.ownHandler() }

// URLs are the base URLs of the units the node uses.
func (n *Node) URLs() URLs { return n.urls }

// SU is the node's scheduler unit, nil when the node does not run the role.
func (n *Node) SU() *su.SU { return n.su }

// CU is the node's compute unit, nil when the node does not run the role.
func (n *Node) CU() *cu.CU { return n.cu }

// MU is the node's messenger unit, nil when the node does not run the role.
func (n *Node) MU() *mu.MU { return n.mu }

// Store is the node's store.
func (n *Node) Store() *store.DB { return n.db }

// HTTPClient is the client the node's roles call units with; it is closed with the node.
func (n *Node) HTTPClient() *http.Client { return n.client }

// Registry is the node's metrics registry.
func (n *Node) Registry() *prometheus.Registry { return n.registry }

// Err delivers an error if the HTTP server stops on its own.
func (n *Node) Err() <-chan error { return n.serveErr }

// Close stops serving (in-flight requests get ShutdownTimeout to finish), stops the roles
// and the background work and closes the store. It is safe to call more than once.
func (n *Node) Close() error {
	n.closeOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), n.cfg.ShutdownTimeout)
		defer cancel()
		var errs []error
		if err := n.server.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("node: http shutdown: %w", err))
			_ = n.server.Close()
		}
		errs = append(errs, n.stopRoles())
		n.closeErr = errors.Join(errs...)
		n.log.Info("node stopped")
	})
	return n.closeErr
}

// Run starts a node and serves until ctx ends (SIGINT/SIGTERM in the command) or the server
// fails, then stops it cleanly.
func Run(ctx context.Context, cfg Config) error {
	n, err := New(cfg)
	if err != nil {
		return err
	}
	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-n.Err():
	}
	return errors.Join(serveErr, n.Close())
}
