package node

import (
	"bytes"
	"errors"
	"fmt"
	"github.com/aonode/aonode/consensus"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/aonode/aonode/p2p"
	"go.yaml.in/yaml/v3"
)

// MaxConfigFileBytes bounds a config file.
const MaxConfigFileBytes = 1 << 20

// ErrConfigFile reports a config file that cannot be read or does not describe a node.
var ErrConfigFile = errors.New("node: config file")

// File is the YAML form of a node's configuration (aonode run --config FILE). Every field
// is optional; FileDefaults fills what a file leaves out. Relative paths are relative to the
// file's directory. Durations are Go durations ("10s", "1m").
type File struct {
	Roles []string `yaml:"roles"`
	// Key is the node key (JWK); Data the data directory.
	Key  string `yaml:"key"`
	Data string `yaml:"data"`
	// HTTP is the listen address host:port of the node's one HTTP listener.
	HTTP string `yaml:"http"`
	// SU, CU and Gateway are remote units for a node without p2p that lacks the role.
	SU      string `yaml:"su"`
	CU      string `yaml:"cu"`
	Gateway string `yaml:"gateway"`
	// PublicURL is the base URL clients and other nodes reach this one at; its /su is the
	// Url of the SU's Scheduler-Location (default: the listener's).
	PublicURL string `yaml:"public-url"`
	// SchedulerLocationTTL is the Time-To-Live of the SU's Scheduler-Location (default 1h).
	SchedulerLocationTTL time.Duration `yaml:"scheduler-location-ttl"`
	// LogLevel is debug, info, warn or error.
	LogLevel string `yaml:"log-level"`
	// TrustedMUs are wallet addresses of MUs on other nodes whose pushes (items with
	// From-Process) this node's SU accepts without a p2p node record (su/README.md).
	TrustedMUs []string `yaml:"trusted-mus"`

	BlockHeight  uint64        `yaml:"block-height"`
	Arweave      string        `yaml:"arweave"`
	ArweavePoll  time.Duration `yaml:"arweave-poll"`
	CronInterval time.Duration `yaml:"cron-interval"`
	CompileCache string        `yaml:"compile-cache"`

	// Follow lists processes the CU computes from the start; "all" computes every process the
	// node hears of on the network (testnets, watchtowers).
	Follow []string `yaml:"follow"`
	MU     FileMU   `yaml:"mu"`

	Limits FileLimits `yaml:"limits"`
	P2P    FileP2P    `yaml:"p2p"`
	Raft   FileRaft   `yaml:"raft"`
}

// FileRaft are the timeouts of the Raft groups that order processes with several schedulers
// (consensus.Timeouts; 0 takes the default).
type FileRaft struct {
	Heartbeat   time.Duration `yaml:"heartbeat"`
	Election    time.Duration `yaml:"election"`
	LeaderLease time.Duration `yaml:"leader-lease"`
	Commit      time.Duration `yaml:"commit"`
}

// FileMU are the MU's settings.
type FileMU struct {
	// ResultQuorum is how many distinct CUs must attest the same Result-SHA256 before the MU
	// cranks a result's outbox (default 1).
	ResultQuorum int `yaml:"result-quorum"`
}

// FileLimits are the node's resource bounds.
type FileLimits struct {
	MaxItemBytes    int64         `yaml:"max-item-bytes"`
	ShutdownTimeout time.Duration `yaml:"shutdown-timeout"`
	StoreBatchDelay time.Duration `yaml:"store-batch-delay"`
	// The p2p host's fixed resource-manager limits and connection manager water marks.
	P2PMemoryBytes  int64 `yaml:"p2p-memory-bytes"`
	P2PMaxFDs       int   `yaml:"p2p-max-fds"`
	P2PMaxConns     int   `yaml:"p2p-max-conns"`
	P2PMaxStreams   int   `yaml:"p2p-max-streams"`
	P2PConnLowWater int   `yaml:"p2p-conn-low-water"`
	P2PConnHigh     int   `yaml:"p2p-conn-high-water"`
	FetchMaxBytes   int64 `yaml:"fetch-max-item-bytes"`
	GossipMaxBytes  int   `yaml:"gossip-max-message-bytes"`
	// What clients can make the node hold and compute (node.Limits).
	ReadHeaderTimeout   time.Duration `yaml:"read-header-timeout"`
	UploadsPerAddr      int           `yaml:"uploads-per-addr"`
	BodyMinRate         int64         `yaml:"body-min-rate"`
	BodyGrace           time.Duration `yaml:"body-grace"`
	DryRunConcurrency   int           `yaml:"dry-run-concurrency"`
	DryRunPerProcess    int           `yaml:"dry-run-per-process"`
	DryRunQueue         int           `yaml:"dry-run-queue"`
	DryRunTimeout       time.Duration `yaml:"dry-run-timeout"`
	DryRunRate          float64       `yaml:"dry-run-rate"`
	DryRunBurst         int           `yaml:"dry-run-burst"`
	EvalTimeout         time.Duration `yaml:"eval-timeout"`
	CUMaxMemoryBytes    uint64        `yaml:"cu-max-memory-bytes"`
	CUMaxCompute        uint64        `yaml:"cu-max-compute"`
	CUMemoryBudgetBytes int64         `yaml:"cu-memory-budget-bytes"`
}

