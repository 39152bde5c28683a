package cu

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// SUClient is a Source backed by a reference-compatible SU's HTTP API (ao-protocol.md §1.1).
type SUClient struct {
	base     string
	http     *http.Client
	pageSize int
	maxBytes int64
}

// SUClientOptions tune an SUClient; zero values take the defaults.
type SUClientOptions struct {
	HTTPClient   *http.Client // default: http.DefaultClient
	PageSize     int          // messages per page (default 500, at most 1000)
	MaxPageBytes int64        // largest response accepted (default 256 MiB)
}

// NewSUClient returns a client for the SU at base (e.g. "http://host:port/su").
func NewSUClient(base string, opts SUClientOptions) (*SUClient, error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("cu: SU url %q must be an absolute http(s) URL", base)
	}
	c := &SUClient{base: strings.TrimRight(base, "/"), http: opts.HTTPClient, pageSize: opts.PageSize, maxBytes: opts.MaxPageBytes}
	if c.http == nil {
		c.http = http.DefaultClient
	}
	if c.pageSize <= 0 {
		c.pageSize = 500
	}
	c.pageSize = min(c.pageSize, 1000)
	if c.maxBytes <= 0 {
		c.maxBytes = 256 << 20
	}
	return c, nil
}

type suOwner struct {
	Address string `json:"address"`
	Key     string `json:"key"`
}

type suInner struct {
	ID        string  `json:"id"`
	Owner     suOwner `json:"owner"`
	Data      *string `json:"data"`
	Tags      []Tag   `json:"tags"`
	Signature string  `json:"signature"`
	Anchor    *string `json:"anchor"`
	Target    *string `json:"target"`
}

type suMessage struct {
	Message    *suInner `json:"message"`
	Assignment *suInner `json:"assignment"`
}

type suProcess struct {
	ProcessID string          `json:"process_id"`
	Block     string          `json:"block"`
	Owner     suOwner         `json:"owner"`
	Tags      []Tag           `json:"tags"`
	Timestamp json.Number     `json:"timestamp"`
	Data      *string         `json:"data"`
	Anchor    *string         `json:"anchor"`
	Signature string          `json:"signature"`
	Target    json.RawMessage `json:"target"`
}

type suPage struct {
	PageInfo struct {
		HasNextPage bool `json:"has_next_page"`
	} `json:"page_info"`
	Edges []struct {
		Node   suMessage `json:"node"`
		Cursor any       `json:"cursor"`
	} `json:"edges"`
}

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func (c *SUClient) get(ctx context.Context, path string, q url.Values, out any) error {
	u := c.base + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return fmt.Errorf("cu: SU request: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return errorf(ErrSourceUnavailable, "SU %s: %v", c.base, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, c.maxBytes+1))
	if err != nil {
		return errorf(ErrSourceUnavailable, "SU %s: reading response: %v", c.base, err)
	}
	if int64(len(body)) > c.maxBytes {
		return errorf(ErrSourceUnavailable, "SU %s: response larger than %d bytes", c.base, c.maxBytes)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error string `json:"error"`
		}
		_ = json.Unmarshal(body, &e)
		msg := e.Error
		if msg == "" {
			msg = strings.TrimSpace(string(body[:min(len(body), 200)]))
		}
		// The reference SU answers 400 for unknown ids ("Message or Process not found").
		if resp.StatusCode == http.StatusNotFound || strings.Contains(strings.ToLower(msg), "not found") ||
			strings.Contains(msg, "not available") {
			return errorf(ErrNotFound, "%s", msg)
		}
		return errorf(ErrSourceUnavailable, "SU %s: status %d: %s", c.base, resp.StatusCode, msg)
	}
	if err := json.Unmarshal(body, out); err != nil {
		return errorf(ErrSourceUnavailable, "SU %s: malformed response: %v", c.base, err)
	}
	return nil
}

// Process implements Source.
func (c *SUClient) Process(ctx context.Context, pid string) (ProcessDef, error) {
	var p suProcess
	if err := c.get(ctx, "/processes/"+url.PathEscape(pid), nil, &p); err != nil {
		return ProcessDef{}, err
	}
	if p.ProcessID != pid {
		return ProcessDef{}, errorf(ErrSourceUnavailable, "SU answered process %q for %q", p.ProcessID, pid)
	}
	height, _ := parseIntPrefix(p.Block)
	ts, err := p.Timestamp.Int64()
	if err != nil && p.Timestamp != "" {
		return ProcessDef{}, errorf(ErrSourceUnavailable, "SU process %s: bad timestamp %q", pid, p.Timestamp)
	}
	return ProcessDef{
		ID:          p.ProcessID,
		Owner:       Owner(p.Owner),
		Tags:        p.Tags,
		Data:        p.Data,
		Signature:   p.Signature,
		Anchor:      str(p.Anchor),
		Timestamp:   ts,
		BlockHeight: height,
	}, nil
}

