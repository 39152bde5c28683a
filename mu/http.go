package mu

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/aonode/aonode/dataitem"
	"github.com/aonode/aonode/node/httplimit"
)

// Handler serves the reference MU API (§3.1) with routes relative to the MU's base URL; the
// node mounts it under /mu with http.StripPrefix.
func (m *MU) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, "ao messenger unit")
	})
	mux.HandleFunc("POST /{$}", m.post)
	mux.HandleFunc("POST /monitor/{pid}", m.postMonitor)
	mux.HandleFunc("DELETE /monitor/{pid}", m.deleteMonitor)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("%s %s not found", r.Method, r.URL.Path))
	})
	return mux
}

// httpError is an answer to a request the MU will not process.
type httpError struct {
	status int
	msg    string
}

func (e *httpError) Error() string { return e.msg }

func fail(status int, format string, args ...any) error {
	return &httpError{status: status, msg: fmt.Sprintf(format, args...)}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"Internal error"}`)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

// answerError maps an error to its HTTP answer, in one place: the MU's own refusals carry
// their status; an SU's refusal is the client's problem (400, with the SU's words); an SU or
// CU that cannot be reached is 502 (503 when it says it is unavailable); shutdown is 503.
func (m *MU) answerError(w http.ResponseWriter, r *http.Request, err error) {
	var he *httpError
	var re *RemoteError
	switch {
	case errors.As(err, &he):
		writeError(w, he.status, he.msg)
	case errors.Is(err, ErrClosed), m.ctx.Err() != nil:
		writeError(w, http.StatusServiceUnavailable, "MU is shutting down")
	case errors.As(err, &re) && (re.Kind == ErrRefused || re.Kind == ErrDuplicate || re.Kind == ErrNotFound):
		writeError(w, http.StatusBadRequest, re.Msg)
	case errors.As(err, &re) && re.Status == http.StatusServiceUnavailable:
		writeError(w, http.StatusServiceUnavailable, "Scheduler unavailable: "+re.Msg)
	case errors.As(err, &re):
		writeError(w, http.StatusBadGateway, "Scheduler unreachable: "+re.Msg)
	case errors.Is(err, ErrNotFound):
		writeError(w, http.StatusBadRequest, err.Error())
	default:
		m.log.Error("MU request failed", "method", r.Method, "path", r.URL.Path, "error", err)
		writeError(w, http.StatusInternalServerError, "Internal error")
	}
}

// readItem reads a body of at most MaxItemBytes through httplimit.ReadBody: a body announced
// larger is refused before it is read, and the buffer grows with what arrives.
func (m *MU) readItem(w http.ResponseWriter, r *http.Request) (*dataitem.Item, error) {
	raw, err := httplimit.ReadBody(w, r, m.cfg.MaxItemBytes)
	if err != nil {
		return nil, bodyError(w, err)
	}
	if len(raw) == 0 {
		return nil, fail(http.StatusBadRequest, "Request body is empty: expected a signed ANS-104 data item")
	}
	it, err := dataitem.ParseVerified(raw)
	if err != nil {
		return nil, fail(http.StatusBadRequest, "Invalid data item: %v", err)
	}
	return it, nil
}

// bodyError is the answer to a body that could not be read.
func bodyError(w http.ResponseWriter, err error) error {
	status := httplimit.Status(err)
	switch status {
	case http.StatusRequestEntityTooLarge:
		return fail(status, "Request body exceeds the limit of %d bytes", limitOf(err))
	case http.StatusTooManyRequests:
		httplimit.SetRetryAfter(w, time.Second)
		return fail(status, "%v", err)
	case http.StatusRequestTimeout:
		return fail(status, "%v", err)
	}
	return fail(http.StatusBadRequest, "reading request body: %v", err)
}

func limitOf(err error) int64 {
	var tl *httplimit.TooLargeError
	if errors.As(err, &tl) {
		return tl.Limit
	}
	return 0
}

func (m *MU) post(w http.ResponseWriter, r *http.Request) {
	if m.closed.Load() {
		m.answerError(w, r, ErrClosed)
		return
	}
	q := r.URL.Query()
	if q.Has("process-id") || q.Has("assign") {
		if !q.Has("process-id") || !q.Has("assign") {
			m.met.intake.WithLabelValues("assignment", "refused").Inc()
			writeError(w, http.StatusBadRequest, "If sending assign or process-id, you must send both.")
			return
		}
		var exclude []string
		if v := q.Get("exclude"); v != "" {
			exclude = strings.Split(v, ",")
		}
		a := Assignment{Process: q.Get("process-id"), Message: q.Get("assign"), Exclude: exclude, BaseLayer: q.Has("base-layer")}
		id, err := m.SubmitAssignment(a)
		if err != nil {
			m.met.intake.WithLabelValues("assignment", "refused").Inc()
			m.answerError(w, r, err)
			return
		}
		m.met.intake.WithLabelValues("assignment", "accepted").Inc()
		writeJSON(w, http.StatusAccepted, map[string]string{"message": "Processing Assignment", "id": id})
		return
	}
	it, err := m.readItem(w, r)
	if err == nil {
		err = m.Submit(it)
	}
	if err != nil {
		m.met.intake.WithLabelValues("item", "refused").Inc()
		m.answerError(w, r, err)
		return
	}
	typ, _ := it.Tag("Type")
	m.met.intake.WithLabelValues(strings.ToLower(typ), "accepted").Inc()
	writeJSON(w, http.StatusAccepted, map[string]string{"message": "Processing DataItem", "id": it.ID()})
}

// checkIntake applies the reference's intake rules (§3.2): Data-Protocol=ao and a Type of
// Process or Message, first occurrence of each; and what the SU needs to route the item. A
// client item may not carry From-Process or From-Module: an MU writes them when it pushes a
// process's outbox, and a process takes From-Process as the sender (su/README.md).
func checkIntake(it *dataitem.Item) (typ string, err error) {
	if dp, _ := it.Tag("Data-Protocol"); dp != "ao" {
		return "", fail(http.StatusBadRequest, "Data-Protocol tag must be 'ao'")
	}
	if err := it.CheckTagsUTF8(); err != nil {
		return "", fail(http.StatusBadRequest, "%v: tags must be UTF-8 text", err)
	}
	for _, t := range it.Tags {
		if strings.EqualFold(t.Name, "From-Process") || strings.EqualFold(t.Name, "From-Module") {
			return "", fail(http.StatusBadRequest, "%s is set by an MU when it pushes a process's outbox; a client item may not carry it", t.Name)
		}
	}
	typ, _ = it.Tag("Type")
	switch typ {
	case "Message":
		if len(it.Target) != 32 {
			return "", fail(http.StatusBadRequest, "Message has no target process")
		}
	case "Process":
		if _, ok := it.Tag("Scheduler"); !ok {
			return "", fail(http.StatusBadRequest, "Process has no Scheduler tag")
		}
	default:
		return "", fail(http.StatusBadRequest, "Type tag must be 'Process' or 'Message'")
	}
	return typ, nil
}

// Submit takes a verified Process or Message item from a client: it is queued durably, handed
// to its SU, and its result is cranked afterwards. It returns once the SU has the item. An item
// the SU already holds is accepted (a client retrying after a lost answer) and its crank, if
// already done, is not repeated.
func (m *MU) Submit(it *dataitem.Item) error {
	typ, err := checkIntake(it)
	if err != nil {
		return err
	}
	id := it.ID()
	t := &task{Kind: kindSend, Item: it.Raw(), PushedFor: id, Created: m.cfg.Clock.Now().UnixMilli(), Seq: m.nextSeq()}
	if typ == "Process" {
		t.Process, t.Boot = id, !m.cfg.NoBootCrank
		if len(it.Target) == 32 {
			t.Assigns = []string{dataitem.EncodeID(it.Target)}
		}
	} else {
		// A cast (tag Cast: true, what aonode send --cast sets) is sent and not followed,
		// as casts from an outbox are.
		cast, _ := it.Tag("Cast")
		t.Process, t.Follow = dataitem.EncodeID(it.Target), !strings.EqualFold(cast, "true")
	}
	ctx, cancel := context.WithTimeout(m.ctx, m.cfg.RequestTimeout)
	defer cancel()
	urls, err := m.suFor(ctx, it, t.Process)
	if errors.Is(err, ErrNotFound) {
		return fail(http.StatusBadRequest, "Process %s not found on any known scheduler", t.Process)
	}
	if err != nil {
		return err
	}
	key := deriveKey("intake", []byte(id))
	e, ok := m.claim(key, t)
	if !ok {
		return nil // the same item is being processed right now
	}
	if err := m.commitTask(ctx, key, t); err != nil {
		m.forget(e)
		return err
	}
	_, err = m.toEach(ctx, urls, func(ctx context.Context, u string) error {
		_, err := m.sched.Send(ctx, u, t.Item)
		return err
	})
	if err != nil && !errors.Is(err, ErrDuplicate) {
		m.abandon(e)
		return err
	}
	e.sent = true
	m.release(e)
	return nil
}

// SubmitAssignment asks the SU of a.Process to assign a.Message, then cranks the result.
// It returns the assignment id.
func (m *MU) SubmitAssignment(a Assignment) (string, error) {
	if _, err := dataitem.DecodeID(a.Process); err != nil {
		return "", fail(http.StatusBadRequest, "process-id must be a 43-character base64url id")
	}
	if _, err := dataitem.DecodeID(a.Message); err != nil {
		return "", fail(http.StatusBadRequest, "assign must be a 43-character base64url id")
	}
	for _, e := range a.Exclude {
		if e == "" {
			return "", fail(http.StatusBadRequest, "exclude values may not be empty")
		}
	}
	ctx, cancel := context.WithTimeout(m.ctx, m.cfg.RequestTimeout)
	defer cancel()
	p, err := m.locate(ctx, a.Process)
	if errors.Is(err, ErrNotFound) {
		return "", fail(http.StatusBadRequest, "Process %s not found on any known scheduler", a.Process)
	}
	if err != nil {
		return "", err
	}
	t := &task{Kind: kindAssign, Process: a.Process, Message: a.Message, Exclude: a.Exclude, BaseLayer: a.BaseLayer,
		Created: m.cfg.Clock.Now().UnixMilli(), Seq: m.nextSeq()}
	key := deriveKey("assign", []byte(a.Process), []byte(a.Message))
	e, ok := m.claim(key, t)
	if !ok {
		return "", fail(http.StatusBadRequest, "Message already exists")
	}
	if err := m.commitTask(ctx, key, t); err != nil {
		m.forget(e)
		return "", err
	}
	var r Receipt
	su, err := m.toEach(ctx, p.SUURLs, func(ctx context.Context, u string) (err error) {
		r, err = m.sched.Assign(ctx, u, a)
		return err
	})
	if errors.Is(err, ErrDuplicate) {
		aid, ferr := m.sched.FindAssignment(ctx, su, a.Process, a.Message, t.Created-lookBackMs)
		if ferr != nil {
			m.abandon(e)
			return "", err
		}
		r.ID, err = aid, nil
	}
	if err != nil {
		m.abandon(e)
		return "", err
	}
	e.assignmentID = r.ID
	m.release(e)
	return r.ID, nil
}

func (m *MU) commitTask(ctx context.Context, key taskKey, t *task) error {
	enc, err := t.encode()
	if err != nil {
		return err
	}
	b := m.db.NewBatch()
	b.PutMUTask(key[:], enc)
	if err := m.db.Commit(ctx, b); err != nil {
		return fmt.Errorf("mu: queueing: %w", err)
	}
	return nil
}

// abandon drops a claimed task whose first step the SU refused or that never reached it. If
// the SU did take it after all, the client's retry is accepted as a duplicate and cranked.
func (m *MU) abandon(e *entry) {
	b := m.db.NewBatch()
	b.DeleteMUTask(e.key[:])
	if err := m.db.Commit(m.ctx, b); err != nil {
		// It stays queued: run it like any other task rather than lose it.
		m.log.Warn("could not drop a refused intake task; it will be retried", "error", err)
		m.release(e)
		return
	}
	m.forget(e)
}

func (m *MU) postMonitor(w http.ResponseWriter, r *http.Request) {
	pid, err := m.monitorRequest(w, r)
	if err == nil {
		err = m.Monitor(r.Context(), pid)
	}
	if err != nil {
		m.answerError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = io.WriteString(w, "Monitoring process")
}

func (m *MU) deleteMonitor(w http.ResponseWriter, r *http.Request) {
	pid, err := m.monitorRequest(w, r)
	if err == nil {
		err = m.Unmonitor(r.Context(), pid)
	}
	if err != nil {
		m.answerError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = io.WriteString(w, "Process deleted")
}

// monitorRequest checks a (un)monitor request: a signed item whose target is the process, as
// aoconnect sends, for a process an SU knows, signed by the process's owner or by a key its
// Authority tags name: anyone else could stop (or start, at the node's cost) someone
// else's crons.
func (m *MU) monitorRequest(w http.ResponseWriter, r *http.Request) (string, error) {
	if m.closed.Load() {
		return "", ErrClosed
	}
	pid := r.PathValue("pid")
	if _, err := dataitem.DecodeID(pid); err != nil {
		return "", fail(http.StatusBadRequest, "process id must be a 43-character base64url id")
	}
	it, err := m.readItem(w, r)
	if err != nil {
		return "", err
	}
	if len(it.Target) != 32 || dataitem.EncodeID(it.Target) != pid {
		return "", fail(http.StatusBadRequest, "the signed item's target must be the process %s", pid)
	}
	ctx, cancel := context.WithTimeout(r.Context(), m.cfg.RequestTimeout)
	defer cancel()
	p, err := m.locate(ctx, pid)
	if errors.Is(err, ErrNotFound) {
		return "", fail(http.StatusBadRequest, "Process %s not found on any known scheduler", pid)
	} else if err != nil {
		return "", err
	}
	if signer := it.Address(); signer != p.Owner && !hasAuthority(p.Tags, signer) {
		return "", fail(http.StatusForbidden, "only the owner of process %s or a key in its Authority tags may start or stop its cron monitor (signer %s)", pid, signer)
	}
	return pid, nil
}

// hasAuthority reports whether tags name addr in an Authority tag (a value may list several,
// comma-separated, as aos reads them).
func hasAuthority(tags []Tag, addr string) bool {
	for _, t := range tags {
		if t.Name != "Authority" {
			continue
		}
		for _, v := range strings.Split(t.Value, ",") {
			if strings.TrimSpace(v) == addr {
				return true
			}
		}
	}
	return false
}
