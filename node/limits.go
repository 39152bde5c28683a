package node

import (
	"errors"
	"fmt"
	"runtime"
	"time"

	"github.com/aonode/aonode/cu"
	"github.com/aonode/aonode/node/httplimit"
)

// Limits bounds what clients can make a node hold and compute. DefaultLimits fills them;
// zero values take the default, and the bounds that can be switched off are off when
// negative. The README's operator section lists each with its flag.
type Limits struct {
	// ReadHeaderTimeout bounds how long a client may take to send its request headers.
	ReadHeaderTimeout time.Duration
	// UploadsPerAddr bounds the request bodies one client address may have in flight;
	// BodyMinRate (bytes/s) and BodyGrace bound how slowly a body may arrive: one of n bytes
	// must have arrived within BodyGrace + n/BodyMinRate.
	UploadsPerAddr int
	BodyMinRate    int64
	BodyGrace      time.Duration

	// DryRunConcurrency dry-runs evaluate at once on the node, at most DryRunPerProcess of
	// one process; DryRunQueue more wait (at most twice DryRunTimeout) before 503 Retry-After.
	// DryRunTimeout is also the wall-clock cap of one dry-run's evaluation. One client
	// address may start DryRunRate dry-runs per second, in bursts of DryRunBurst (then 429).
	DryRunConcurrency int
	DryRunPerProcess  int
	DryRunQueue       int
	DryRunTimeout     time.Duration
	DryRunRate        float64
	DryRunBurst       int

	// EvalTimeout is the wall-clock cap of one message's evaluation: a message that runs
	// longer is not recorded, and its process pauses (cu.Config.EvalTimeout).
	EvalTimeout time.Duration

	// CUMaxMemoryBytes and CUMaxCompute are the largest Memory-Limit and Compute-Limit the
	// CU runs; CUMemoryBudgetBytes bounds the memory of live processes and dry-runs.
	CUMaxMemoryBytes    uint64
	CUMaxCompute        uint64
	CUMemoryBudgetBytes int64
}

// Defaults of the limits that are not the CU's own.
const (
	DefaultReadHeaderTimeout = 10 * time.Second
	DefaultUploadsPerAddr    = 8
	// DefaultBodyMinRate lets a 10 MiB item arrive over a 128 kbit/s link in under 11 minutes.
	DefaultBodyMinRate = 16 << 10
	DefaultBodyGrace   = 30 * time.Second
	// uploadWait is how long a body waits for one of its address's upload slots: momentary
	// bursts from one address (a NAT, a benchmark) queue instead of failing.
	uploadWait = 2 * time.Second
)

// DefaultLimits returns every limit at its default.
func DefaultLimits() Limits {
	return Limits{
		ReadHeaderTimeout:   DefaultReadHeaderTimeout,
		UploadsPerAddr:      DefaultUploadsPerAddr,
		BodyMinRate:         DefaultBodyMinRate,
		BodyGrace:           DefaultBodyGrace,
		DryRunConcurrency:   runtime.NumCPU(),
		DryRunPerProcess:    cu.DefaultDryRunPerProcess,
		DryRunQueue:         cu.DefaultDryRunQueue,
		DryRunTimeout:       cu.DefaultDryRunTimeout,
		DryRunRate:          cu.DefaultDryRunRate,
		DryRunBurst:         cu.DefaultDryRunBurst,
		EvalTimeout:         cu.DefaultEvalTimeout,
		CUMaxMemoryBytes:    cu.DefaultMaxMemoryLimit,
		CUMaxCompute:        cu.DefaultMaxComputeLimit,
		CUMemoryBudgetBytes: cu.DefaultInstanceBudgetBytes,
	}
}