func (c *SUClient) toScheduled(m suMessage) (Scheduled, error) {
	if m.Assignment == nil {
		return Scheduled{}, errorf(ErrSourceUnavailable, "SU message without assignment")
	}
	s := Scheduled{AssignmentID: m.Assignment.ID}
	if err := scheduledFromTags(&s, m.Assignment.Tags); err != nil {
		return Scheduled{}, err
	}
	if m.Message != nil {
		s.Message = &SourceMessage{
			ID:        m.Message.ID,
			Owner:     Owner(m.Message.Owner),
			Tags:      m.Message.Tags,
			Data:      m.Message.Data,
			Signature: m.Message.Signature,
			Anchor:    str(m.Message.Anchor),
			Target:    str(m.Message.Target),
		}
		if s.MessageID == "" {
			s.MessageID = m.Message.ID
		}
	}
	if s.MessageID == "" {
		return Scheduled{}, errorf(ErrInvalidDefinition, "assignment %s names no message", s.AssignmentID)
	}
	return s, nil
}

// Scheduled implements Source by paging in nonce mode (from-nonce is exclusive), which,
// unlike paging by millisecond timestamps, never skips messages that share a timestamp.
func (c *SUClient) Scheduled(ctx context.Context, pid string, after int64, fn func(Scheduled) bool) error {
	for {
		q := url.Values{"process-id": {pid}, "limit": {strconv.Itoa(c.pageSize)}}
		if after >= 0 {
			q.Set("from-nonce", strconv.FormatInt(after, 10))
		}
		var page suPage
		if err := c.get(ctx, "/"+url.PathEscape(pid), q, &page); err != nil {
			return err
		}
		progressed := false
		for _, e := range page.Edges {
			s, err := c.toScheduled(e.Node)
			if err != nil {
				return err
			}
			if s.Process != pid {
				return errorf(ErrSourceUnavailable, "SU returned a slot of process %s for %s", s.Process, pid)
			}
			if after >= 0 && int64(s.Nonce) <= after {
				continue // an SU that ignores from-nonce repeats slots we have
			}
			after = int64(s.Nonce)
			progressed = true
			if !fn(s) {
				return nil
			}
		}
		if !page.PageInfo.HasNextPage || !progressed {
			return nil
		}
	}
}

// Slot implements Source.
func (c *SUClient) Slot(ctx context.Context, pid, msgID string) (Scheduled, error) {
	var m suMessage
	if err := c.get(ctx, "/"+url.PathEscape(msgID), url.Values{"process-id": {pid}}, &m); err != nil {
		return Scheduled{}, err
	}
	if m.Assignment == nil {
		// The id named a process, and the SU answered with its list of messages.
		return Scheduled{}, errorf(ErrNotFound, "message %s not found in process %s", msgID, pid)
	}
	s, err := c.toScheduled(m)
	if err != nil {
		return Scheduled{}, err
	}
	if s.Process != pid {
		return Scheduled{}, errorf(ErrNotFound, "message %s is not assigned to process %s", msgID, pid)
	}
	return s, nil
}

// Latest implements Source.
func (c *SUClient) Latest(ctx context.Context, pid string) (Scheduled, error) {
	var m suMessage
	if err := c.get(ctx, "/"+url.PathEscape(pid)+"/latest", nil, &m); err != nil {
		return Scheduled{}, err
	}
	return c.toScheduled(m)
}

// Timestamp implements Source.
func (c *SUClient) Timestamp(ctx context.Context, pid string) (int64, uint64, error) {
	var t struct {
		Timestamp   json.RawMessage `json:"timestamp"`
		BlockHeight json.RawMessage `json:"block_height"`
	}
	if err := c.get(ctx, "/timestamp", url.Values{"process-id": {pid}}, &t); err != nil {
		return 0, 0, err
	}
	ts, ok1 := parseIntPrefix(strings.Trim(string(t.Timestamp), `"`))
	h, ok2 := parseIntPrefix(strings.Trim(string(t.BlockHeight), `"`))
	if !ok1 || !ok2 || ts > 1<<53 {
		return 0, 0, errorf(ErrSourceUnavailable, "SU %s: malformed /timestamp", c.base)
	}
	return int64(ts), h, nil
}

var _ Source = (*SUClient)(nil)

// isNotFound reports whether err means the thing asked for does not exist.
func isNotFound(err error) bool { return errors.Is(err, ErrNotFound) }
