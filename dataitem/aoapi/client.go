package aoapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/aonode/aonode/node/httplimit"
)

// DefaultMaxResponseBytes bounds what a Client reads of one answer unless told otherwise.
const DefaultMaxResponseBytes = 64 << 20

// Errors an *Error wraps, for callers that branch on how a call failed.
var (
	// ErrBadURL: the request could not be built (a malformed base URL or id).
	ErrBadURL = errors.New("aoapi: bad request URL")
	// ErrNoAnswer: the unit could not be reached, or the answer was cut off.
	ErrNoAnswer = errors.New("aoapi: no answer")
	// ErrStatus: the unit answered with a status other than 200.
	ErrStatus = errors.New("aoapi: unit refused")
	// ErrTooLarge: the answer was larger than the client reads.
	ErrTooLarge = errors.New("aoapi: answer too large")
	// ErrMalformed: the answer was not the JSON the API defines.
	ErrMalformed = errors.New("aoapi: malformed answer")
)

// Error is a failed call. Status is 0 when no answer arrived.
type Error struct {
	Kind   error // ErrBadURL, ErrNoAnswer, ErrStatus, ErrTooLarge or ErrMalformed
	Method string
	URL    string
	Status int
	// Text is the unit's {"error": ...} text, else the start of its body; for a call that got
	// no answer, the transport's error.
	Text string
	// Body is the whole answer of a refused call (status other than 200).
	Body []byte
}

func (e *Error) Error() string {
	if e.Status == 0 {
		return fmt.Sprintf("%s %s: %s", e.Method, e.URL, e.Text)
	}
	return fmt.Sprintf("%s %s: %d %s", e.Method, e.URL, e.Status, e.Text)
}

func (e *Error) Unwrap() error { return e.Kind }

// StatusOf is the HTTP status of a failed call (0 when none arrived or err is no *Error).
func StatusOf(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.Status
	}
	return 0
}

// Client calls the reference units' HTTP APIs. The zero value works (http.DefaultClient,
// DefaultMaxResponseBytes). SU, CU and MU bind it to a unit's base URL.
type Client struct {
	HTTP             *http.Client
	MaxResponseBytes int64
}

// Do sends one request and returns the body of a 200 answer; any other status is an *Error
// carrying the body. Base URLs may end in "/"; path starts with "/".
func (c *Client) Do(ctx context.Context, method, base, path string, q url.Values, contentType string, body []byte) ([]byte, error) {
	return c.do(ctx, method, base, path, q, contentType, body, false)
}

// do is Do; with any2xx every 2xx status counts as success (the MU queues with 202).
func (c *Client) do(ctx context.Context, method, base, path string, q url.Values, contentType string, body []byte, any2xx bool) ([]byte, error) {
	u := strings.TrimRight(base, "/") + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	fail := func(kind error, status int, text string) *Error {
		return &Error{Kind: kind, Method: method, URL: u, Status: status, Text: text}
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, fail(ErrBadURL, 0, err.Error())
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
		return nil, fail(ErrNoAnswer, 0, err.Error())
	}
	defer resp.Body.Close()
	limit := c.MaxResponseBytes
	if limit <= 0 {
		limit = DefaultMaxResponseBytes
	}
	data, err := httplimit.ReadAll(resp.Body, limit)
	var tooLarge *httplimit.TooLargeError
	if errors.As(err, &tooLarge) {
		return nil, fail(ErrTooLarge, resp.StatusCode, fmt.Sprintf("response over %d bytes", limit))
	}
	if err != nil {
		return nil, fail(ErrNoAnswer, resp.StatusCode, "reading body: "+err.Error())
	}
	if resp.StatusCode != http.StatusOK && (!any2xx || resp.StatusCode/100 != 2) {
		e := fail(ErrStatus, resp.StatusCode, errorText(data))
		e.Body = data
		return nil, e
	}
	return data, nil
}

