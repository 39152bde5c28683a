package cu

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/aonode/aonode/cu/module"
	"github.com/aonode/aonode/dataitem"
	"github.com/aonode/aonode/dataitem/aoapi"
	"github.com/aonode/aonode/node/httplimit"
	"github.com/aonode/aonode/store"
)

// HeaderAttestation carries the base64url raw attestation item of a result.
const HeaderAttestation = "X-Ao-Attestation"

// Handler returns the CU HTTP API. Routes are relative to the handler's root, so a node can
// mount it under a prefix with http.StripPrefix.
func (c *CU) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", c.route("root", c.handleRoot))
	mux.HandleFunc("GET /result/{id}", c.route("result", c.handleResult))
	mux.HandleFunc("GET /results/{pid}", c.route("results", c.handleResults))
	mux.HandleFunc("GET /cron/{pid}", c.route("cron", c.handleCron))
	mux.HandleFunc("GET /state/{pid}", c.route("state", c.handleState))
	mux.HandleFunc("POST /dry-run", c.route("dry-run", c.handleDryRun))
	mux.HandleFunc("GET /attestation/{id}", c.route("attestation", c.handleAttestation))
	mux.HandleFunc("GET /agreement/{pid}", c.route("agreement", c.handleAgreement))
	if c.cfg.Gatherer != nil {
		mux.Handle("GET /metrics", promhttp.HandlerFor(c.cfg.Gatherer, promhttp.HandlerOpts{}))
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "Not Found"})
	})
	return mux
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

