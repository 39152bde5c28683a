// Package gateway serves the Arweave-gateway look-ups that AO clients and units make, from the
// data items a node holds: POST /graphql (the transactions queries of aoconnect, the reference
// CU and scheduler-utils), GET /raw/{id} (an item's data), GET and HEAD /{id} (an item's data
// with its tags as response headers: the MU's process look-up), and POST /tx (upload of a
// signed ANS-104 item, as bundlers accept them).
//
// The gateway never fetches from Arweave. What the node's store holds is what it knows, and on a
// p2p node (Options.Peers) an id it does not hold is looked up at the peers by GET /{id},
// /raw/{id} and GraphQL ids: verified, stored, then answered (bounded: peers.go). Items
// uploaded here are verified before they are stored, and stored with their indexes in one
// durable batch. The node hands it the Scheduler-Locations of the network's SUs
// (PutSchedulerLocation), so that clients that find an SU by GraphQL work on any node.
package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/aonode/aonode/dataitem"
	"github.com/aonode/aonode/dataitem/aoapi"
	"github.com/aonode/aonode/node/httpcount"
	"github.com/aonode/aonode/node/httplimit"
	"github.com/aonode/aonode/store"
)

// ItemStore is what the gateway needs of the node's store; *store.DB satisfies it.
type ItemStore interface {
	Item(id string) ([]byte, error)
	HasItem(id string) (bool, error)
	ItemOrder(id string) (uint64, error)
	QueryItems(q store.ItemQuery) ([]store.ItemRef, error)
	SlotByMessage(pid, messageID string) (store.Slot, error)
	NewBatch() *store.Batch
	Commit(ctx context.Context, b *store.Batch) error
}

// Limits.
const (
	// DefaultMaxUploadBytes bounds a POST /tx body (what the reference MU accepts).
	DefaultMaxUploadBytes = 10 << 20
	// MaxGraphQLBodyBytes bounds a POST /graphql body.
	MaxGraphQLBodyBytes = 64 << 10
	// maxTagHeaderBytes bounds the tag headers of GET /{id}: Node's HTTP client refuses
	// responses whose headers exceed 16 KiB, so tags that would cross this are left out.
	maxTagHeaderBytes = 12 << 10
)

// Options configures a Gateway.
type Options struct {
	Store          ItemStore
	MaxUploadBytes int64 // largest POST /tx body; 0 = DefaultMaxUploadBytes
	Logger         *slog.Logger
	// Registerer receives the gateway's metrics; nil registers none.
	Registerer prometheus.Registerer
	// Peers, when set, finds the items the store does not hold (fetch by id from peers).
	Peers Fetcher
	// Now is the clock of the peer look-ups' negative cache (time.Now when nil).
	Now func() time.Time
}

// Gateway is the http.Handler of the root routes.
type Gateway struct {
	src      ItemStore
	maxBytes int64
	log      *slog.Logger
	counted  http.Handler // the routes, counted by route and status
	requests *prometheus.CounterVec
	uploads  *prometheus.CounterVec

	peers       *peerLookup // nil without Options.Peers
	peerFetches *prometheus.CounterVec
	locMu       sync.Mutex // one Scheduler-Location replacement at a time
}

