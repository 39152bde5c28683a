package p2p

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// Config is the p2p part of a node's configuration. DefaultConfig fills every
// field; Validate checks a filled one.
type Config struct {
	// ListenAddrs are multiaddrs to listen on (TCP and QUIC v1 by default).
	ListenAddrs []string
	// Bootstrap are multiaddrs ending in /p2p/<peer id>; they are dialled at
	// start and re-dialled every DiscoveryInterval while disconnected.
	Bootstrap []string

	// MDNS finds peers on the local network (on in dev and testnet configs).
	MDNS bool
	// MDNSService is the mDNS service name; only nodes with the same name meet.
	MDNSService string

	// DHT runs a Kademlia DHT under DHTProtocolPrefix, never the public IPFS one.
	DHT bool
	// DHTMode is "server", "client" or "auto" (server when publicly reachable).
	DHTMode string
	// DHTProtocolPrefix prefixes the DHT's protocol IDs; it must not be /ipfs.
	DHTProtocolPrefix string
	// Rendezvous is the DHT namespace nodes advertise themselves under.
	Rendezvous string
	// DiscoveryInterval paces bootstrap re-dials and DHT rendezvous look-ups.
	DiscoveryInterval time.Duration

	Resources Resources

	// ConnLowWater and ConnHighWater drive the connection manager: above high
	// water it trims connections down to low water.
	ConnLowWater    int
	ConnHighWater   int
	ConnGracePeriod time.Duration

	Gossip GossipConfig
	Fetch  FetchConfig
}

// Resources are the fixed resource-manager limits of the host (system scope).
type Resources struct {
	MemoryBytes        int64
	MaxFileDescriptors int
	MaxConns           int
	MaxStreams         int
}

// GossipConfig tunes GossipSub and the node records.
type GossipConfig struct {
	// MaxMessageBytes bounds one gossip payload; bigger messages of a process
	// are published as the assignment alone and fetched by id.
	MaxMessageBytes int
	// HeartbeatInterval is GossipSub's mesh maintenance period.
	HeartbeatInterval time.Duration
	// RecordInterval is how often a node re-publishes its record;
	// RecordMinInterval bounds re-publishing when neighbours join.
	RecordInterval    time.Duration
	RecordMinInterval time.Duration
	// RecordTTL is the lifetime a node gives its own record; MaxRecordTTL the
	// longest lifetime accepted from others.
	RecordTTL    time.Duration
	MaxRecordTTL time.Duration
	// MaxClockSkew is how far in the future a record may be issued.
	MaxClockSkew time.Duration
	// MaxAssignmentAge ignores (without penalty) assignments older than this:
	// gossip is for fresh slots, catch-up goes through an SU.
	MaxAssignmentAge time.Duration
	// MaxDirectoryPeers bounds the node directory.
	MaxDirectoryPeers int
	// SubscriptionBuffer is the channel size of a process subscription; when
	// the consumer lags, pushes are dropped and the consumer sees a gap.
	SubscriptionBuffer int
	// ValidateTimeout bounds one validation (it may consult the node).
	ValidateTimeout time.Duration
	// ScoreInspectInterval is how often peer scores are snapshotted.
	ScoreInspectInterval time.Duration
	// TopicIdle closes a process topic used only for publishing after this long.
	TopicIdle time.Duration
}

// FetchConfig tunes fetching items by id from peers.
type FetchConfig struct {
	// Timeout bounds one request to one peer (dial, request and response).
	Timeout time.Duration
	// MaxItemBytes is the largest item served or accepted.
	MaxItemBytes int64
	// MaxPeers is how many peers one Fetch tries before giving up.
	MaxPeers int
	// MaxConcurrentServes bounds requests served at once.
	MaxConcurrentServes int
}

// DefaultConfig returns production defaults: TCP and QUIC on all interfaces,
// DHT on in auto mode under /aonode, mDNS off (dev and testnet configs turn it
// on), limits sized for one node among several on a machine.
func DefaultConfig() Config {
	return Config{
		ListenAddrs:       []string{"/ip4/0.0.0.0/tcp/4001", "/ip4/0.0.0.0/udp/4001/quic-v1"},
		MDNS:              false,
		MDNSService:       "aonode",
		DHT:               true,
		DHTMode:           "auto",
		DHTProtocolPrefix: "/aonode",
		Rendezvous:        "aonode/1",
		DiscoveryInterval: 30 * time.Second,
		Resources: Resources{
			MemoryBytes:        512 << 20,
			MaxFileDescriptors: 1024,
			MaxConns:           512,
			MaxStreams:         4096,
		},
		ConnLowWater:    64,
		ConnHighWater:   192,
		ConnGracePeriod: 30 * time.Second,
		Gossip: GossipConfig{
			MaxMessageBytes:      1 << 20,
			HeartbeatInterval:    time.Second,
			RecordInterval:       60 * time.Second,
			RecordMinInterval:    2 * time.Second,
			RecordTTL:            5 * time.Minute,
			MaxRecordTTL:         time.Hour,
			MaxClockSkew:         30 * time.Second,
			MaxAssignmentAge:     10 * time.Minute,
			MaxDirectoryPeers:    10000,
			SubscriptionBuffer:   1024,
			ValidateTimeout:      5 * time.Second,
			ScoreInspectInterval: 10 * time.Second,
			TopicIdle:            2 * time.Minute,
		},
		Fetch: FetchConfig{
			Timeout:             15 * time.Second,
			MaxItemBytes:        64 << 20,
			MaxPeers:            8,
			MaxConcurrentServes: 32,
		},
	}
}