// FileP2P is the peer-to-peer part: with enabled, the node joins the network and finds the
// units it lacks through the node directory.
type FileP2P struct {
	Enabled           bool          `yaml:"enabled"`
	Listen            []string      `yaml:"listen"`
	Bootstrap         []string      `yaml:"bootstrap"`
	MDNS              bool          `yaml:"mdns"`
	MDNSService       string        `yaml:"mdns-service"`
	DHT               bool          `yaml:"dht"`
	DHTMode           string        `yaml:"dht-mode"`
	DiscoveryInterval time.Duration `yaml:"discovery-interval"`
	HeartbeatInterval time.Duration `yaml:"heartbeat-interval"`
	RecordInterval    time.Duration `yaml:"record-interval"`
	RecordTTL         time.Duration `yaml:"record-ttl"`
	FetchTimeout      time.Duration `yaml:"fetch-timeout"`
}

// FileDefaults is the File every config file starts from: DefaultConfig's values and
// p2p.DefaultConfig's, p2p off.
func FileDefaults() File {
	c := DefaultConfig()
	p := p2p.DefaultConfig()
	l := c.Limits
	return File{
		Roles:       c.Roles,
		HTTP:        c.HTTPAddr,
		LogLevel:    "info",
		BlockHeight: c.BlockHeight,
		ArweavePoll: c.ArweavePollInterval,

		SchedulerLocationTTL: c.SchedulerLocationTTL,
		Limits: FileLimits{
			MaxItemBytes:    c.MaxItemBytes,
			ShutdownTimeout: c.ShutdownTimeout,
			StoreBatchDelay: c.StoreBatchDelay,
			P2PMemoryBytes:  p.Resources.MemoryBytes,
			P2PMaxFDs:       p.Resources.MaxFileDescriptors,
			P2PMaxConns:     p.Resources.MaxConns,
			P2PMaxStreams:   p.Resources.MaxStreams,
			P2PConnLowWater: p.ConnLowWater,
			P2PConnHigh:     p.ConnHighWater,
			FetchMaxBytes:   p.Fetch.MaxItemBytes,
			GossipMaxBytes:  p.Gossip.MaxMessageBytes,

			ReadHeaderTimeout:   l.ReadHeaderTimeout,
			UploadsPerAddr:      l.UploadsPerAddr,
			BodyMinRate:         l.BodyMinRate,
			BodyGrace:           l.BodyGrace,
			DryRunConcurrency:   l.DryRunConcurrency,
			DryRunPerProcess:    l.DryRunPerProcess,
			DryRunQueue:         l.DryRunQueue,
			DryRunTimeout:       l.DryRunTimeout,
			DryRunRate:          l.DryRunRate,
			DryRunBurst:         l.DryRunBurst,
			EvalTimeout:         l.EvalTimeout,
			CUMaxMemoryBytes:    l.CUMaxMemoryBytes,
			CUMaxCompute:        l.CUMaxCompute,
			CUMemoryBudgetBytes: l.CUMemoryBudgetBytes,
		},
		P2P: FileP2P{
			Listen:            p.ListenAddrs,
			MDNS:              p.MDNS,
			MDNSService:       p.MDNSService,
			DHT:               p.DHT,
			DHTMode:           p.DHTMode,
			DiscoveryInterval: p.DiscoveryInterval,
			HeartbeatInterval: p.Gossip.HeartbeatInterval,
			RecordInterval:    p.Gossip.RecordInterval,
			RecordTTL:         p.Gossip.RecordTTL,
			FetchTimeout:      p.Fetch.Timeout,
		},
	}
}

