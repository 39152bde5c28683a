package su

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/aonode/aonode/dataitem"
	"github.com/aonode/aonode/dataitem/aoapi"
	"github.com/aonode/aonode/node/httpcount"
	"github.com/aonode/aonode/node/httplimit"
	"github.com/aonode/aonode/store"
)

// Handler returns the reference SU HTTP API rooted at "/". The node mounts it under /su.
//
//	GET  /                     {"address","timestamp":"<ms>"}
//	POST /                     raw item, or ?process-id=&assign=[&exclude=a,b]
//	GET  /timestamp            {"timestamp":"<ms>","block_height":"<12 digits>"}
//	GET  /health               200, empty body
//	GET  /metrics              Prometheus text (when a metrics handler is configured)
//	GET  /{id}?process-id=     message, assignment, or the paginated process list
//	GET  /{pid}                the list of a process this SU holds (process-id may be left out)
//	GET  /processes/{id}       the Process object
//	GET  /{id}/latest          the latest Message object
//
// Every refusal is JSON {"error": ...}, also for routes and methods it does not serve and for
// a malformed query string.
func (s *SU) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.getInfo)
	mux.HandleFunc("POST /{$}", s.post)
	mux.HandleFunc("GET /timestamp", s.getTimestamp)
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) })
	mux.HandleFunc("GET /metrics", s.getMetrics)
	mux.HandleFunc("GET /consensus/{id}", s.getConsensus)
	mux.HandleFunc("GET /{id}", s.getByID)
	// /processes/{id} and /{id}/latest overlap on /processes/latest, which ServeMux refuses to
	// register; the reference matches routes in order, so /processes/ wins.
	mux.HandleFunc("GET /{a}/{b}", func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.PathValue("a") == "processes":
			s.getProcess(w, r, r.PathValue("b"))
		case r.PathValue("b") == "latest":
			s.getLatest(w, r, r.PathValue("a"))
		default:
			writeError(w, http.StatusNotFound, "Not Found")
		}
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		// Only GET and POST are served; a path some route serves for another method is 405.
		for _, m := range []string{http.MethodGet, http.MethodPost} {
			probe := r.Clone(r.Context())
			probe.Method = m
			if _, pattern := mux.Handler(probe); pattern != "/" && m != r.Method {
				w.Header().Set("Allow", "GET, POST, OPTIONS")
				writeError(w, http.StatusMethodNotAllowed, "Method Not Allowed")
				return
			}
		}
		writeError(w, http.StatusNotFound, "Not Found")
	})
	return s.countRequests(mux)
}

// countRequests counts requests by route and status, and answers CORS like the reference
// (any origin, method and header) so that browser clients can call the SU directly.
func (s *SU) countRequests(mux *http.ServeMux) http.Handler {
	counted := httpcount.Handler(s.metrics.requests, mux)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Access-Control-Allow-Origin", "*")
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			h.Set("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
			if req := r.Header.Get("Access-Control-Request-Headers"); req != "" {
				h.Set("Access-Control-Allow-Headers", req)
			}
			h.Set("Access-Control-Max-Age", "3600")
			w.WriteHeader(http.StatusOK)
			s.metrics.requests.WithLabelValues("preflight", "200").Inc()
			return
		}
		if _, err := url.ParseQuery(r.URL.RawQuery); err != nil {
			// The reference's actix answers these in plain text; aonode keeps to JSON.
			writeError(w, http.StatusBadRequest, "Query deserialize error: "+err.Error())
			s.metrics.requests.WithLabelValues("bad_query", "400").Inc()
			return
		}
		counted.ServeHTTP(w, r)
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	// serde_json does not escape <, > and &; neither do we.
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = io.WriteString(w, `{"error":"encoding response"}`)
		return
	}
	body := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, aoapi.ErrorBody{Error: msg})
}

