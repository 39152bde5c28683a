// Package sutest runs a real SU (package su on an in-memory store) behind net/http/httptest,
// for the tests of every package that talks to an SU: what they meet is the reference API as
// su serves it, not a hand-written imitation. A middleware slot lets a test fail, delay,
// observe or rewrite answers, which is how the faults of a remote SU are staged.
package sutest

import (
	"context"
	"crypto/ed25519"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/aonode/aonode/dataitem"
	"github.com/aonode/aonode/store"
	"github.com/aonode/aonode/su"
)

// Options configure a Server; zero values take the defaults noted.
type Options struct {
	// Signer is the SU's key (default: a fresh ed25519 key).
	Signer dataitem.Signer
	// BlockHeight is the height stamped on each new assignment (default: always 0).
	BlockHeight func() uint64
	// StartMs is the SU's clock at start, in unix ms (default: 1,700,000,000,000). The clock
	// moves only when the test calls Advance, so timestamps are reproducible.
	StartMs int64
	// Pushers are the MUs whose pushes (From-Process, From-Module) the SU takes besides its
	// own key's (su.Options.Pushers; default none).
	Pushers su.PusherTrust
}

// Server is an SU serving over HTTP on loopback. Close is registered with t.Cleanup.
type Server struct {
	URL    string
	SU     *su.SU
	DB     *store.DB
	Signer dataitem.Signer

	srv   *httptest.Server
	clock atomic.Int64

	mu     sync.Mutex
	handle http.Handler // the SU's handler, behind the installed middleware
}

// New starts a Server.
func New(t testing.TB, opts Options) *Server {
	t.Helper()
	if opts.Signer == nil {
		_, k, err := ed25519.GenerateKey(nil)
		if err != nil {
			t.Fatal(err)
		}
		opts.Signer = dataitem.NewEd25519Signer(k)
	}
	if opts.StartMs == 0 {
		opts.StartMs = 1_700_000_000_000
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	db, err := store.Open(store.Options{InMemory: true, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{DB: db, Signer: opts.Signer}
	s.clock.Store(opts.StartMs)
	if opts.BlockHeight == nil {
		opts.BlockHeight = func() uint64 { return 0 }
	}
	s.SU, err = su.New(su.Options{
		DB:          db,
		Signer:      opts.Signer,
		Clock:       s.clock.Load,
		BlockHeight: opts.BlockHeight,
		Pushers:     opts.Pushers,
		Logger:      quiet,
	})
	if err != nil {
		_ = db.Close()
		t.Fatal(err)
	}
	s.handle = s.SU.Handler()
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		h := s.handle
		s.mu.Unlock()
		h.ServeHTTP(w, r)
	}))
	s.URL = s.srv.URL
	t.Cleanup(func() {
		s.srv.Close()
		_ = db.Close()
	})
	return s
}

// Address is the SU's wallet address, the value a Process's Scheduler tag names.
func (s *Server) Address() string { return s.SU.Address() }

// Now is the SU's clock in unix ms.
func (s *Server) Now() int64 { return s.clock.Load() }

// Advance moves the SU's clock ms forward.
func (s *Server) Advance(ms int64) { s.clock.Add(ms) }

// Use puts mw in front of the SU's handler (and of any middleware installed before).
func (s *Server) Use(mw func(next http.Handler) http.Handler) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.handle = mw(s.handle)
}

// Close stops serving; later requests fail as against an SU that went away.
func (s *Server) Close() { s.srv.Close() }

// Submit schedules a raw signed item directly (not over HTTP), failing the test on refusal.
func (s *Server) Submit(t testing.TB, raw []byte) su.Scheduled {
	t.Helper()
	res, err := s.SU.Submit(context.Background(), raw)
	if err != nil {
		t.Fatalf("sutest: submit: %v", err)
	}
	return res
}

// Key is a fresh ed25519 signer, for the items a test sends.
func Key(t testing.TB) dataitem.Signer {
	t.Helper()
	_, k, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return dataitem.NewEd25519Signer(k)
}

// Process signs a Process item scheduled by this SU, with the aoconnect tags, Module and the
// extra tags after them.
func (s *Server) Process(t testing.TB, owner dataitem.Signer, module string, data string, extra ...dataitem.Tag) *dataitem.Item {
	t.Helper()
	tags := append([]dataitem.Tag{
		{Name: "Data-Protocol", Value: "ao"}, {Name: "Variant", Value: "ao.TN.1"},
		{Name: "Type", Value: "Process"}, {Name: "Module", Value: module},
		{Name: "Scheduler", Value: s.Address()},
	}, extra...)
	return sign(t, owner, dataitem.Fields{Tags: tags, Data: []byte(data)})
}

// Message signs a Message item to process pid with the extra tags after Data-Protocol and Type.
func Message(t testing.TB, owner dataitem.Signer, pid string, data string, extra ...dataitem.Tag) *dataitem.Item {
	t.Helper()
	target, err := dataitem.DecodeID(pid)
	if err != nil {
		t.Fatal(err)
	}
	tags := append([]dataitem.Tag{{Name: "Data-Protocol", Value: "ao"}, {Name: "Type", Value: "Message"}}, extra...)
	return sign(t, owner, dataitem.Fields{Target: target[:], Tags: tags, Data: []byte(data)})
}

func sign(t testing.TB, owner dataitem.Signer, f dataitem.Fields) *dataitem.Item {
	t.Helper()
	it, err := dataitem.Sign(owner, f)
	if err != nil {
		t.Fatal(err)
	}
	return it
}