// ErrConfig reports an invalid Config.
var ErrConfig = errors.New("p2p: invalid config")

// Validate reports the first problem of c, wrapping ErrConfig.
func (c Config) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrConfig, fmt.Sprintf(format, args...))
	}
	if len(c.ListenAddrs) == 0 {
		return bad("no listen address")
	}
	for _, s := range c.ListenAddrs {
		if _, err := ma.NewMultiaddr(s); err != nil {
			return bad("listen address %q: %v", s, err)
		}
	}
	if _, err := c.bootstrapPeers(); err != nil {
		return bad("%v", err)
	}
	if c.MDNS && c.MDNSService == "" {
		return bad("mDNS on without a service name")
	}
	if c.DHT {
		if _, err := c.dhtMode(); err != nil {
			return bad("%v", err)
		}
		p := c.DHTProtocolPrefix
		if !strings.HasPrefix(p, "/") || len(p) < 2 || strings.HasPrefix(p, "/ipfs") {
			return bad("DHT protocol prefix %q: want a private prefix like /aonode", p)
		}
		if c.Rendezvous == "" {
			return bad("DHT on without a rendezvous namespace")
		}
	}
	if c.DiscoveryInterval < 100*time.Millisecond {
		return bad("discovery interval %s below 100ms", c.DiscoveryInterval)
	}
	r := c.Resources
	if r.MemoryBytes < 16<<20 || r.MaxFileDescriptors < 16 || r.MaxConns < 4 || r.MaxStreams < 16 {
		return bad("resource limits too small: %+v (memory >= 16 MiB, fds >= 16, conns >= 4, streams >= 16)", r)
	}
	if c.ConnLowWater < 1 || c.ConnHighWater < c.ConnLowWater {
		return bad("connection water marks low %d high %d", c.ConnLowWater, c.ConnHighWater)
	}
	if c.ConnHighWater >= r.MaxConns {
		// libp2p refuses a connection manager whose high water the resource manager would never let it reach.
		return bad("connection high water %d must be below the resource manager's %d connections", c.ConnHighWater, r.MaxConns)
	}
	if c.ConnGracePeriod < 0 {
		return bad("negative connection grace period")
	}
	g := c.Gossip
	switch {
	case g.MaxMessageBytes < 4096 || g.MaxMessageBytes > 16<<20:
		return bad("gossip max message bytes %d outside [4096, 16 MiB]", g.MaxMessageBytes)
	case g.HeartbeatInterval < 10*time.Millisecond:
		return bad("gossip heartbeat %s below 10ms", g.HeartbeatInterval)
	case g.RecordMinInterval <= 0 || g.RecordInterval < g.RecordMinInterval:
		return bad("record interval %s / min interval %s", g.RecordInterval, g.RecordMinInterval)
	case g.RecordTTL <= g.RecordInterval || g.RecordTTL > g.MaxRecordTTL:
		return bad("record TTL %s must exceed the record interval %s and not exceed the max TTL %s", g.RecordTTL, g.RecordInterval, g.MaxRecordTTL)
	case g.MaxClockSkew < 0 || g.MaxAssignmentAge <= 0:
		return bad("clock skew %s / assignment age %s", g.MaxClockSkew, g.MaxAssignmentAge)
	case g.MaxDirectoryPeers < 1 || g.SubscriptionBuffer < 1:
		return bad("directory size %d / subscription buffer %d", g.MaxDirectoryPeers, g.SubscriptionBuffer)
	case g.ValidateTimeout <= 0 || g.ScoreInspectInterval <= 0 || g.TopicIdle <= 0:
		return bad("validate timeout, score inspect interval and topic idle must be positive")
	}
	f := c.Fetch
	if f.Timeout <= 0 || f.MaxItemBytes < 1024 || f.MaxPeers < 1 || f.MaxConcurrentServes < 1 {
		return bad("fetch settings %+v", f)
	}
	return nil
}

func (c Config) bootstrapPeers() ([]peer.AddrInfo, error) {
	out := make([]peer.AddrInfo, 0, len(c.Bootstrap))
	for _, s := range c.Bootstrap {
		info, err := peer.AddrInfoFromString(s)
		if err != nil {
			return nil, fmt.Errorf("bootstrap address %q: %v (want a multiaddr ending in /p2p/<peer id>)", s, err)
		}
		out = append(out, *info)
	}
	return out, nil
}