func (c *CU) route(name string, h func(http.ResponseWriter, *http.Request) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		if err := h(sw, r); err != nil {
			status := statusOf(err)
			msg := err.Error()
			var e *Error
			if !errors.As(err, &e) {
				switch {
				case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
					msg = "request cancelled"
				case status == http.StatusInternalServerError:
					c.log.Error("request failed", "route", name, "err", err)
				}
			}
			var re *retryError
			if errors.As(err, &re) {
				httplimit.SetRetryAfter(sw, re.after)
			}
			writeJSON(sw, status, map[string]string{"error": msg})
		}
		c.m.requests.WithLabelValues(name, strconv.Itoa(sw.status)).Inc()
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := marshalJS(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"encoding response"}`)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// validID accepts what can be a process or message id: 43 base64url characters.
func validID(id string) error {
	if _, err := dataitem.DecodeID(id); err != nil {
		return errorf(ErrBadRequest, "invalid id %q", truncate(id, 64))
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

func processID(r *http.Request) (string, error) {
	pid := r.URL.Query().Get("process-id")
	if pid == "" {
		return "", errorf(ErrBadRequest, "process-id query parameter is required")
	}
	return pid, validID(pid)
}

func (c *CU) handleRoot(w http.ResponseWriter, _ *http.Request) error {
	writeJSON(w, http.StatusOK, struct {
		Address   string `json:"address"`
		Timestamp int64  `json:"timestamp"`
	}{c.address, c.cfg.Clock.Now().UnixMilli()})
	return nil
}

// Result returns the stored evaluation of message msgID in pid, evaluating the process up to
// it first when needed.
func (c *CU) Result(ctx context.Context, pid, msgID string) (store.EvalResult, error) {
	rec, err := c.db.EvalResultByMessage(pid, msgID)
	if err == nil {
		return rec, nil
	}
	if !errors.Is(err, store.ErrNotFound) {
		return store.EvalResult{}, err
	}
	nonce, err := c.slotNonce(ctx, pid, msgID)
	if err != nil {
		return store.EvalResult{}, err
	}
	if _, err := c.catchUp(ctx, pid, int64(nonce)); err != nil {
		return store.EvalResult{}, err
	}
	rec, err = c.db.EvalResultByMessage(pid, msgID)
	if errors.Is(err, store.ErrNotFound) {
		// msgID may be the id of an assignment (what an MU answers for an assign): its
		// result is the one of the slot it made.
		if r, err := c.db.EvalResult(pid, nonce, 0); err == nil && r.AssignmentID == msgID {
			return r, nil
		}
		return store.EvalResult{}, errorf(ErrNotFound, "message %s has no result in process %s", msgID, pid)
	}
	return rec, err
}

func (c *CU) handleResult(w http.ResponseWriter, r *http.Request) error {
	pid, err := processID(r)
	if err != nil {
		return err
	}
	id := r.PathValue("id")
	if err := validID(id); err != nil {
		return err
	}
	rec, err := c.Result(r.Context(), pid, id)
	if err != nil {
		return err
	}
	if len(rec.Attestation) > 0 {
		w.Header().Set(HeaderAttestation, base64.RawURLEncoding.EncodeToString(rec.Attestation))
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_, _ = w.Write(rec.Result)
	return nil
}

func (c *CU) handleAttestation(w http.ResponseWriter, r *http.Request) error {
	pid, err := processID(r)
	if err != nil {
		return err
	}
	id := r.PathValue("id")
	if err := validID(id); err != nil {
		return err
	}
	rec, err := c.db.EvalResultByMessage(pid, id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && len(rec.Attestation) == 0) {
		return errorf(ErrNotFound, "no attestation for message %s in process %s", id, pid)
	}
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	_, _ = w.Write(rec.Attestation)
	return nil
}

// cursor is the reference CU's cursor: base64(JSON{timestamp, ordinate, cron, sort}).
type cursor struct {
	Timestamp int64       `json:"timestamp"`
	Ordinate  json.Number `json:"ordinate"`
	Cron      string      `json:"cron,omitempty"`
	Sort      string      `json:"sort"`
}

func encodeCursor(rec store.EvalResult, sort string) string {
	b, _ := json.Marshal(struct {
		Timestamp int64  `json:"timestamp"`
		Ordinate  string `json:"ordinate"`
		Cron      string `json:"cron,omitempty"`
		Sort      string `json:"sort"`
	}{rec.Timestamp, formatNonce(rec.Nonce), rec.Cron, sort})
	return base64.StdEncoding.EncodeToString(b)
}

// bound is a from/to parameter: an exact position (a cursor) or a timestamp.
type bound struct {
	set   bool
	isPos bool
	nonce uint64
	seq   uint32
	ts    int64
}

func (b bound) cmpPos(rec store.EvalResult) int {
	switch {
	case rec.Nonce != b.nonce:
		if rec.Nonce < b.nonce {
			return -1
		}
		return 1
	case rec.Seq != b.seq:
		if rec.Seq < b.seq {
			return -1
		}
		return 1
	}
	return 0
}

// above reports rec is strictly after a lower bound.
func (b bound) above(rec store.EvalResult) bool {
	if !b.set {
		return true
	}
	if b.isPos {
		return b.cmpPos(rec) > 0
	}
	return rec.Timestamp > b.ts
}

// within reports rec is at or before an upper bound.
func (b bound) within(rec store.EvalResult) bool {
	if !b.set {
		return true
	}
	if b.isPos {
		return b.cmpPos(rec) <= 0
	}
	return rec.Timestamp <= b.ts
}

// parseBound reads a cursor, else a millisecond timestamp (as the reference does).
func (c *CU) parseBound(pid, v string) (bound, error) {
	if v == "" {
		return bound{}, nil
	}
	if raw, err := base64.StdEncoding.DecodeString(v); err == nil {
		var cur cursor
		dec := json.NewDecoder(bytes.NewReader(raw))
		if dec.Decode(&cur) == nil {
			ord, err := strconv.ParseUint(cur.Ordinate.String(), 10, 64)
			if err == nil {
				b := bound{set: true, isPos: true, nonce: ord, ts: cur.Timestamp}
				if cur.Cron == "" {
					return b, nil
				}
				// A cron cursor: find which cron evaluation after the ordinate it names.
				found := false
				err := c.db.EvalResults(pid, ord, 1, false, func(r store.EvalResult) bool {
					if r.Nonce != ord {
						return false
					}
					if r.Cron == cur.Cron && r.Timestamp == cur.Timestamp {
						b.seq, found = r.Seq, true
						return false
					}
					return true
				})
				if err != nil {
					return bound{}, err
				}
				if found {
					return b, nil
				}
				return bound{set: true, ts: cur.Timestamp}, nil
			}
		}
	}
	ts, ok := parseIntPrefix(v)
	if !ok || ts > 1<<53 {
		return bound{}, errorf(ErrBadRequest, "invalid cursor or timestamp %q", truncate(v, 64))
	}
	return bound{set: true, ts: int64(ts)}, nil
}

// edge is one result of a connection: the reference's cursor and node, then the id of the
// evaluated message, which the reference leaves out (a cron evaluation has none).
type edge struct {
	Cursor    string          `json:"cursor"`
	Node      json.RawMessage `json:"node"`
	MessageID string          `json:"messageId,omitempty"`
}

type connection struct {
	PageInfo struct {
		HasNextPage bool `json:"hasNextPage"`
	} `json:"pageInfo"`
	Edges []edge `json:"edges"`
}

// listResults reads stored evaluations of pid between from (exclusive) and to (inclusive).
func (c *CU) listResults(pid string, from, to bound, desc, cronOnly bool, limit int) (connection, error) {
	conn := connection{Edges: []edge{}}
	sort := "ASC"
	var startNonce uint64
	var startSeq uint32
	if desc {
		sort = "DESC"
		startNonce, startSeq = ^uint64(0), ^uint32(0)
		switch {
		case to.set && to.isPos:
			startNonce, startSeq = to.nonce, to.seq
		case to.set:
			// Everything from this slot on is later than to, but the crons before it may not be.
			n, err := c.firstNonceAfter(pid, to.ts)
			if err != nil {
				return conn, err
			}
			startNonce, startSeq = n, 0
		}
	} else if from.set && from.isPos {
		startNonce, startSeq = from.nonce, from.seq
	} else if from.set {
		n, err := c.firstNonceAfter(pid, from.ts)
		if err != nil {
			return conn, err
		}
		if n > 0 {
			startNonce = n - 1 // crons after the previous slot may be later than from
		}
	}
	var innerErr error
	size := 0
	err := c.db.EvalResults(pid, startNonce, startSeq, desc, func(r store.EvalResult) bool {
		if desc {
			if !to.within(r) {
				return true
			}
			if !from.above(r) {
				return false
			}
		} else {
			if !from.above(r) {
				return true
			}
			if !to.within(r) {
				return false
			}
		}
		if r.HasError || (cronOnly && r.Cron == "") {
			return true
		}
		// A page also ends at MaxPageBytes of results: a limit of 1000 large results
		// would otherwise be assembled in memory whole.
		if len(conn.Edges) == limit || (len(conn.Edges) > 0 && size+len(r.Result) > c.cfg.MaxPageBytes) {
			conn.PageInfo.HasNextPage = true
			return false
		}
		node, err := nodeOf(r.Result)
		if err != nil {
			innerErr = err
			return false
		}
		size += len(r.Result)
		conn.Edges = append(conn.Edges, edge{Cursor: encodeCursor(r, sort), Node: node, MessageID: r.MessageID})
		return true
	})
	if err == nil {
		err = innerErr
	}
	return conn, err
}

// firstNonceAfter returns the smallest evaluated slot whose timestamp is after ts, or last+1
// when none is (binary search: timestamps never decrease with the slot). A slot without a
// result (a skipped duplicate) takes the timestamp of the next result, which keeps the
// search monotonic.
func (c *CU) firstNonceAfter(pid string, ts int64) (uint64, error) {
	last, err := c.db.LastEvalResult(pid)
	if errors.Is(err, store.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	lo, hi := uint64(0), last.Nonce+1
	for lo < hi {
		mid := lo + (hi-lo)/2
		var (
			at    int64
			found bool
		)
		err := c.db.EvalResults(pid, mid, 0, false, func(r store.EvalResult) bool {
			at, found = r.Timestamp, true
			return false
		})
		if err != nil {
			return 0, err
		}
		if !found || at > ts {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo, nil
}

func parseLimit(v string, def, maxLimit int) (int, error) {
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		return 0, errorf(ErrBadRequest, "invalid limit %q", truncate(v, 32))
	}
	return min(n, maxLimit), nil
}

func (c *CU) handleResults(w http.ResponseWriter, r *http.Request) error {
	pid := r.PathValue("pid")
	if err := validID(pid); err != nil {
		return err
	}
	q := r.URL.Query()
	sort := strings.ToUpper(q.Get("sort"))
	if sort == "" {
		sort = "ASC"
	}
	if sort != "ASC" && sort != "DESC" {
		return errorf(ErrBadRequest, "sort must be ASC or DESC")
	}
	limit, err := parseLimit(q.Get("limit"), 25, 1000)
	if err != nil {
		return err
	}
	from, err := c.parseBound(pid, q.Get("from"))
	if err != nil {
		return err
	}
	to, err := c.parseBound(pid, q.Get("to"))
	if err != nil {
		return err
	}
	conn, err := c.listResults(pid, from, to, sort == "DESC", false, limit)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, conn)
	return nil
}

func (c *CU) handleCron(w http.ResponseWriter, r *http.Request) error {
	pid := r.PathValue("pid")
	if err := validID(pid); err != nil {
		return err
	}
	q := r.URL.Query()
	limit, err := parseLimit(q.Get("limit"), 500, 1000)
	if err != nil {
		return err
	}
	from, err := c.parseBound(pid, q.Get("from"))
	if err != nil {
		return err
	}
	to, err := c.parseBound(pid, q.Get("to"))
	if err != nil {
		return err
	}
	if _, err := c.catchUp(r.Context(), pid, -1); err != nil {
		return err
	}
	conn, err := c.listResults(pid, from, to, false, true, limit)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, conn)
	return nil
}

func (c *CU) handleState(w http.ResponseWriter, r *http.Request) error {
	pid := r.PathValue("pid")
	if err := validID(pid); err != nil {
		return err
	}
	if v := r.URL.Query().Get("to"); v != "" {
		if _, ok := parseIntPrefix(v); !ok {
			return errorf(ErrBadRequest, "invalid to %q", truncate(v, 32))
		}
	}
	if err := c.dryRuns.allow(httplimit.ClientAddr(r)); err != nil {
		c.m.dryRunRefused.WithLabelValues("rate").Inc()
		return err
	}
	snap, release, err := c.stateOf(r.Context(), pid)
	if err != nil {
		return err
	}
	defer release()
	// The snapshot is never written again: it is served as it is, without a copy.
	mem, st := snap.mem, snap.st
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Content-Length", strconv.Itoa(len(mem)))
	h.Set("Last-Timestamp", strconv.FormatInt(st.Timestamp, 10))
	h.Set("Last-Ordinate", formatNonce(st.Nonce))
	h.Set("Last-Block-Height", strconv.FormatUint(st.BlockHeight, 10))
	_, _ = w.Write(mem)
	return nil
}

// DryRunMessage is the message a dry-run evaluates (the POST /dry-run body, defined with the
// other wire shapes); unknown keys are ignored.
type DryRunMessage = aoapi.DryRun

func (c *CU) handleDryRun(w http.ResponseWriter, r *http.Request) error {
	pid, err := processID(r)
	if err != nil {
		return err
	}
	to := r.URL.Query().Get("to")
	if to != "" {
		if err := validID(to); err != nil {
			return err
		}
	}
	body, err := httplimit.ReadBody(w, r, c.cfg.MaxDryRunBytes)
	switch httplimit.Status(err) {
	case 0:
	case http.StatusRequestEntityTooLarge:
		return errorf(ErrLimitExceeded, "dry-run body larger than %d bytes", c.cfg.MaxDryRunBytes)
	case http.StatusTooManyRequests:
		return retryLater(ErrRateLimited, time.Second, "%v", err)
	case http.StatusRequestTimeout:
		return errorf(ErrBadRequest, "%v", err)
	default:
		return errorf(ErrBadRequest, "reading body: %v", err)
	}
	var in DryRunMessage
	if err := json.Unmarshal(body, &in); err != nil {
		return errorf(ErrBadRequest, "invalid dry-run message: %v", err)
	}
	if err := c.dryRuns.allow(httplimit.ClientAddr(r)); err != nil {
		c.m.dryRunRefused.WithLabelValues("rate").Inc()
		return err
	}
	res, err := c.DryRun(r.Context(), pid, to, in)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_, _ = w.Write(res)
	return nil
}

func resultWithError(err error, gas uint64) module.Result {
	return module.Result{Error: jsString(err.Error()), GasUsed: gas}
}
