package mu

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
)

// Errors callers branch on. Remote failures are *RemoteError values wrapping one of them.
var (
	// ErrNotFound: the SU or CU does not know the process, message or result.
	ErrNotFound = errors.New("mu: not found")
	// ErrDuplicate: the SU already scheduled this item ("already exists").
	ErrDuplicate = errors.New("mu: already scheduled")
	// ErrRefused: the SU or CU refused the request as sent; repeating it will not help.
	ErrRefused = errors.New("mu: refused")
	// ErrUnavailable: the unit could not be reached or failed on its side; try again later.
	ErrUnavailable = errors.New("mu: unit unavailable")
	// ErrClosed: the MU is shutting down.
	ErrClosed = errors.New("mu: closed")
)

// RemoteError is a failed call to an SU or CU.
type RemoteError struct {
	Kind   error  // ErrNotFound, ErrDuplicate, ErrRefused or ErrUnavailable
	Status int    // HTTP status; 0 when no answer arrived
	Msg    string // the unit's error text, or the transport error
	URL    string
}

func (e *RemoteError) Error() string {
	if e.Status == 0 {
		return fmt.Sprintf("%s: %s", e.URL, e.Msg)
	}
	return fmt.Sprintf("%s: %d %s", e.URL, e.Status, e.Msg)
}

func (e *RemoteError) Unwrap() error { return e.Kind }

// Receipt is what an SU answers to a POST.
type Receipt struct {
	ID        string `json:"id"`
	Timestamp int64  `json:"timestamp"`
}

// Assignment asks an SU to assign an item it holds to a process.
type Assignment struct {
	Process   string
	Message   string
	Exclude   []string
	BaseLayer bool
}

// Tag is a data item tag as the SU and CU JSON carry it.
type Tag struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Process is what the MU needs to know of a process.
type Process struct {
	ID        string
	Scheduler string // first Scheduler tag: the SU's wallet address
	Module    string
	Tags      []Tag
	SUURL     string // base URL of the SU that holds it
}

// Scheduler is the MU's view of an SU's HTTP API (§1.1).
type Scheduler interface {
	// Send POSTs a raw item to the SU at suURL.
	Send(ctx context.Context, suURL string, raw []byte) (Receipt, error)
	// Assign POSTs an assignment; the receipt's ID is the assignment id.
	Assign(ctx context.Context, suURL string, a Assignment) (Receipt, error)
	// Process reads GET /processes/{pid}.
	Process(ctx context.Context, suURL, pid string) (Process, error)
	// FindAssignment looks through pid's schedule from sinceMs on for the assignment of mid
	// and returns its id (ErrNotFound if none).
	FindAssignment(ctx context.Context, suURL, pid, mid string, sinceMs int64) (string, error)
}

// Compute is the MU's view of a CU's HTTP API (§2.1).
type Compute interface {
	// Result reads GET /result/{id}?process-id={pid}.
	Result(ctx context.Context, pid, id string) (*Result, error)
	// Cron reads one page of GET /cron/{pid}?from={from}&limit={limit}.
	Cron(ctx context.Context, pid, from string, limit int) (*CronPage, error)
}

// Router finds SUs. A static table today; the p2p node directory implements it later.
type Router interface {
	// SchedulerURL returns the base URL of the SU whose wallet address is addr.
	SchedulerURL(ctx context.Context, addr string) (string, error)
	// SchedulerURLs lists the SUs to ask for a process whose scheduler is not known yet.
	SchedulerURLs() []string
}

// StaticRouter routes by a fixed table, falling back to Default (typically the local node's
// SU) for addresses it does not list.
type StaticRouter struct {
	Default   string
	ByAddress map[string]string
}

// SchedulerURL implements Router.
func (r StaticRouter) SchedulerURL(_ context.Context, addr string) (string, error) {
	if u, ok := r.ByAddress[addr]; ok {
		return u, nil
	}
	if r.Default != "" {
		return r.Default, nil
	}
	return "", fmt.Errorf("%w: no SU known for scheduler %q", ErrNotFound, addr)
}

// SchedulerURLs implements Router: Default first, then the table's URLs in order.
func (r StaticRouter) SchedulerURLs() []string {
	seen := map[string]bool{}
	var out []string
	if r.Default != "" {
		seen[r.Default] = true
		out = append(out, r.Default)
	}
	var rest []string
	for _, u := range r.ByAddress {
		if !seen[u] {
			seen[u] = true
			rest = append(rest, u)
		}
	}
	sort.Strings(rest)
	return append(out, rest...)
}

