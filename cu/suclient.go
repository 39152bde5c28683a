package cu

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/aonode/aonode/dataitem/aoapi"
)

// SUClient is a Source backed by a reference-compatible SU's HTTP API (ao-protocol.md §1.1).
type SUClient struct {
	su       aoapi.SU
	pageSize int
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
	if opts.PageSize <= 0 {
		opts.PageSize = 500
	}
	if opts.MaxPageBytes <= 0 {
		opts.MaxPageBytes = 256 << 20
	}
	api := &aoapi.Client{HTTP: opts.HTTPClient, MaxResponseBytes: opts.MaxPageBytes}
	return &SUClient{su: api.SU(strings.TrimRight(base, "/")), pageSize: min(opts.PageSize, 1000)}, nil
}

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// sourceError maps a failed SU call to the CU's errors: the reference SU answers 400 for
// unknown ids ("Message or Process not found"), so the text tells "not found" apart.
func (c *SUClient) sourceError(ctx context.Context, err error) error {
	var e *aoapi.Error
	if !errors.As(err, &e) {
		return err
	}
	base := c.su.Base
	switch {
	case e.Status == 0 && ctx.Err() != nil:
		return ctx.Err()
	case errors.Is(err, aoapi.ErrStatus):
		msg := e.Text
		if len(msg) > 200 {
			msg = msg[:200]
		}
		if e.Status == http.StatusNotFound || strings.Contains(strings.ToLower(msg), "not found") ||
			strings.Contains(msg, "not available") {
			return errorf(ErrNotFound, "%s", msg)
		}
		return errorf(ErrSourceUnavailable, "SU %s: status %d: %s", base, e.Status, msg)
	case errors.Is(err, aoapi.ErrTooLarge):
		return errorf(ErrSourceUnavailable, "SU %s: %s", base, e.Text)
	case errors.Is(err, aoapi.ErrMalformed):
		return errorf(ErrSourceUnavailable, "SU %s: malformed response: %s", base, e.Text)
	default:
		return errorf(ErrSourceUnavailable, "SU %s: %s", base, e.Text)
	}
}

// Process implements Source.
func (c *SUClient) Process(ctx context.Context, pid string) (ProcessDef, error) {
	p, err := c.su.Process(ctx, pid)
	if err != nil {
		return ProcessDef{}, c.sourceError(ctx, err)
	}
	if p.ProcessID != pid {
		return ProcessDef{}, errorf(ErrSourceUnavailable, "SU answered process %q for %q", p.ProcessID, pid)
	}
	height, _ := parseIntPrefix(p.Block)
	return ProcessDef{
		ID:          p.ProcessID,
		Owner:       p.Owner,
		Tags:        p.Tags,
		Data:        p.Data,
		Signature:   p.Signature,
		Anchor:      str(p.Anchor),
		Timestamp:   p.Timestamp,
		BlockHeight: height,
	}, nil
}

// toScheduled reads one slot as the SU serves it.
func toScheduled(m aoapi.MessageNode) (Scheduled, error) {
	if m.Assignment == nil {
		return Scheduled{}, errorf(ErrSourceUnavailable, "SU message without assignment")
	}
	s := Scheduled{AssignmentID: m.Assignment.ID, Signer: aoapi.SignerOf(m.Assignment.Owner)}
	if err := scheduledFromTags(&s, m.Assignment.Tags); err != nil {
		return Scheduled{}, err
	}
	if m.Message != nil {
		s.Message = &SourceMessage{
			ID:        m.Message.ID,
			Owner:     m.Message.Owner,
			Tags:      m.Message.Tags,
			Data:      m.Message.Data,
			Signature: m.Message.Signature,
			Anchor:    str(m.Message.Anchor),
			Target:    m.Message.Target,
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
		q := aoapi.PageQuery{Limit: c.pageSize}
		if after >= 0 {
			q.FromNonce = &after
		}
		page, err := c.su.Page(ctx, pid, q)
		if err != nil {
			return c.sourceError(ctx, err)
		}
		progressed := false
		for _, e := range page.Edges {
			s, err := toScheduled(e.Node)
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
	m, err := c.su.Message(ctx, msgID, pid)
	if err != nil {
		return Scheduled{}, c.sourceError(ctx, err)
	}
	if m.Assignment == nil {
		// The id named a process, and the SU answered with its list of messages.
		return Scheduled{}, errorf(ErrNotFound, "message %s not found in process %s", msgID, pid)
	}
	s, err := toScheduled(m)
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
	m, err := c.su.Latest(ctx, pid)
	if err != nil {
		return Scheduled{}, c.sourceError(ctx, err)
	}
	return toScheduled(m)
}

// Timestamp implements Source.
func (c *SUClient) Timestamp(ctx context.Context, pid string) (int64, uint64, error) {
	t, err := c.su.Timestamp(ctx, pid)
	if err != nil {
		return 0, 0, c.sourceError(ctx, err)
	}
	ts, ok1 := parseIntPrefix(t.Timestamp)
	h, ok2 := parseIntPrefix(t.BlockHeight)
	if !ok1 || !ok2 || ts > 1<<53 {
		return 0, 0, errorf(ErrSourceUnavailable, "SU %s: malformed /timestamp", c.su.Base)
	}
	return int64(ts), h, nil
}

var _ Source = (*SUClient)(nil)

// isNotFound reports whether err means the thing asked for does not exist.
func isNotFound(err error) bool { return errors.Is(err, ErrNotFound) }
