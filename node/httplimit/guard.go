package httplimit

import (
	"context"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// GuardConfig bounds slow and concurrent uploads. Zero values disable the bound they name.
type GuardConfig struct {
	// UploadsPerAddr is how many bodies one address may have in flight (being read) at once.
	UploadsPerAddr int
	// UploadWait is how long a body waits for one of its address's slots before ErrBusy.
	UploadWait time.Duration
	// BodyMinRate (bytes/s) and BodyGrace: a body of n bytes must have arrived within
	// BodyGrace + n/BodyMinRate of its start. With no rate, only the size is bounded.
	BodyMinRate int64
	BodyGrace   time.Duration
}

// Guard applies cfg to the bodies next reads through ReadBody, and bounds how long the server
// may wait for a body next did not read to its end (the server drains it to reuse the
// connection). It is the node's outermost handler.
func Guard(cfg GuardConfig, next http.Handler) http.Handler {
	g := &guard{cfg: cfg, addrs: map[string]*addrSlots{}}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body == nil || r.Body == http.NoBody {
			next.ServeHTTP(w, r)
			return
		}
		rg := &requestGuard{guard: g, addr: ClientAddr(r)}
		body := &eofTracker{ReadCloser: r.Body}
		r2 := r.WithContext(context.WithValue(r.Context(), guardKey{}, rg))
		r2.Body = body
		next.ServeHTTP(w, r2)
		if !body.eof && cfg.BodyGrace > 0 {
			_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(cfg.BodyGrace))
		}
	})
}

// ClientAddr is the address limits are counted by: the connecting peer's IP.
func ClientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

type guardKey struct{}

type guard struct {
	cfg   GuardConfig
	mu    sync.Mutex
	addrs map[string]*addrSlots // only addresses with a body in flight or waiting
}

type addrSlots struct {
	slots chan struct{}
	users int // holders and waiters; the entry goes when it drops to 0
}

type requestGuard struct {
	*guard
	addr string
}

// acquire takes one of the address's upload slots, waiting up to UploadWait.
func (g *requestGuard) acquire(ctx context.Context) (func(), error) {
	if g.cfg.UploadsPerAddr <= 0 {
		return func() {}, nil
	}
	g.mu.Lock()
	s := g.addrs[g.addr]
	if s == nil {
		s = &addrSlots{slots: make(chan struct{}, g.cfg.UploadsPerAddr)}
		g.addrs[g.addr] = s
	}
	s.users++
	g.mu.Unlock()
	leave := func() {
		g.mu.Lock()
		if s.users--; s.users == 0 {
			delete(g.addrs, g.addr)
		}
		g.mu.Unlock()
	}
	select {
	case s.slots <- struct{}{}:
	default:
		timer := time.NewTimer(g.cfg.UploadWait)
		defer timer.Stop()
		select {
		case s.slots <- struct{}{}:
		case <-timer.C:
			leave()
			return nil, ErrBusy
		case <-ctx.Done():
			leave()
			return nil, ctx.Err()
		}
	}
	return func() {
		<-s.slots
		leave()
	}, nil
}

// eofTracker records that the handler read the body to its end.
type eofTracker struct {
	io.ReadCloser
	eof bool
}

func (t *eofTracker) Read(p []byte) (int, error) {
	n, err := t.ReadCloser.Read(p)
	if err == io.EOF {
		t.eof = true
	}
	return n, err
}