// New returns a gateway over opts.Store.
func New(opts Options) (*Gateway, error) {
	if opts.Store == nil {
		return nil, errors.New("gateway: Options.Store is required")
	}
	if opts.MaxUploadBytes < 0 {
		return nil, errors.New("gateway: MaxUploadBytes must not be negative")
	}
	if opts.MaxUploadBytes == 0 {
		opts.MaxUploadBytes = DefaultMaxUploadBytes
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	g := &Gateway{
		src:      opts.Store,
		maxBytes: opts.MaxUploadBytes,
		log:      opts.Logger.With("component", "gateway"),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "aonode_gateway_requests_total",
			Help: "Gateway HTTP requests by route and status code.",
		}, []string{"route", "code"}),
		uploads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "aonode_gateway_uploads_total",
			Help: "POST /tx uploads by outcome (stored, duplicate, rejected).",
		}, []string{"outcome"}),
		peerFetches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "aonode_gateway_peer_fetches_total",
			Help: "Items the gateway looked up at peers, by outcome (ok, not_found, bad, too_large).",
		}, []string{"outcome"}),
	}
	if opts.Peers != nil {
		now := opts.Now
		if now == nil {
			now = time.Now
		}
		g.peers = newPeerLookup(opts.Peers, now)
	}
	if opts.Registerer != nil {
		for _, c := range []prometheus.Collector{g.requests, g.uploads, g.peerFetches} {
			if err := opts.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("gateway: registering metrics: %w", err)
			}
		}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /graphql", g.graphql)
	mux.HandleFunc("GET /raw/{id}", g.raw)
	mux.HandleFunc("GET /{id}", g.byID)
	mux.HandleFunc("POST /tx", g.upload)
	// Bundlers' path with the payment currency (what the reference CU and MU post to).
	mux.HandleFunc("POST /tx/{currency}", g.upload)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "Not Found")
	})
	g.counted = httpcount.Handler(g.requests, mux, "/")
	return g, nil
}

// ServeHTTP serves the gateway routes.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) { g.counted.ServeHTTP(w, r) }

func writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		http.Error(w, `{"error":"encoding response"}`, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

type gqlError struct {
	Message string `json:"message"`
}

func writeGQLError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string][]gqlError{"errors": {{Message: msg}}})
}

// graphql answers POST /graphql. A malformed or unsupported request is HTTP 400 with
// {"errors":[{"message"}]}, as GraphQL-over-HTTP servers answer requests they cannot execute;
// a store failure is 500 in the same shape.
func (g *Gateway) graphql(w http.ResponseWriter, r *http.Request) {
	body, err := httplimit.ReadBody(w, r, MaxGraphQLBodyBytes)
	if err != nil {
		status, msg := bodyError(w, err, fmt.Sprintf("request body larger than %d bytes", MaxGraphQLBodyBytes))
		writeGQLError(w, status, msg)
		return
	}
	var req gqlRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&req); err != nil {
		writeGQLError(w, http.StatusBadRequest, "request body must be JSON {query, variables, operationName}: "+err.Error())
		return
	}
	if dec.More() {
		writeGQLError(w, http.StatusBadRequest, "request body has data after the JSON object")
		return
	}
	if strings.TrimSpace(req.Query) == "" {
		writeGQLError(w, http.StatusBadRequest, "request has no query")
		return
	}
	var missing func(id string) (*dataitem.Item, error)
	if g.peers != nil {
		missing = func(id string) (*dataitem.Item, error) { return g.fromPeers(r.Context(), id) }
	}
	data, err := execute(g.src, req, missing)
	var qe *queryError
	switch {
	case errors.As(err, &qe):
		writeGQLError(w, http.StatusBadRequest, qe.msg)
	case err != nil:
		g.log.Error("graphql query failed", "err", err)
		writeGQLError(w, statusFor(err), "internal error")
	default:
		writeJSON(w, http.StatusOK, map[string]any{"data": data})
	}
}

