// Package node assembles the roles of an aonode process behind one HTTP listener: it opens
// the store, builds each configured role (the SU today), mounts each role's API under its
// prefix (/su) so that http://host:port/su is a drop-in base URL for reference clients, and
// serves /health and /metrics at the root. Tests start many nodes in one process through it;
// the command line only fills a Config and calls Run.
package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/aonode/aonode/dataitem"
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
	handler  http.Handler
	listener net.Listener
	server   *http.Server

	cancel    context.CancelFunc
	wg        sync.WaitGroup
	serveErr  chan error
	closeOnce sync.Once
	closeErr  error
}

// New opens the store, builds the roles and starts serving HTTP on cfg.HTTPAddr.
func New(cfg Config) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	n := &Node{cfg: cfg, log: cfg.Logger, registry: prometheus.NewRegistry(), serveErr: make(chan error, 1)}
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

	heights := newHeightSource(cfg.BlockHeight, cfg.ArweaveURL, cfg.ArweavePollInterval, cfg.Logger)
	if cfg.ArweaveURL != "" {
		n.wg.Go(func() { heights.run(ctx) })
	}
	metrics := promhttp.HandlerFor(n.registry, promhttp.HandlerOpts{EnableOpenMetrics: true})
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", metrics)
	mux.HandleFunc("GET /health", n.health)

	if cfg.has(RoleSU) {
		n.su, err = su.New(su.Options{
			DB:             db,
			Signer:         signer,
			BlockHeight:    heights.get,
			MaxItemBytes:   cfg.MaxItemBytes,
			Registerer:     n.registry,
			MetricsHandler: metrics,
			Logger:         cfg.Logger.With("role", RoleSU),
		})
		if err != nil {
			n.abort()
			return nil, err
		}
		mount(mux, "/su", n.su.Handler())
	}
	n.handler = mux

	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		n.abort()
		return nil, fmt.Errorf("node: listen on %s: %w", cfg.HTTPAddr, err)
	}
	n.listener = ln
	n.server = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       2 * time.Minute,
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
	attrs := []any{"addr", ln.Addr().String(), "roles", strings.Join(cfg.Roles, ",")}
	if n.su != nil {
		attrs = append(attrs, "su_address", n.su.Address())
	}
	n.log.Info("node started", attrs...)
	return n, nil
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

// abort undoes a partly built node.
func (n *Node) abort() {
	n.cancel()
	n.wg.Wait()
	if err := n.db.Close(); err != nil {
		n.log.Error("closing store", "err", err)
	}
}

// Addr is the address the node listens on.
func (n *Node) Addr() net.Addr { return n.listener.Addr() }

// URL is the node's base URL, e.g. http://127.0.0.1:8080.
func (n *Node) URL() string { return "http://" + n.listener.Addr().String() }

// Handler is the node's whole HTTP API, for tests that do not need the socket.
func (n *Node) Handler() http.Handler { return n.handler }

// SU is the node's scheduler unit, nil when the node does not run the role.
func (n *Node) SU() *su.SU { return n.su }

// Store is the node's store.
func (n *Node) Store() *store.DB { return n.db }

// Registry is the node's metrics registry.
func (n *Node) Registry() *prometheus.Registry { return n.registry }

// Err delivers an error if the HTTP server stops on its own.
func (n *Node) Err() <-chan error { return n.serveErr }

// Close stops serving (in-flight requests get ShutdownTimeout to finish), stops the
// background work and closes the store. It is safe to call more than once.
func (n *Node) Close() error {
	n.closeOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), n.cfg.ShutdownTimeout)
		defer cancel()
		var errs []error
		if err := n.server.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("node: http shutdown: %w", err))
			_ = n.server.Close()
		}
		n.cancel()
		n.wg.Wait()
		if err := n.db.Close(); err != nil {
			errs = append(errs, fmt.Errorf("node: closing store: %w", err))
		}
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