// call does a request and decodes its 200 answer into out.
func (c *Client) call(ctx context.Context, method, base, path string, q url.Values, contentType string, body []byte, out any) error {
	data, err := c.Do(ctx, method, base, path, q, contentType, body)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, out); err != nil {
		u := strings.TrimRight(base, "/") + path
		return &Error{Kind: ErrMalformed, Method: method, URL: u, Status: http.StatusOK, Text: "malformed JSON: " + err.Error()}
	}
	return nil
}

// errorText extracts {"error": …} or returns the start of the trimmed body.
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

// SU is the API of the SU at Base (e.g. "http://host:port/su").
type SU struct {
	*Client
	Base string
}

// SU binds c to the SU at base.
func (c *Client) SU(base string) SU { return SU{c, base} }

// Info reads GET /.
func (s SU) Info(ctx context.Context) (Info, error) {
	var out Info
	return out, s.call(ctx, http.MethodGet, s.Base, "/", nil, "", nil, &out)
}

// Post sends a raw signed Process or Message item (POST /).
func (s SU) Post(ctx context.Context, raw []byte) (Receipt, error) {
	var out Receipt
	return out, s.call(ctx, http.MethodPost, s.Base, "/", nil, "application/octet-stream", raw, &out)
}

// Assign asks for a pure assignment; the receipt's ID is the assignment's.
func (s SU) Assign(ctx context.Context, a Assign) (Receipt, error) {
	q := url.Values{"process-id": {a.Process}, "assign": {a.Message}}
	if len(a.Exclude) > 0 {
		q.Set("exclude", strings.Join(a.Exclude, ","))
	}
	path := "/"
	if a.BaseLayer {
		// A flag without a value, as the reference's clients send it.
		path += "?" + q.Encode() + "&base-layer"
		q = nil
	}
	var out Receipt
	return out, s.call(ctx, http.MethodPost, s.Base, path, q, "application/octet-stream", []byte{}, &out)
}

// Process reads GET /processes/{pid}.
func (s SU) Process(ctx context.Context, pid string) (Process, error) {
	var out Process
	return out, s.call(ctx, http.MethodGet, s.Base, "/processes/"+url.PathEscape(pid), nil, "", nil, &out)
}

// Message reads GET /{id}?process-id={pid}: the slot of a message or assignment id. An id that
// names the process itself answers its list, which decodes to a node without assignment.
func (s SU) Message(ctx context.Context, id, pid string) (MessageNode, error) {
	var out MessageNode
	return out, s.call(ctx, http.MethodGet, s.Base, "/"+url.PathEscape(id), url.Values{"process-id": {pid}}, "", nil, &out)
}

// Latest reads GET /{pid}/latest.
func (s SU) Latest(ctx context.Context, pid string) (MessageNode, error) {
	var out MessageNode
	return out, s.call(ctx, http.MethodGet, s.Base, "/"+url.PathEscape(pid)+"/latest", nil, "", nil, &out)
}

// PageQuery selects a page of a process's list. From and FromNonce are exclusive; a negative
// FromNonce (or none of the two) starts at the Process itself.
type PageQuery struct {
	From      *int64 // ms
	FromNonce *int64
	Limit     int
}

// Page reads GET /{pid}?process-id={pid}.
func (s SU) Page(ctx context.Context, pid string, pq PageQuery) (Page, error) {
	q := url.Values{"process-id": {pid}}
	if pq.From != nil {
		q.Set("from", strconv.FormatInt(*pq.From, 10))
	}
	if pq.FromNonce != nil {
		q.Set("from-nonce", strconv.FormatInt(*pq.FromNonce, 10))
	}
	if pq.Limit > 0 {
		q.Set("limit", strconv.Itoa(pq.Limit))
	}
	var out Page
	return out, s.call(ctx, http.MethodGet, s.Base, "/"+url.PathEscape(pid), q, "", nil, &out)
}

// Timestamp reads GET /timestamp?process-id={pid}.
func (s SU) Timestamp(ctx context.Context, pid string) (Timestamp, error) {
	var out Timestamp
	return out, s.call(ctx, http.MethodGet, s.Base, "/timestamp", url.Values{"process-id": {pid}}, "", nil, &out)
}

// CU is the API of the CU at Base (e.g. "http://host:port/cu").
type CU struct {
	*Client
	Base string
}

