package explorer

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"mime"
	"net/http"
	"path"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/aonode/aonode/node/httpcount"
	"github.com/aonode/aonode/store"
)

//go:embed assets
var assetFS embed.FS

// csp is the Content-Security-Policy of every answer: scripts, styles and images from this
// node only, no inline script or style attribute, no eval, no frames, no plugins, requests to
// this node only. The page never needs more; a message that smuggles markup into the page
// finds nothing it may run.
const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// Limits of the endpoints. Each bounds the work of one request.
const (
	// DefaultPageLimit and MaxPageLimit bound the rows of a list (processes, slots).
	DefaultPageLimit = 50
	MaxPageLimit     = 200
	// maxQueryBytes bounds a query string: every value is an id or a small number.
	maxQueryBytes = 2048
	// maxResultBytes bounds the raw result a message page carries; longer ones are cut
	// and flagged (the CU serves them whole at /cu/result).
	maxResultBytes = 256 << 10
	// maxDataPreview bounds the data shown of an item.
	maxDataPreview = 4096
	// maxOutputPreview bounds the output shown in a slot row.
	maxOutputPreview = 240
)

// NodeInfo is what the node says about itself (GET /explorer/api/node).
type NodeInfo struct {
	Version string   `json:"version"`
	Build   string   `json:"build,omitempty"` // the VCS revision the binary was built from
	Roles   []string `json:"roles"`
	// Address is the wallet address of the node key: the SU's scheduler address, the MU's
	// and the CU's signer.
	Address     string   `json:"address"`
	PeerID      string   `json:"peer_id,omitempty"`
	ListenAddrs []string `json:"listen_addrs,omitempty"`
	URL         string   `json:"url"`
	// Base URLs of the units the node uses: its own or remote ones.
	SU      string `json:"su,omitempty"`
	CU      string `json:"cu,omitempty"`
	MU      string `json:"mu,omitempty"`
	Gateway string `json:"gateway,omitempty"`
}

// Options configure an Explorer.
type Options struct {
	// Store is the node's store; the explorer only reads it.
	Store *store.DB
	// Node describes the node; it is called for every /api/node request.
	Node func() NodeInfo
	// Started is when the node started (for the uptime).
	Started time.Time
	// Network is the node's view of the p2p network; nil on a node without p2p.
	Network Network
	// HTTPClient asks the directory's SU nodes for the processes they schedule (their
	// GET /explorer/api/processes); nil: the network view shows this node's processes only.
	HTTPClient *http.Client
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Registerer receives the explorer's request counter (nil: none).
	Registerer prometheus.Registerer
	Logger     *slog.Logger
}

// Explorer serves the page and its endpoints.
type Explorer struct {
	opts     Options
	log      *slog.Logger
	handler  http.Handler // the routes, counted
	assets   map[string]asset
	requests *prometheus.CounterVec
	net      netCache
}

type asset struct {
	body  []byte
	ctype string
	etag  string
}

// New builds an Explorer.
func New(opts Options) (*Explorer, error) {
	if opts.Store == nil || opts.Node == nil {
		return nil, errors.New("explorer: New needs a Store and a Node function")
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	e := &Explorer{opts: opts, log: opts.Logger, assets: map[string]asset{}}
	e.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "aonode_explorer_requests_total",
		Help: "Explorer HTTP requests by route and status code.",
	}, []string{"route", "code"})
	if opts.Registerer != nil {
		if err := opts.Registerer.Register(e.requests); err != nil {
			return nil, fmt.Errorf("explorer: registering metrics: %w", err)
		}
	}
	if err := e.loadAssets(); err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", e.serveAsset("index.html"))
	for name := range e.assets {
		if name != "index.html" {
			mux.HandleFunc("GET /"+name, e.serveAsset(name))
		}
	}
	mux.HandleFunc("GET /api/node", e.api(e.getNode))
	mux.HandleFunc("GET /api/network", e.api(e.getNetwork))
	mux.HandleFunc("GET /api/processes", e.api(e.getProcesses))
	mux.HandleFunc("GET /api/process/{pid}", e.api(e.getProcess))
	mux.HandleFunc("GET /api/process/{pid}/slots", e.api(e.getSlots))
	mux.HandleFunc("GET /api/process/{pid}/graph", e.api(e.getGraph))
	mux.HandleFunc("GET /api/message/{id}", e.api(e.getMessage))
	mux.HandleFunc("GET /api/search", e.api(e.getSearch))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not found: "+clip(r.URL.Path, 64))
	})
	e.handler = httpcount.Handler(e.requests, mux, "/")
	return e, nil
}