// HTTPClient speaks the reference SU and CU JSON over HTTP. It implements Scheduler and,
// with CUURL set, Compute.
type HTTPClient struct {
	HTTP             *http.Client
	CUURL            string // base URL of the CU
	MaxResponseBytes int64  // cap on any response body
}

const defaultMaxResponseBytes = 64 << 20

func (c *HTTPClient) do(ctx context.Context, method, rawURL, contentType string, body []byte, out any) (int, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, rawURL, rd)
	if err != nil {
		return 0, &RemoteError{Kind: ErrRefused, Msg: err.Error(), URL: rawURL}
	}
	req.Header.Set("Accept", "application/json")
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, &RemoteError{Kind: ErrUnavailable, Msg: err.Error(), URL: rawURL}
	}
	defer resp.Body.Close()
	limit := c.MaxResponseBytes
	if limit <= 0 {
		limit = defaultMaxResponseBytes
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return resp.StatusCode, &RemoteError{Kind: ErrUnavailable, Status: resp.StatusCode, Msg: "reading body: " + err.Error(), URL: rawURL}
	}
	if int64(len(data)) > limit {
		return resp.StatusCode, &RemoteError{Kind: ErrRefused, Status: resp.StatusCode, Msg: fmt.Sprintf("response over %d bytes", limit), URL: rawURL}
	}
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode, &RemoteError{Kind: classify(resp.StatusCode), Status: resp.StatusCode, Msg: errorText(data), URL: rawURL}
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return resp.StatusCode, &RemoteError{Kind: ErrUnavailable, Status: resp.StatusCode, Msg: "malformed JSON: " + err.Error(), URL: rawURL}
		}
	}
	return resp.StatusCode, nil
}

// classify maps a non-200 status to an error kind. 202 is the CU's "busy" answer.
func classify(status int) error {
	switch {
	case status == http.StatusNotFound:
		return ErrNotFound
	case status == http.StatusRequestTimeout, status == http.StatusTooManyRequests, status == http.StatusAccepted:
		return ErrUnavailable
	case status >= 400 && status < 500:
		return ErrRefused
	}
	return ErrUnavailable
}

// errorText extracts {"error": …} or returns the (trimmed) body.
func errorText(body []byte) string {
	var e struct {
		Error json.RawMessage `json:"error"`
	}
	if json.Unmarshal(body, &e) == nil && len(e.Error) > 0 {
		var s string
		if json.Unmarshal(e.Error, &s) == nil {
			return s
		}
		return string(e.Error)
	}
	const max = 512
	s := strings.TrimSpace(string(body))
	if len(s) > max {
		s = s[:max]
	}
	return s
}

func joinURL(base, path string, q url.Values) string {
	u := strings.TrimRight(base, "/") + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	return u
}

// dupOrNotFound refines an SU 400: the reference answers every business error with 400, so the
// text tells a duplicate and an unknown process from other refusals.
func dupOrNotFound(err error) error {
	var re *RemoteError
	if !errors.As(err, &re) || re.Kind != ErrRefused {
		return err
	}
	switch msg := strings.ToLower(re.Msg); {
	case strings.Contains(msg, "already exists"):
		re.Kind = ErrDuplicate
	case strings.Contains(msg, "not found"):
		re.Kind = ErrNotFound
	}
	return err
}

// Send implements Scheduler.
func (c *HTTPClient) Send(ctx context.Context, suURL string, raw []byte) (Receipt, error) {
	var r Receipt
	_, err := c.do(ctx, http.MethodPost, joinURL(suURL, "/", nil), "application/octet-stream", raw, &r)
	return r, dupOrNotFound(err)
}

// Assign implements Scheduler.
func (c *HTTPClient) Assign(ctx context.Context, suURL string, a Assignment) (Receipt, error) {
	q := url.Values{"process-id": {a.Process}, "assign": {a.Message}}
	if len(a.Exclude) > 0 {
		q.Set("exclude", strings.Join(a.Exclude, ","))
	}
	u := joinURL(suURL, "/", q)
	if a.BaseLayer {
		u += "&base-layer"
	}
	var r Receipt
	_, err := c.do(ctx, http.MethodPost, u, "application/octet-stream", []byte{}, &r)
	return r, dupOrNotFound(err)
}