// CU binds c to the CU at base.
func (c *Client) CU(base string) CU { return CU{c, base} }

// ResultBytes reads GET /result/{id}?process-id={pid} as served. With noBusy the CU answers
// only once the result is there (the MU's way); without it, a CU still evaluating answers 202,
// an *Error with Status 202.
func (c CU) ResultBytes(ctx context.Context, pid, id string, noBusy bool) ([]byte, error) {
	q := url.Values{"process-id": {pid}}
	if noBusy {
		q.Set("no-busy", "1")
	}
	return c.Do(ctx, http.MethodGet, c.Base, "/result/"+url.PathEscape(id), q, "", nil)
}

// Result reads the outbox of a result (GET /result/{id}?process-id={pid}&no-busy=1).
func (c CU) Result(ctx context.Context, pid, id string) (*Result, error) {
	var out Result
	q := url.Values{"process-id": {pid}, "no-busy": {"1"}}
	if err := c.call(ctx, http.MethodGet, c.Base, "/result/"+url.PathEscape(id), q, "", nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Results reads GET /results/{pid} as served; q holds from, to, sort and limit.
func (c CU) Results(ctx context.Context, pid string, q url.Values) ([]byte, error) {
	return c.Do(ctx, http.MethodGet, c.Base, "/results/"+url.PathEscape(pid), q, "", nil)
}

// Cron reads one page of GET /cron/{pid}?from={from}&limit={limit}.
func (c CU) Cron(ctx context.Context, pid, from string, limit int) (*CronPage, error) {
	q := url.Values{"limit": {strconv.Itoa(limit)}}
	if from != "" {
		q.Set("from", from)
	}
	var out CronPage
	if err := c.call(ctx, http.MethodGet, c.Base, "/cron/"+url.PathEscape(pid), q, "", nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// DryRun evaluates msg on pid without scheduling it (POST /dry-run?process-id=) and returns
// the result as served.
func (c CU) DryRun(ctx context.Context, pid string, msg DryRun) ([]byte, error) {
	body, err := json.Marshal(msg)
	if err != nil {
		return nil, err
	}
	return c.Do(ctx, http.MethodPost, c.Base, "/dry-run", url.Values{"process-id": {pid}}, "application/json", body)
}

// Attestation reads the raw attestation item of message id (GET /attestation/{id}?process-id=).
func (c CU) Attestation(ctx context.Context, pid, id string) ([]byte, error) {
	return c.Do(ctx, http.MethodGet, c.Base, "/attestation/"+url.PathEscape(id), url.Values{"process-id": {pid}}, "", nil)
}

// Agreement reads GET /agreement/{pid} with q holding slot or message.
func (c CU) Agreement(ctx context.Context, pid string, q url.Values) (*Agreement, error) {
	var out Agreement
	if err := c.call(ctx, http.MethodGet, c.Base, "/agreement/"+url.PathEscape(pid), q, "", nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// MU is the API of the MU at Base (e.g. "http://host:port/mu").
type MU struct {
	*Client
	Base string
}

// MU binds c to the MU at base.
func (c *Client) MU(base string) MU { return MU{c, base} }

// Post sends a raw signed item to the MU (POST /); it answers 202 once the item is queued.
func (m MU) Post(ctx context.Context, raw []byte) (MUReceipt, error) {
	var out MUReceipt
	data, err := m.do(ctx, http.MethodPost, m.Base, "/", nil, "application/octet-stream", raw, true)
	if err != nil {
		return out, err
	}
	if err := json.Unmarshal(data, &out); err != nil {
		return out, &Error{Kind: ErrMalformed, Method: http.MethodPost, URL: strings.TrimRight(m.Base, "/") + "/", Status: http.StatusAccepted, Text: "malformed JSON: " + err.Error()}
	}
	return out, nil
}

// Consensus reads GET /consensus/{pid}: the process's Raft group as this member sees it.
func (s SU) Consensus(ctx context.Context, pid string) (Consensus, error) {
	var out Consensus
	return out, s.call(ctx, http.MethodGet, s.Base, "/consensus/"+url.PathEscape(pid), nil, "", nil, &out)
}