func (e *Explorer) loadAssets() error {
	sub, err := fs.Sub(assetFS, "assets")
	if err != nil {
		return err
	}
	return fs.WalkDir(sub, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(sub, p)
		if err != nil {
			return err
		}
		ctype := mime.TypeByExtension(path.Ext(p))
		if ctype == "" {
			ctype = "application/octet-stream"
		}
		sum := sha256.Sum256(b)
		e.assets[p] = asset{body: b, ctype: ctype, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
		return nil
	})
}

// ServeHTTP serves the explorer with paths relative to its mount point: the node strips
// /explorer.
func (e *Explorer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", csp)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	if len(r.URL.RawQuery) > maxQueryBytes {
		writeError(w, http.StatusRequestURITooLong, fmt.Sprintf("query longer than %d bytes", maxQueryBytes))
		return
	}
	e.handler.ServeHTTP(w, r)
}

func (e *Explorer) serveAsset(name string) http.HandlerFunc {
	a := e.assets[name]
	return func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", a.ctype)
		h.Set("ETag", a.etag)
		h.Set("Cache-Control", "no-cache")
		http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(a.body))
	}
}

// Landing answers GET / of a node: browsers are sent to the explorer, other clients get a
// JSON index of the node's APIs.
func Landing(prefix string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.Header.Get("Accept"), "text/html") {
			http.Redirect(w, r, prefix+"/", http.StatusFound)
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{
			"explorer": prefix + "/",
			"su":       "/su",
			"cu":       "/cu",
			"mu":       "/mu",
			"graphql":  "/graphql",
			"peers":    "/peers",
			"health":   "/health",
			"metrics":  "/metrics",
		})
	})
}

// httpError is an answer other than 200, with its status.
type httpError struct {
	status int
	msg    string
}

func (e *httpError) Error() string { return e.msg }

func errorf(status int, format string, args ...any) error {
	return &httpError{status: status, msg: fmt.Sprintf(format, args...)}
}

// api wraps an endpoint: its value is written as JSON, its error mapped to a status in this
// one place.
func (e *Explorer) api(fn func(r *http.Request) (any, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		v, err := fn(r)
		var he *httpError
		switch {
		case err == nil:
			writeJSON(w, http.StatusOK, v)
		case errors.As(err, &he):
			writeError(w, he.status, he.msg)
		case errors.Is(err, store.ErrClosed):
			writeError(w, http.StatusServiceUnavailable, "the node is shutting down")
		case r.Context().Err() != nil:
			writeError(w, http.StatusServiceUnavailable, "request cancelled")
		default:
			e.log.Error("explorer request failed", "path", r.URL.Path, "err", err)
			writeError(w, http.StatusInternalServerError, "internal error")
		}
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	if err := enc.Encode(v); err != nil {
		status = http.StatusInternalServerError
		buf.Reset()
		buf.WriteString(`{"error":"encoding response"}` + "\n")
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

// clip shortens s for an error message.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// nodeReply is GET /api/node.
type nodeReply struct {
	NodeInfo
	StartedMs int64 `json:"started_ms"`
	NowMs     int64 `json:"now_ms"`
	UptimeMs  int64 `json:"uptime_ms"`
}

func (e *Explorer) getNode(*http.Request) (any, error) {
	now := e.opts.Now()
	info := e.opts.Node()
	if info.Roles == nil {
		info.Roles = []string{}
	}
	return nodeReply{
		NodeInfo:  info,
		StartedMs: e.opts.Started.UnixMilli(),
		NowMs:     now.UnixMilli(),
		UptimeMs:  now.Sub(e.opts.Started).Milliseconds(),
	}, nil
}

// netCache holds the last network view; see network.go. mu is held while a view is built;
// latest is the last view, for readers that must not wait for a build.
type netCache struct {
	mu     sync.Mutex
	last   *networkReply
	at     time.Time
	latest atomic.Pointer[networkReply]
}