func statusFor(err error) int {
	if errors.Is(err, store.ErrClosed) {
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// loadItem reads and parses a stored item. Items are verified before they are stored, so
// they are not verified again here.
func loadItem(src ItemStore, id string) (*dataitem.Item, error) {
	raw, err := src.Item(id)
	if err != nil {
		return nil, err
	}
	it, err := dataitem.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("gateway: stored item %s does not parse: %w", id, err)
	}
	return it, nil
}

// item loads the item named by the {id} path value, answering 404 itself when there is none.
func (g *Gateway) item(w http.ResponseWriter, r *http.Request) (*dataitem.Item, bool) {
	id := r.PathValue("id")
	if _, err := dataitem.DecodeID(id); err != nil {
		writeError(w, http.StatusNotFound, "Not Found")
		return nil, false
	}
	it, err := loadItem(g.src, id)
	if errors.Is(err, store.ErrNotFound) && g.peers != nil {
		it, err = g.fromPeers(r.Context(), id)
	}
	switch {
	case errors.Is(err, store.ErrNotFound):
		writeError(w, http.StatusNotFound, "Not Found")
		return nil, false
	case err != nil:
		g.log.Error("loading item", "id", id, "err", err)
		writeError(w, statusFor(err), "internal error")
		return nil, false
	}
	return it, true
}

// serveData writes an item's data. Data comes from anyone who can sign an item, so browsers
// are told not to sniff it and to run none of it with this origin's rights.
func serveData(w http.ResponseWriter, r *http.Request, it *dataitem.Item) {
	h := w.Header()
	if h.Get("Content-Type") == "" {
		h.Set("Content-Type", "application/octet-stream")
	}
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "sandbox")
	h.Set("Cache-Control", "public, max-age=31536000, immutable")
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(it.Data))
}

// raw answers GET /raw/{id}: the data, typed by the item's Content-Type tag.
func (g *Gateway) raw(w http.ResponseWriter, r *http.Request) {
	it, ok := g.item(w, r)
	if !ok {
		return
	}
	if ct, ok := it.Tag("Content-Type"); ok && validHeaderValue(ct) {
		w.Header().Set("Content-Type", ct)
	}
	serveData(w, r, it)
}

// byID answers GET and HEAD /{id}: the data, with each tag as a response header (name = tag
// name), which is how the reference MU reads a process's tags (it requires "type: process").
func (g *Gateway) byID(w http.ResponseWriter, r *http.Request) {
	it, ok := g.item(w, r)
	if !ok {
		return
	}
	h := w.Header()
	budget := maxTagHeaderBytes
	for _, t := range it.Tags {
		if !validHeaderName(t.Name) || !validHeaderValue(t.Value) {
			continue
		}
		name := http.CanonicalHeaderKey(t.Name)
		if reservedHeader(name) {
			continue
		}
		if budget -= len(name) + len(t.Value) + 4; budget < 0 {
			budget += len(name) + len(t.Value) + 4
			continue
		}
		if name == "Content-Type" {
			h.Set(name, t.Value)
			continue
		}
		h.Add(name, t.Value)
	}
	serveData(w, r, it)
}

// reservedHeader reports headers a tag must not set: framing and connection headers, what the
// gateway sets itself, and headers that would act on the client with this origin's authority.
func reservedHeader(canonical string) bool {
	switch canonical {
	case "Content-Length", "Transfer-Encoding", "Connection", "Keep-Alive", "Upgrade", "Trailer",
		"Te", "Proxy-Authenticate", "Proxy-Connection", "Content-Encoding", "Content-Range",
		"Accept-Ranges", "Etag", "Last-Modified", "Date", "Server", "Vary", "Cache-Control",
		"Location", "Refresh", "Set-Cookie", "Set-Cookie2", "Www-Authenticate",
		"Strict-Transport-Security", "Content-Security-Policy",
		"Content-Security-Policy-Report-Only", "X-Content-Type-Options", "Alt-Svc", "Link",
		"Clear-Site-Data", "Permissions-Policy", "X-Frame-Options":
		return true
	}
	return strings.HasPrefix(canonical, "Access-Control-") || strings.HasPrefix(canonical, "Cross-Origin-")
}

func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