// fail maps an error to the reference's statuses in one place: refusals are 400 with their
// text (413 for oversize bodies), a body the upload guard refused 429 or 408, a closed store 503, anything else 500 with the details
// logged rather than shown.
func (s *SU) fail(w http.ResponseWriter, r *http.Request, err error) {
	var refused *RefusedError
	switch {
	case errors.As(err, &refused):
		status := http.StatusBadRequest
		if errors.Is(err, ErrRequestTooLarge) {
			status = http.StatusRequestEntityTooLarge
		}
		writeError(w, status, refused.Msg)
	case errors.Is(err, httplimit.ErrBusy):
		httplimit.SetRetryAfter(w, time.Second)
		writeError(w, http.StatusTooManyRequests, err.Error())
	case errors.Is(err, httplimit.ErrSlow):
		writeError(w, http.StatusRequestTimeout, err.Error())
	case errors.Is(err, store.ErrTooLarge):
		writeError(w, http.StatusRequestEntityTooLarge, "Item too large for this SU's store")
	case errors.Is(err, ErrUnavailable):
		httplimit.SetRetryAfter(w, time.Second)
		writeError(w, http.StatusServiceUnavailable, err.Error())
	case errors.Is(err, store.ErrClosed):
		writeError(w, http.StatusServiceUnavailable, "Server is shutting down. Please try again later.")
	case errors.Is(err, r.Context().Err()) && r.Context().Err() != nil:
		// The client went away; nobody reads the answer.
		writeError(w, http.StatusServiceUnavailable, "request cancelled")
	default:
		s.log.Error("su request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		writeError(w, http.StatusInternalServerError, "Internal error")
	}
}

func (s *SU) now() string { return strconv.FormatInt(s.opts.Clock(), 10) }

func (s *SU) getInfo(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, aoapi.Info{Address: s.address, Timestamp: s.now()})
}

func (s *SU) getTimestamp(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, aoapi.Timestamp{Timestamp: s.now(), BlockHeight: FormatBlockHeight(s.opts.BlockHeight())})
}

func (s *SU) getMetrics(w http.ResponseWriter, r *http.Request) {
	if s.opts.MetricsHandler == nil {
		// The reference's text, as JSON like every other refusal.
		writeError(w, http.StatusBadRequest, "Metrics not enabled")
		return
	}
	s.opts.MetricsHandler.ServeHTTP(w, r)
}

func (s *SU) post(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var (
		res Scheduled
		err error
	)
	if q.Has("process-id") || q.Has("assign") {
		if !q.Has("process-id") || !q.Has("assign") {
			writeError(w, http.StatusBadRequest, "If sending assign or process-id, you must send both.")
			return
		}
		if q.Has("base-layer") {
			writeError(w, http.StatusBadRequest, "base-layer assignments are not supported by this SU")
			return
		}
		var exclude []string
		if v := q.Get("exclude"); v != "" {
			exclude = strings.Split(v, ",")
		}
		res, err = s.AssignExisting(r.Context(), q.Get("process-id"), q.Get("assign"), exclude)
	} else {
		var raw []byte
		if raw, err = s.readBody(w, r); err == nil {
			res, err = s.Submit(r.Context(), raw)
		}
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	// The reference answers the item's id, or the assignment's id for an assign.
	id := res.Slot.MessageID
	if q.Has("assign") {
		id = res.Slot.AssignmentID
	}
	writeJSON(w, http.StatusOK, aoapi.Receipt{ID: id, Timestamp: s.opts.Clock(), Warning: res.Warning})
}

// isOwnMessage tells an item that arrived with its slot (a Message to that process) from one
// assigned to it from elsewhere, whose list node carries "message": null in the reference.
func isOwnMessage(it *dataitem.Item, pid string) bool {
	typ, _ := typeOf(it)
	return typ == typeMessage && len(it.Target) == 32 && dataitem.EncodeID(it.Target) == pid
}

// readBody reads a POSTed item through httplimit.ReadBody: a body announced over the limit is
// refused before it is read, and the buffer grows with what arrives.
func (s *SU) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	raw, err := httplimit.ReadBody(w, r, s.opts.MaxItemBytes)
	switch httplimit.Status(err) {
	case 0:
		return raw, nil
	case http.StatusRequestEntityTooLarge:
		return nil, refuse(ErrRequestTooLarge, "Request body exceeds the limit of %d bytes", s.opts.MaxItemBytes)
	case http.StatusBadRequest:
		return nil, refuse(ErrInvalidItem, "reading request body: %v", err)
	}
	return nil, err
}

func (s *SU) loadItem(id string) (*dataitem.Item, error) {
	raw, err := s.opts.DB.Item(id)
	if err != nil {
		return nil, err
	}
	it, err := dataitem.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("su: stored item %s: %w", id, err)
	}
	return it, nil
}

