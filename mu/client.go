package mu

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/aonode/aonode/dataitem"
	"github.com/aonode/aonode/dataitem/aoapi"
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

// The wire shapes the MU reads and sends, defined once in aoapi.
type (
	// Receipt is what an SU answers to a POST.
	Receipt = aoapi.Receipt
	// Assignment asks an SU to assign an item it holds to a process.
	Assignment = aoapi.Assign
	// Tag is a data item tag as the SU and CU JSON carry it.
	Tag = aoapi.Tag
	// Result is the part of a CU result (§2.2) the crank reads.
	Result = aoapi.Result
	// CronPage is one page of GET /cron/{pid}.
	CronPage = aoapi.CronPage
	// CronEdge is one cron evaluation and its position.
	CronEdge = aoapi.CronEdge
)

// Process is what the MU needs to know of a process.
type Process struct {
	ID        string
	Owner     string // wallet address of the process's signer
	Scheduler string // first Scheduler tag: the SU's wallet address
	// Schedulers is the process's scheduler set (aoapi.Schedulers): one address for a
	// process of one SU, several for a set whose members agree on its order.
	Schedulers []string
	Module     string
	Tags       []Tag
	SUURL      string // base URL of the SU that holds it: SUURLs[0]
	// SUURLs are the known members of the set to send to, in the order tried: the MU moves
	// on to the next when one is down.
	SUURLs []string
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

func (c *HTTPClient) api() *aoapi.Client {
	return &aoapi.Client{HTTP: c.HTTP, MaxResponseBytes: c.MaxResponseBytes}
}

// remote turns a failed call into a *RemoteError whose Kind callers branch on.
func remote(err error) error {
	var e *aoapi.Error
	if !errors.As(err, &e) {
		return err
	}
	re := &RemoteError{Status: e.Status, Msg: e.Text, URL: e.URL}
	switch {
	case errors.Is(err, aoapi.ErrBadURL), errors.Is(err, aoapi.ErrTooLarge):
		re.Kind = ErrRefused
	case errors.Is(err, aoapi.ErrStatus):
		re.Kind = classify(e.Status)
	default:
		re.Kind = ErrUnavailable
	}
	return re
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

// dupOrNotFound refines an SU 400: the reference answers every business error with 400, so the
// text tells a duplicate and an unknown process from other refusals.
func dupOrNotFound(err error) error {
	err = remote(err)
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
	r, err := c.api().SU(suURL).Post(ctx, raw)
	return r, dupOrNotFound(err)
}

// Assign implements Scheduler.
func (c *HTTPClient) Assign(ctx context.Context, suURL string, a Assignment) (Receipt, error) {
	r, err := c.api().SU(suURL).Assign(ctx, a)
	return r, dupOrNotFound(err)
}

// Process implements Scheduler.
func (c *HTTPClient) Process(ctx context.Context, suURL, pid string) (Process, error) {
	p, err := c.api().SU(suURL).Process(ctx, pid)
	if err != nil {
		return Process{}, dupOrNotFound(err)
	}
	if p.ProcessID != pid {
		return Process{}, &RemoteError{Kind: ErrUnavailable, Status: http.StatusOK, Msg: fmt.Sprintf("answered process %q for %q", p.ProcessID, pid), URL: suURL}
	}
	proc := processFromTags(pid, suURL, p.Tags)
	proc.Owner = p.Owner.Address
	return proc, nil
}

func processFromTags(pid, suURL string, tags []Tag) Process {
	p := Process{ID: pid, Tags: tags, SUURL: suURL, SUURLs: []string{suURL}}
	p.Scheduler, _ = aoapi.TagValue(tags, "Scheduler")
	p.Schedulers = aoapi.Schedulers(dataitemTags(tags))
	p.Module, _ = aoapi.TagValue(tags, "Module")
	return p
}

// maxSchedulePages bounds FindAssignment's walk through a schedule.
const maxSchedulePages = 100

// FindAssignment implements Scheduler by paging GET /{pid}?process-id={pid}&from={ms}.
func (c *HTTPClient) FindAssignment(ctx context.Context, suURL, pid, mid string, sinceMs int64) (string, error) {
	su := c.api().SU(suURL)
	from := max(sinceMs, 0)
	for range maxSchedulePages {
		page, err := su.Page(ctx, pid, aoapi.PageQuery{From: &from, Limit: 100})
		if err != nil {
			return "", dupOrNotFound(err)
		}
		for _, e := range page.Edges {
			if a := e.Node.Assignment; a != nil {
				if m, _ := aoapi.TagValue(a.Tags, "Message"); m == mid {
					return a.ID, nil
				}
			}
		}
		if !page.PageInfo.HasNextPage || len(page.Edges) == 0 {
			break
		}
		next, err := strconv.ParseInt(page.Edges[len(page.Edges)-1].Cursor, 10, 64)
		if err != nil || next == from {
			break
		}
		from = next
	}
	return "", fmt.Errorf("%w: no assignment of %s in %s", ErrNotFound, mid, pid)
}

// Result implements Compute.
func (c *HTTPClient) Result(ctx context.Context, pid, id string) (*Result, error) {
	r, err := c.api().CU(c.CUURL).Result(ctx, pid, id)
	return r, notFound400(remote(err))
}

// Cron implements Compute.
func (c *HTTPClient) Cron(ctx context.Context, pid, from string, limit int) (*CronPage, error) {
	p, err := c.api().CU(c.CUURL).Cron(ctx, pid, from, limit)
	return p, notFound400(remote(err))
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

// dataitemTags converts wire tags back to item tags (the same fields).
func dataitemTags(tags []Tag) []dataitem.Tag {
	out := make([]dataitem.Tag, len(tags))
	for i, t := range tags {
		out[i] = dataitem.Tag(t)
	}
	return out
}