func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	fill := func(v *time.Duration, def time.Duration) {
		if *v == 0 {
			*v = def
		}
	}
	fill(&l.ReadHeaderTimeout, d.ReadHeaderTimeout)
	fill(&l.BodyGrace, d.BodyGrace)
	fill(&l.DryRunTimeout, d.DryRunTimeout)
	fill(&l.EvalTimeout, d.EvalTimeout)
	if l.UploadsPerAddr == 0 {
		l.UploadsPerAddr = d.UploadsPerAddr
	}
	if l.BodyMinRate == 0 {
		l.BodyMinRate = d.BodyMinRate
	}
	if l.DryRunConcurrency == 0 {
		l.DryRunConcurrency = d.DryRunConcurrency
	}
	if l.DryRunPerProcess == 0 {
		l.DryRunPerProcess = d.DryRunPerProcess
	}
	if l.DryRunQueue == 0 {
		l.DryRunQueue = d.DryRunQueue
	}
	if l.DryRunRate == 0 {
		l.DryRunRate = d.DryRunRate
	}
	if l.DryRunBurst == 0 {
		l.DryRunBurst = d.DryRunBurst
	}
	if l.CUMaxMemoryBytes == 0 {
		l.CUMaxMemoryBytes = d.CUMaxMemoryBytes
	}
	if l.CUMaxCompute == 0 {
		l.CUMaxCompute = d.CUMaxCompute
	}
	if l.CUMemoryBudgetBytes == 0 {
		l.CUMemoryBudgetBytes = d.CUMemoryBudgetBytes
	}
	return l
}

// Validate reports the first limit that cannot work.
func (l Limits) Validate() error {
	l = l.withDefaults()
	switch {
	case l.ReadHeaderTimeout < 0:
		return errors.New("node: ReadHeaderTimeout must not be negative")
	case l.BodyGrace < 0:
		return errors.New("node: BodyGrace must not be negative")
	case l.BodyMinRate > 0 && l.BodyMinRate < 1024:
		return fmt.Errorf("node: BodyMinRate %d B/s is below 1 KiB/s (negative switches it off)", l.BodyMinRate)
	case l.DryRunConcurrency < 1 || l.DryRunPerProcess < 1:
		return errors.New("node: DryRunConcurrency and DryRunPerProcess must be at least 1")
	case l.DryRunTimeout < 10*time.Millisecond:
		return fmt.Errorf("node: DryRunTimeout %v is below 10ms", l.DryRunTimeout)
	case l.DryRunRate > 0 && l.DryRunBurst < 1:
		return errors.New("node: DryRunBurst must be at least 1")
	case l.EvalTimeout > 0 && l.EvalTimeout < time.Second:
		return fmt.Errorf("node: EvalTimeout %v is below 1s (negative switches it off)", l.EvalTimeout)
	case l.CUMemoryBudgetBytes < 1<<20:
		return fmt.Errorf("node: CUMemoryBudgetBytes %d is below 1 MiB", l.CUMemoryBudgetBytes)
	}
	return nil
}

// guard is the upload guard of the node's listener.
func (l Limits) guard() httplimit.GuardConfig {
	g := httplimit.GuardConfig{UploadsPerAddr: max(l.UploadsPerAddr, 0), UploadWait: uploadWait, BodyGrace: l.BodyGrace}
	if l.BodyMinRate > 0 {
		g.BodyMinRate = l.BodyMinRate
	}
	return g
}

// cu applies the CU's limits to its config.
func (l Limits) cu(c *cu.Config) {
	c.DryRunConcurrency = l.DryRunConcurrency
	c.DryRunPerProcess = l.DryRunPerProcess
	c.DryRunQueue = l.DryRunQueue
	c.DryRunTimeout = l.DryRunTimeout
	c.DryRunRate, c.DryRunBurst = l.DryRunRate, l.DryRunBurst
	c.EvalTimeout = l.EvalTimeout
	c.MaxMemoryLimit = l.CUMaxMemoryBytes
	c.MaxComputeLimit = l.CUMaxCompute
	c.InstanceBudgetBytes = l.CUMemoryBudgetBytes
}