// messageObject renders a slot as the reference's {"message","assignment"} object; message is
// null for a pure assignment of an item that did not arrive with this slot.
func (s *SU) messageObject(slot store.Slot, showAnchor bool) (aoapi.MessageNode, int, error) {
	a, err := s.loadItem(slot.AssignmentID)
	if err != nil {
		return aoapi.MessageNode{}, 0, err
	}
	obj := aoapi.MessageNode{Assignment: newAssignment(a, showAnchor)}
	size := len(a.Raw())
	it, err := s.loadItem(slot.MessageID)
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return aoapi.MessageNode{}, 0, err
	case (slot.Nonce == 0 && slot.MessageID == slot.Process) || isOwnMessage(it, slot.Process):
		obj.Message = newMessage(it)
		size += len(it.Raw())
	}
	return obj, size, nil
}

func (s *SU) getByID(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	q := r.URL.Query()
	if !q.Has("process-id") {
		// aoconnect 0.0.98's getMessages asks GET /{process}?from&to&limit without it. The
		// reference requires it since a8946493 for its router mode only, so a process this SU
		// holds is answered with its list; anything else gets the reference's refusal (as JSON).
		if _, err := s.opts.DB.Slot(id, 0); err == nil {
			s.writePage(w, r, id, q)
			return
		} else if !errors.Is(err, store.ErrNotFound) {
			s.fail(w, r, err)
			return
		}
		writeError(w, http.StatusBadRequest, "Query deserialize error: missing field `process-id`")
		return
	}
	pid := q.Get("process-id")
	showAnchor := q.Has("show-anchor")

	slot, err := s.opts.DB.SlotByAssignment(id)
	if err == nil {
		s.writeMessage(w, r, slot, showAnchor)
		return
	}
	if !errors.Is(err, store.ErrNotFound) {
		s.fail(w, r, err)
		return
	}
	if id != pid {
		slot, err = s.opts.DB.SlotByMessage(pid, id)
		switch {
		case err == nil:
			obj, _, err := s.messageObject(slot, showAnchor)
			if err != nil {
				s.fail(w, r, err)
				return
			}
			// A pure assignment is found by its assignment id, not by the assigned item's id.
			if obj.Message != nil {
				writeJSON(w, http.StatusOK, obj)
				return
			}
		case !errors.Is(err, store.ErrNotFound):
			s.fail(w, r, err)
			return
		}
	}
	if _, err := s.opts.DB.Slot(id, 0); err == nil {
		s.writePage(w, r, id, q)
		return
	} else if !errors.Is(err, store.ErrNotFound) {
		s.fail(w, r, err)
		return
	}
	writeError(w, http.StatusBadRequest, "Message or Process not found")
}

func (s *SU) writeMessage(w http.ResponseWriter, r *http.Request, slot store.Slot, showAnchor bool) {
	obj, _, err := s.messageObject(slot, showAnchor)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, obj)
}

func (s *SU) getProcess(w http.ResponseWriter, r *http.Request, pid string) {
	slot, err := s.opts.DB.Slot(pid, 0)
	if errors.Is(err, store.ErrNotFound) {
		writeError(w, http.StatusBadRequest, "Process not found")
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	p, err := s.loadItem(pid)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, newProcess(p, slot))
}