// validHeaderValue accepts UTF-8 text without control characters. Tags that are not UTF-8
// are refused at intake; one that reached the store another way is left out of the headers
// rather than passed on as raw bytes.
func validHeaderValue(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < 0x20 && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// uploadReply is the answer to POST /tx. Bundlers answer 200 with JSON whose "id" is the item
// id (Irys/Turbo add receipt fields: timestamp, owner, ...); aoconnect and arbundles-based
// uploaders read only the status and "id". timestamp is when the node first stored the item
// (unix ms), so a repeated upload gets the same answer.
type uploadReply struct {
	ID        string `json:"id"`
	Owner     string `json:"owner"`
	Timestamp int64  `json:"timestamp"`
}

// upload answers POST /tx and /tx/{currency}: a raw ANS-104 item, verified, stored with its
// indexes durably before the reply. Uploading a held item again is a success with the same
// reply.
func (g *Gateway) upload(w http.ResponseWriter, r *http.Request) {
	if c := r.PathValue("currency"); c != "" && c != "arweave" {
		g.uploads.WithLabelValues("rejected").Inc()
		writeError(w, http.StatusBadRequest, fmt.Sprintf("unsupported currency %q (this node stores items for free: use /tx or /tx/arweave)", c))
		return
	}
	raw, err := httplimit.ReadBody(w, r, g.maxBytes)
	if err != nil {
		g.uploads.WithLabelValues("rejected").Inc()
		status, msg := bodyError(w, err, fmt.Sprintf("data item larger than %d bytes", g.maxBytes))
		writeError(w, status, msg)
		return
	}
	it, err := dataitem.ParseVerified(raw)
	if err == nil {
		err = it.CheckTagsUTF8()
	}
	if err != nil {
		g.uploads.WithLabelValues("rejected").Inc()
		writeError(w, http.StatusBadRequest, "invalid data item: "+err.Error())
		return
	}
	id := it.ID()
	have, err := g.src.HasItem(id)
	if err != nil {
		g.fail(w, "checking item", id, err)
		return
	}
	outcome := "duplicate"
	if loc, lerr := aoapi.ParseSchedulerLocation(it); !have && lerr == nil && !loc.Issued.IsZero() {
		// A Scheduler-Location replaces the held one only when newer: an old one replayed
		// here must not become the newest that clients are sent to.
		stored, err := g.PutSchedulerLocation(r.Context(), it)
		if err != nil {
			g.fail(w, "storing item", id, err)
			return
		}
		have = true
		if stored {
			outcome = "stored"
		}
	}
	if !have {
		b := g.src.NewBatch()
		b.PutItem(id, it.Raw())
		if err := g.src.Commit(r.Context(), b); err != nil {
			g.fail(w, "storing item", id, err)
			return
		}
		outcome = "stored"
	}
	reply := uploadReply{ID: id, Owner: it.Address()}
	switch o, err := g.src.ItemOrder(id); {
	case err == nil:
		reply.Timestamp = int64(o / 1e6)
	case errors.Is(err, store.ErrNotFound):
		// Stored before indexing existed: no first-seen time is known.
	default:
		g.fail(w, "reading item order", id, err)
		return
	}
	g.uploads.WithLabelValues(outcome).Inc()
	g.log.Debug("item uploaded", "id", id, "outcome", outcome, "bytes", len(raw))
	writeJSON(w, http.StatusOK, reply)
}

// bodyError is the status and text of a body httplimit.ReadBody could not read.
func bodyError(w http.ResponseWriter, err error, tooLarge string) (int, string) {
	switch status := httplimit.Status(err); status {
	case http.StatusRequestEntityTooLarge:
		return status, tooLarge
	case http.StatusTooManyRequests:
		httplimit.SetRetryAfter(w, time.Second)
		return status, err.Error()
	case http.StatusRequestTimeout:
		return status, err.Error()
	}
	return http.StatusBadRequest, "reading request body: " + err.Error()
}

func (g *Gateway) fail(w http.ResponseWriter, what, id string, err error) {
	g.uploads.WithLabelValues("failed").Inc()
	switch {
	case errors.Is(err, store.ErrTooLarge):
		writeError(w, http.StatusRequestEntityTooLarge, "data item too large for this node's store")
	case errors.Is(err, store.ErrClosed):
		writeError(w, http.StatusServiceUnavailable, "node is shutting down")
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		writeError(w, http.StatusServiceUnavailable, "request cancelled")
	default:
		g.log.Error(what, "id", id, "err", err)
		writeError(w, http.StatusInternalServerError, "internal error")
	}
}
