package su

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/aonode/aonode/dataitem"
	"github.com/aonode/aonode/dataitem/aoapi"
	"github.com/aonode/aonode/store"
	"github.com/prometheus/client_golang/prometheus"
)

// Defaults of Options.
const (
	DefaultMaxItemBytes = 10 << 20 // the reference's actix PayloadConfig
	DefaultMaxPageBytes = 64 << 20
	DefaultMaxPageItems = 10000
	defaultPageLimit    = 100
	maxExcludeBytes     = 2048 // keeps an assignment's tag section under the ANS-104 4096 limit
)

// Options configure an SU. DB and Signer are required.
type Options struct {
	DB     *store.DB
	Signer dataitem.Signer
	// Sequencer assigns the slots; nil builds a Local one from the fields below.
	Sequencer Sequencer
	// Clock returns unix milliseconds (default: the wall clock).
	Clock func() int64
	// BlockHeight is the Arweave height stamped on assignments and reported by /timestamp
	// (default: always 0).
	BlockHeight func() uint64
	// Anchor fills an assignment's 32-byte anchor (default: random, as the reference's: a
	// ChaCha8 stream keyed from crypto/rand, LocalOptions.Anchor).
	Anchor func([]byte) error
	// MaxItemBytes bounds a POSTed body; larger bodies get 413 before being read whole.
	MaxItemBytes int64
	// MaxPageItems caps the limit of one page of a process's messages; MaxPageBytes stops a
	// page early (has_next_page true) once its items add up to that many bytes.
	MaxPageItems int
	MaxPageBytes int
	// Pushers are the other MUs whose pushes (items carrying From-Process or From-Module)
	// this SU accepts besides its own key's; nil trusts none (trust.go).
	Pushers PusherTrust
	// Metrics are the SU's collectors. A caller that builds its own Sequencer passes the
	// Metrics it gave that sequencer, so each collector is registered once; nil makes new
	// ones on Registerer.
	Metrics *Metrics
	// Registerer receives the SU's metrics when Metrics is nil (nil: not registered).
	Registerer prometheus.Registerer
	// Consensus answers GET /consensus/{process-id} for processes ordered by a Raft group;
	// nil answers 404 for every process.
	Consensus ConsensusStatus
	// MetricsHandler serves GET /metrics; nil answers 400 "Metrics not enabled" like the
	// reference without ENABLE_METRICS.
	MetricsHandler http.Handler
	Logger         *slog.Logger
}

// ConsensusStatus reports the Raft group of a process with several schedulers; ok is false
// for a process this node orders alone or does not know.
type ConsensusStatus interface {
	Status(pid string) (st aoapi.Consensus, ok bool, err error)
}

// SU is a scheduler unit: intake, sequencing and the reference HTTP API.
type SU struct {
	opts    Options
	address string
	seq     Sequencer
	metrics *Metrics
	log     *slog.Logger
}

// New builds an SU.
func New(opts Options) (*SU, error) {
	if opts.DB == nil || opts.Signer == nil {
		return nil, errors.New("su: New needs a DB and a Signer")
	}
	if opts.Clock == nil {
		opts.Clock = func() int64 { return time.Now().UnixMilli() }
	}
	if opts.BlockHeight == nil {
		opts.BlockHeight = func() uint64 { return 0 }
	}
	if opts.MaxItemBytes <= 0 {
		opts.MaxItemBytes = DefaultMaxItemBytes
	}
	if opts.MaxPageItems <= 0 {
		opts.MaxPageItems = DefaultMaxPageItems
	}
	if opts.MaxPageBytes <= 0 {
		opts.MaxPageBytes = DefaultMaxPageBytes
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	m := opts.Metrics
	if m == nil {
		var err error
		if m, err = NewMetrics(opts.Registerer); err != nil {
			return nil, fmt.Errorf("su: metrics: %w", err)
		}
	}
	s := &SU{opts: opts, address: addressOf(opts.Signer), metrics: m, log: opts.Logger}
	s.seq = opts.Sequencer
	if s.seq == nil {
		var err error
		s.seq, err = NewLocal(LocalOptions{
			DB:          opts.DB,
			Signer:      opts.Signer,
			Clock:       opts.Clock,
			BlockHeight: opts.BlockHeight,
			Anchor:      opts.Anchor,
			Metrics:     m,
		})
		if err != nil {
			return nil, err
		}
	}
	return s, nil
}

// addressOf is the Arweave-style address of a signer: b64url(sha256(owner)), for every key
// type, as the reference SU computes it.
func addressOf(s dataitem.Signer) string {
	return AddressOfOwner(s.Owner())
}

// Address is this SU's wallet address, the value a Process's Scheduler tag must carry.
func (s *SU) Address() string { return s.address }

// Submit verifies a raw Process or Message item, checks it like the reference write pipeline
// and schedules it. The returned slot is durable.
func (s *SU) Submit(ctx context.Context, raw []byte) (Scheduled, error) {
	it, err := dataitem.ParseVerified(raw)
	if err != nil {
		return Scheduled{}, refuse(ErrInvalidItem, "Invalid data item: %v", err)
	}
	req, err := Intake(it, s.address)
	if err != nil {
		return Scheduled{}, err
	}
	if err := s.checkPusher(it, req.Process); err != nil {
		return Scheduled{}, err
	}
	return s.seq.Schedule(ctx, req)
}

// AssignExisting gives an item this SU already holds a slot in process pid; the assignment
// carries Message=mid and one Exclude tag per exclude value.
func (s *SU) AssignExisting(ctx context.Context, pid, mid string, exclude []string) (Scheduled, error) {
	if _, err := dataitem.DecodeID(pid); err != nil {
		return Scheduled{}, refuse(ErrInvalidItem, "process-id must be a 43-character base64url id")
	}
	if _, err := dataitem.DecodeID(mid); err != nil {
		return Scheduled{}, refuse(ErrInvalidItem, "assign must be a 43-character base64url id")
	}
	n := 0
	for _, e := range exclude {
		if e == "" {
			return Scheduled{}, refuse(ErrInvalidItem, "exclude values may not be empty")
		}
		n += len(e) + len(TagExclude)
	}
	if n > maxExcludeBytes {
		return Scheduled{}, refuse(ErrInvalidItem, "exclude list too long (max %d bytes)", maxExcludeBytes)
	}
	// The held item reaches pid as its own message: the same trust rule applies.
	switch it, err := s.loadItem(mid); {
	case err == nil:
		if err := s.checkPusher(it, pid); err != nil {
			return Scheduled{}, err
		}
	case !errors.Is(err, store.ErrNotFound):
		return Scheduled{}, err
	}
	return s.seq.Schedule(ctx, Request{Process: pid, Message: mid, Exclude: exclude})
}