func (s *SU) getLatest(w http.ResponseWriter, r *http.Request, pid string) {
	slot, err := s.opts.DB.LastSlot(pid)
	if errors.Is(err, store.ErrNotFound) || (err == nil && slot.Nonce == 0) {
		writeError(w, http.StatusBadRequest, "Latest message not available")
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.writeMessage(w, r, slot, false)
}

// pageQuery is the parsed query of a process list.
type pageQuery struct {
	nonceMode     bool
	first         bool // the Process itself is node 0
	startNonce    uint64
	hasTo         bool
	to            int64 // ms, inclusive
	hasToNonce    bool
	toNonce       int64 // inclusive
	limit         int
	showAnchor    bool
	fromTimestamp *int64
}

func parseInt(q url.Values, name string) (int64, bool, error) {
	if !q.Has(name) {
		return 0, false, nil
	}
	v, err := strconv.ParseInt(q.Get(name), 10, 64)
	if err != nil {
		return 0, false, refuse(ErrInvalidItem, "invalid %s: %q is not an integer", name, q.Get(name))
	}
	return v, true, nil
}

func (s *SU) parsePageQuery(q url.Values) (pageQuery, error) {
	pq := pageQuery{limit: defaultPageLimit, showAnchor: q.Has("show-anchor")}
	pq.nonceMode = q.Has("from-nonce") || q.Has("to-nonce")
	from, hasFrom, err := parseInt(q, "from")
	if err != nil {
		return pq, err
	}
	if pq.to, pq.hasTo, err = parseInt(q, "to"); err != nil {
		return pq, err
	}
	fromNonce, hasFromNonce, err := parseInt(q, "from-nonce")
	if err != nil {
		return pq, err
	}
	if pq.toNonce, pq.hasToNonce, err = parseInt(q, "to-nonce"); err != nil {
		return pq, err
	}
	limit, hasLimit, err := parseInt(q, "limit")
	if err != nil {
		return pq, err
	}
	if hasLimit {
		switch {
		case limit < 1:
			return pq, refuse(ErrInvalidItem, "invalid limit: %d (must be at least 1)", limit)
		case limit > 1<<31-1:
			// The reference parses limit as an i32.
			return pq, refuse(ErrInvalidItem, "invalid limit: %d (must be at most %d)", limit, 1<<31-1)
		}
		pq.limit = int(min(limit, int64(s.opts.MaxPageItems)))
	}
	pq.limit = min(pq.limit, s.opts.MaxPageItems)
	pq.startNonce = 1
	if pq.nonceMode {
		switch {
		case !hasFromNonce || fromNonce == -1:
			pq.first = true
		case fromNonce < -1:
			return pq, refuse(ErrInvalidItem, "invalid from-nonce: %d", fromNonce)
		default:
			pq.startNonce = uint64(fromNonce) + 1
			if pq.startNonce == 0 {
				pq.startNonce = 1<<64 - 1
			}
		}
	} else if !hasFrom {
		pq.first = true
	} else {
		pq.fromTimestamp = &from
	}
	return pq, nil
}

// writePage answers the paginated list of a process (ao-protocol §1.2): ascending, from
// exclusive and to inclusive, the Process itself as node 0 of the first page, and an exact
// has_next_page (limit+1 rows are looked at).
func (s *SU) writePage(w http.ResponseWriter, r *http.Request, pid string, q url.Values) {
	pq, err := s.parsePageQuery(q)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := aoapi.Page{Edges: []aoapi.Edge{}}
	bytesSoFar := 0
	if pq.first {
		slot, err := s.opts.DB.Slot(pid, 0)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		obj, n, err := s.messageObject(slot, pq.showAnchor)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		out.Edges = append(out.Edges, aoapi.Edge{Node: obj, Cursor: cursorOf(slot, pq.nonceMode)})
		bytesSoFar += n
	}
	start := pq.startNonce
	if pq.fromTimestamp != nil {
		n, err := s.opts.DB.FirstNonceAfter(pid, *pq.fromTimestamp)
		if errors.Is(err, store.ErrNotFound) {
			writeJSON(w, http.StatusOK, out)
			return
		}
		if err != nil {
			s.fail(w, r, err)
			return
		}
		start = max(n, 1)
	}
	var scanErr error
	err = s.opts.DB.Slots(pid, start, func(slot store.Slot) bool {
		if slot.Nonce == 0 {
			return true
		}
		if pq.nonceMode && pq.hasToNonce && (pq.toNonce < 0 || slot.Nonce > uint64(pq.toNonce)) {
			return false
		}
		if !pq.nonceMode && pq.hasTo && slot.Timestamp > pq.to {
			// Timestamps never decrease along the nonces, so nothing later fits either.
			return false
		}
		if len(out.Edges) >= pq.limit || (len(out.Edges) > 0 && bytesSoFar >= s.opts.MaxPageBytes) {
			out.PageInfo.HasNextPage = true
			return false
		}
		obj, n, err := s.messageObject(slot, pq.showAnchor)
		if err != nil {
			scanErr = err
			return false
		}
		out.Edges = append(out.Edges, aoapi.Edge{Node: obj, Cursor: cursorOf(slot, pq.nonceMode)})
		bytesSoFar += n
		return true
	})
	if err == nil {
		err = scanErr
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// getConsensus is GET /consensus/{process-id}: the process's Raft group as this member sees
// it (aoapi.Consensus).
func (s *SU) getConsensus(w http.ResponseWriter, r *http.Request) {
	pid := r.PathValue("id")
	if _, err := dataitem.DecodeID(pid); err != nil {
		writeError(w, http.StatusBadRequest, "Invalid process id")
		return
	}
	if s.opts.Consensus == nil {
		writeError(w, http.StatusNotFound, "Process is not ordered by a scheduler set on this SU")
		return
	}
	st, ok, err := s.opts.Consensus.Status(pid)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if !ok {
		writeError(w, http.StatusNotFound, "Process is not ordered by a scheduler set on this SU")
		return
	}
	writeJSON(w, http.StatusOK, st)
}