// Process implements Scheduler.
func (c *HTTPClient) Process(ctx context.Context, suURL, pid string) (Process, error) {
	var p struct {
		ProcessID string `json:"process_id"`
		Tags      []Tag  `json:"tags"`
	}
	if _, err := c.do(ctx, http.MethodGet, joinURL(suURL, "/processes/"+url.PathEscape(pid), nil), "", nil, &p); err != nil {
		return Process{}, dupOrNotFound(err)
	}
	if p.ProcessID != pid {
		return Process{}, &RemoteError{Kind: ErrUnavailable, Status: http.StatusOK, Msg: fmt.Sprintf("answered process %q for %q", p.ProcessID, pid), URL: suURL}
	}
	return processFromTags(pid, suURL, p.Tags), nil
}

func processFromTags(pid, suURL string, tags []Tag) Process {
	p := Process{ID: pid, Tags: tags, SUURL: suURL}
	p.Scheduler, _ = tagValue(tags, "Scheduler")
	p.Module, _ = tagValue(tags, "Module")
	return p
}

func tagValue(tags []Tag, name string) (string, bool) {
	for _, t := range tags {
		if t.Name == name {
			return t.Value, true
		}
	}
	return "", false
}

// maxSchedulePages bounds FindAssignment's walk through a schedule.
const maxSchedulePages = 100

// FindAssignment implements Scheduler by paging GET /{pid}?process-id={pid}&from={ms}.
func (c *HTTPClient) FindAssignment(ctx context.Context, suURL, pid, mid string, sinceMs int64) (string, error) {
	from := strconv.FormatInt(max(sinceMs, 0), 10)
	for range maxSchedulePages {
		var page struct {
			PageInfo struct {
				HasNextPage bool `json:"has_next_page"`
			} `json:"page_info"`
			Edges []struct {
				Cursor json.RawMessage `json:"cursor"`
				Node   struct {
					Assignment *struct {
						ID   string `json:"id"`
						Tags []Tag  `json:"tags"`
					} `json:"assignment"`
				} `json:"node"`
			} `json:"edges"`
		}
		q := url.Values{"process-id": {pid}, "from": {from}, "limit": {"100"}}
		if _, err := c.do(ctx, http.MethodGet, joinURL(suURL, "/"+url.PathEscape(pid), q), "", nil, &page); err != nil {
			return "", dupOrNotFound(err)
		}
		for _, e := range page.Edges {
			if a := e.Node.Assignment; a != nil {
				if m, _ := tagValue(a.Tags, "Message"); m == mid {
					return a.ID, nil
				}
			}
		}
		if !page.PageInfo.HasNextPage || len(page.Edges) == 0 {
			break
		}
		next := strings.Trim(string(page.Edges[len(page.Edges)-1].Cursor), `"`)
		if next == from {
			break
		}
		from = next
	}
	return "", fmt.Errorf("%w: no assignment of %s in %s", ErrNotFound, mid, pid)
}

// Result implements Compute.
func (c *HTTPClient) Result(ctx context.Context, pid, id string) (*Result, error) {
	q := url.Values{"process-id": {pid}, "no-busy": {"1"}}
	var r Result
	if _, err := c.do(ctx, http.MethodGet, joinURL(c.CUURL, "/result/"+url.PathEscape(id), q), "", nil, &r); err != nil {
		return nil, notFound400(err)
	}
	return &r, nil
}

// Cron implements Compute.
func (c *HTTPClient) Cron(ctx context.Context, pid, from string, limit int) (*CronPage, error) {
	q := url.Values{"limit": {strconv.Itoa(limit)}}
	if from != "" {
		q.Set("from", from)
	}
	var p CronPage
	if _, err := c.do(ctx, http.MethodGet, joinURL(c.CUURL, "/cron/"+url.PathEscape(pid), q), "", nil, &p); err != nil {
		return nil, notFound400(err)
	}
	return &p, nil
}

// notFound400: a CU answers an unknown message with 400 or 404 depending on where the lookup
// failed (its SU's 400 "Message or Process not found" is passed through); both mean "not yet".
func notFound400(err error) error {
	var re *RemoteError
	if errors.As(err, &re) && re.Kind == ErrRefused && strings.Contains(strings.ToLower(re.Msg), "not found") {
		re.Kind = ErrNotFound
	}
	return err
}
