package httplimit

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"
)

// TooLargeError reports a body or response over its limit.
type TooLargeError struct{ Limit int64 }

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("body exceeds the limit of %d bytes", e.Limit)
}

// Errors of ReadBody a handler answers with their own status (see Status).
var (
	// ErrBusy: the client's address already has its share of uploads in flight.
	ErrBusy = errors.New("too many uploads in progress from this address; retry shortly")
	// ErrSlow: the body arrived slower than the node's minimum rate.
	ErrSlow = errors.New("request body arrived too slowly")
)

// Chunks grow from firstChunk to maxChunk: small items cost one small buffer, large ones a few
// reads each, and the buffer is never far ahead of what arrived.
const (
	firstChunk = 16 << 10
	maxChunk   = 1 << 20
)

// ReadAll reads r to its end, at most limit bytes, holding only what has arrived: the result
// is assembled at the end in one buffer of its exact size. Over the limit it returns a
// *TooLargeError after reading limit+1 bytes.
func ReadAll(r io.Reader, limit int64) ([]byte, error) {
	if limit < 0 {
		limit = 0
	}
	var (
		chunks [][]byte
		total  int64
		size   = int64(firstChunk)
	)
	for {
		n := min(size, limit+1-total)
		if n <= 0 {
			return nil, &TooLargeError{Limit: limit}
		}
		buf := make([]byte, n)
		got, err := io.ReadFull(r, buf)
		total += int64(got)
		if got > 0 {
			chunks = append(chunks, buf[:got])
		}
		if total > limit {
			return nil, &TooLargeError{Limit: limit}
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return join(chunks, total), nil
		}
		if err != nil {
			return nil, err
		}
		size = min(2*size, maxChunk)
	}
}

func join(chunks [][]byte, total int64) []byte {
	switch len(chunks) {
	case 0:
		return []byte{}
	case 1:
		// A small item keeps no large spare capacity.
		if c := chunks[0]; cap(c) <= 2*len(c) {
			return c
		}
	}
	out := make([]byte, 0, total)
	for _, c := range chunks {
		out = append(out, c...)
	}
	return out
}

// ReadBody reads a request body of at most limit bytes through ReadAll. A body announced
// larger than the limit is refused before anything is read. Under a Guard it also holds one
// of the address's upload slots while reading and cuts off a body slower than the minimum
// rate. Errors: *TooLargeError, ErrBusy, ErrSlow, or the read error; Status maps them.
func ReadBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	if r.ContentLength > limit {
		return nil, &TooLargeError{Limit: limit}
	}
	body := http.MaxBytesReader(w, r.Body, limit)
	g, _ := r.Context().Value(guardKey{}).(*requestGuard)
	if g == nil {
		return readSized(body, limit)
	}
	release, err := g.acquire(r.Context())
	if err != nil {
		return nil, err
	}
	defer release()
	rc := http.NewResponseController(w)
	pr := &paced{r: body, rc: rc, start: time.Now(), grace: g.cfg.BodyGrace, rate: g.cfg.BodyMinRate}
	// The deadline is the connection's: clear it once the body is read, or the server's
	// background read of the idle connection would cancel a handler that runs longer.
	defer func() { _ = rc.SetReadDeadline(time.Time{}) }()
	b, err := readSized(pr, limit)
	if err != nil && pr.timedOut {
		return nil, ErrSlow
	}
	return b, err
}

func readSized(r io.Reader, limit int64) ([]byte, error) {
	b, err := ReadAll(r, limit)
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return nil, &TooLargeError{Limit: limit}
	}
	return b, err
}

// paced moves the connection's read deadline along as the body arrives: the first byte
// may take grace, and every further byte must come within 1/rate of the previous budget.
// Each Read gets the deadline for the bytes it asks for, so a body that arrives at the
// minimum rate is never cut off just before its last byte.
type paced struct {
	r        io.Reader
	rc       *http.ResponseController
	start    time.Time
	grace    time.Duration
	rate     int64
	total    int64
	set      time.Time
	timedOut bool
}

func (p *paced) Read(b []byte) (int, error) {
	if p.rate > 0 {
		budget := time.Duration(float64(p.total+int64(len(b))) / float64(p.rate) * float64(time.Second))
		dl := p.start.Add(p.grace + budget)
		// Moving a deadline is cheap but not free: only move it forward by whole seconds.
		if dl.Sub(p.set) >= time.Second || p.set.IsZero() {
			if err := p.rc.SetReadDeadline(dl); err == nil {
				p.set = dl
			}
		}
	}
	n, err := p.r.Read(b)
	p.total += int64(n)
	if err != nil {
		var ne interface{ Timeout() bool }
		if errors.As(err, &ne) && ne.Timeout() {
			p.timedOut = true
		}
	}
	return n, err
}

// Status is the HTTP status a handler answers a ReadBody error with: 413 too large, 429 busy,
// 408 too slow, 400 for another read error; 0 for nil.
func Status(err error) int {
	var tl *TooLargeError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &tl):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, ErrBusy):
		return http.StatusTooManyRequests
	case errors.Is(err, ErrSlow):
		return http.StatusRequestTimeout
	}
	return http.StatusBadRequest
}

// SetRetryAfter sets the Retry-After header (whole seconds, at least 1) on a refusal that a
// later retry can pass.
func SetRetryAfter(w http.ResponseWriter, d time.Duration) {
	s := int64((d + time.Second - 1) / time.Second)
	w.Header().Set("Retry-After", strconv.FormatInt(max(s, 1), 10))
}