// LoadFile reads a YAML config file over FileDefaults. Unknown keys are errors, so a typo
// does not silently run a node with a default.
func LoadFile(path string) (File, error) {
	f := FileDefaults()
	fh, err := os.Open(path)
	if err != nil {
		return f, fmt.Errorf("%w: %v", ErrConfigFile, err)
	}
	defer fh.Close()
	raw, err := io.ReadAll(io.LimitReader(fh, MaxConfigFileBytes+1))
	if err != nil {
		return f, fmt.Errorf("%w: %s: %v", ErrConfigFile, path, err)
	}
	if len(raw) > MaxConfigFileBytes {
		return f, fmt.Errorf("%w: %s is larger than %d bytes", ErrConfigFile, path, MaxConfigFileBytes)
	}
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) {
		return f, fmt.Errorf("%w: %s: %v", ErrConfigFile, path, err)
	}
	dir := filepath.Dir(path)
	for _, p := range []*string{&f.Key, &f.Data, &f.CompileCache} {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p)
		}
	}
	return f, nil
}

// Config is the node Config the file describes (without a Logger: the caller makes one
// from LogLevel). Validate it after applying any overrides.
func (f File) Config() Config {
	c := DefaultConfig()
	c.Roles = f.Roles
	c.KeyFile = f.Key
	c.DataDir = f.Data
	c.HTTPAddr = f.HTTP
	c.PublicURL = f.PublicURL
	c.SchedulerLocationTTL = f.SchedulerLocationTTL
	c.SUURL, c.CUURL, c.GatewayURL = f.SU, f.CU, f.Gateway
	c.BlockHeight = f.BlockHeight
	c.ArweaveURL = f.Arweave
	c.ArweavePollInterval = f.ArweavePoll
	c.CronInterval = f.CronInterval
	c.CompileCacheDir = f.CompileCache
	c.MaxItemBytes = f.Limits.MaxItemBytes
	c.ShutdownTimeout = f.Limits.ShutdownTimeout
	c.StoreBatchDelay = f.Limits.StoreBatchDelay
	c.TrustedMUs = f.TrustedMUs
	c.Follow = f.Follow
	c.ResultQuorum = f.MU.ResultQuorum
	c.Raft = consensus.Timeouts{Heartbeat: f.Raft.Heartbeat, Election: f.Raft.Election, LeaderLease: f.Raft.LeaderLease, Commit: f.Raft.Commit}
	fl := f.Limits
	c.Limits = Limits{
		ReadHeaderTimeout: fl.ReadHeaderTimeout, UploadsPerAddr: fl.UploadsPerAddr,
		BodyMinRate: fl.BodyMinRate, BodyGrace: fl.BodyGrace,
		DryRunConcurrency: fl.DryRunConcurrency, DryRunPerProcess: fl.DryRunPerProcess,
		DryRunQueue: fl.DryRunQueue, DryRunTimeout: fl.DryRunTimeout,
		DryRunRate: fl.DryRunRate, DryRunBurst: fl.DryRunBurst, EvalTimeout: fl.EvalTimeout,
		CUMaxMemoryBytes: fl.CUMaxMemoryBytes, CUMaxCompute: fl.CUMaxCompute,
		CUMemoryBudgetBytes: fl.CUMemoryBudgetBytes,
	}
	if f.P2P.Enabled {
		p := p2p.DefaultConfig()
		p.ListenAddrs = f.P2P.Listen
		p.Bootstrap = f.P2P.Bootstrap
		p.MDNS = f.P2P.MDNS
		p.MDNSService = f.P2P.MDNSService
		p.DHT = f.P2P.DHT
		p.DHTMode = f.P2P.DHTMode
		p.DiscoveryInterval = f.P2P.DiscoveryInterval
		p.Gossip.HeartbeatInterval = f.P2P.HeartbeatInterval
		p.Gossip.RecordInterval = f.P2P.RecordInterval
		p.Gossip.RecordTTL = f.P2P.RecordTTL
		p.Fetch.Timeout = f.P2P.FetchTimeout
		p.Fetch.MaxItemBytes = f.Limits.FetchMaxBytes
		p.Gossip.MaxMessageBytes = f.Limits.GossipMaxBytes
		p.Resources = p2p.Resources{
			MemoryBytes:        f.Limits.P2PMemoryBytes,
			MaxFileDescriptors: f.Limits.P2PMaxFDs,
			MaxConns:           f.Limits.P2PMaxConns,
			MaxStreams:         f.Limits.P2PMaxStreams,
		}
		p.ConnLowWater, p.ConnHighWater = f.Limits.P2PConnLowWater, f.Limits.P2PConnHigh
		c.P2P = &p
	}
	return c
}
