package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aonode/aonode/cu"
	"github.com/aonode/aonode/dataitem"
	"github.com/aonode/aonode/p2p"
	"github.com/aonode/aonode/store"
	"github.com/libp2p/go-libp2p/core/crypto"
)

// ErrNoScheduler reports a process whose scheduler no known node serves (yet): its process
// item could not be fetched from peers, or no node record names its Scheduler address.
var ErrNoScheduler = errors.New("node: no known SU serves the process")

// Bounds of the network's caches: process definitions never change, so the caches only
// forget to stay small.
const (
	maxSchedulerCache = 16384
	maxFollowed       = 4096
	// missTTL is how long a process no peer had is answered "unknown" without asking the
	// network again: look-ups come from untrusted requests, and each can cost many streams.
	missTTL        = 5 * time.Second
	publishTimeout = 10 * time.Second
	resolveTimeout = 20 * time.Second
)

// network is a node's peer-to-peer side: the libp2p host, the routing of SU and CU requests
// through its node directory in place of configured URLs, the SU's pushes of new slots and
// the CU's following of process topics.
type network struct {
	host     *p2p.Host
	db       *store.DB
	client   *http.Client
	log      *slog.Logger
	selfAddr string // this node's wallet address
	selfSU   string // this node's SU base URL, when it runs the su role

	mu      sync.Mutex
	scheds  map[string][]string  // process id → its Scheduler tags
	misses  map[string]time.Time // process id → when a look-up last failed
	clients map[string]*cu.SUClient
	follows map[string]*p2p.ProcessSubscription
	// attests are the attestation topics followed, receive the CU's intake of them, attestQ
	// what the CU signed waiting for gossip (attest.go).
	attests map[string]*p2p.AttestSubscription
	receive func(cu.Attestation) bool
	attestQ chan []byte
	wake    func(pid string) error // the CU's, once built
	closed  bool
	ctx     context.Context // ends with close: bounds the followers' dials
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

// startNetwork starts the libp2p host when the Config asks for one. It runs after the
// listener exists (the node record announces its URL) and before the roles are built (they
// route through it).
func (n *Node) startNetwork(signer dataitem.Signer) error {
	if n.cfg.P2P == nil {
		return nil
	}
	id, err := p2p.NewIdentity(signer, nil)
	if errors.Is(err, p2p.ErrPeerKeyRequired) && !n.cfg.InMemory {
		// A wallet that cannot double as a libp2p key gets its own beside the store.
		var pk crypto.PrivKey
		if pk, err = p2p.LoadOrCreatePeerKey(filepath.Join(n.cfg.DataDir, "libp2p.key")); err == nil {
			id, err = p2p.NewIdentity(signer, pk)
		}
	}
	if err != nil {
		return fmt.Errorf("node: p2p identity: %w", err)
	}
	var roles []string
	for _, r := range n.cfg.Roles {
		if slices.Contains([]string{p2p.RoleSU, p2p.RoleCU, p2p.RoleMU}, r) {
			roles = append(roles, r)
		}
	}
	nw := &network{
		db:       n.db,
		client:   n.client,
		log:      n.log.With("component", "network"),
		selfAddr: id.Address,
		scheds:   map[string][]string{},
		misses:   map[string]time.Time{},
		clients:  map[string]*cu.SUClient{},
		follows:  map[string]*p2p.ProcessSubscription{},
		attests:  map[string]*p2p.AttestSubscription{},
		attestQ:  make(chan []byte, attestQueue),
	}
	nw.ctx, nw.cancel = context.WithCancel(context.Background())
	if n.cfg.has(RoleSU) {
		nw.selfSU = n.urls.Node + "/su"
	}
	publicURL := n.urls.Node
	if n.cfg.PublicURL != "" {
		publicURL = strings.TrimRight(n.cfg.PublicURL, "/")
	}
	nw.host, err = p2p.New(*n.cfg.P2P, p2p.Deps{
		Identity:   id,
		Info:       p2p.NodeInfo{Roles: roles, URL: publicURL, Version: Version},
		Items:      storeItems{n.db},
		Schedulers: nw,
		Locations:  &n.locations,
		Evidence:   evidenceBook{n.db},
		Logger:     n.log.With("component", "p2p"),
		Registerer: n.registry,
	})
	if err != nil {
		nw.cancel()
		return fmt.Errorf("node: starting p2p: %w", err)
	}
	n.net = nw
	return nil
}

// validateNetwork checks the p2p settings of c.
func (c Config) validateNetwork() error {
	if c.P2P != nil {
		if err := c.P2P.Validate(); err != nil {
			return fmt.Errorf("node: %w", err)
		}
	}
	if c.PublicURL != "" {
		u, err := url.Parse(c.PublicURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			return fmt.Errorf("node: public URL %q is not an http(s) base URL", c.PublicURL)
		}
	}
	return nil
}

// Version is what a node announces in its record.
const Version = "aonode/1"

// Host is the node's libp2p host, nil without p2p.
func (n *Node) Host() *p2p.Host {
	if n.net == nil {
		return nil
	}
	return n.net.host
}

// close stops following and closes the host. The CU is closed before: nothing wakes it.
func (nw *network) close() error {
	nw.cancel()
	nw.mu.Lock()
	nw.closed = true
	subs := nw.follows
	nw.follows = map[string]*p2p.ProcessSubscription{}
	attests := nw.attests
	nw.attests = map[string]*p2p.AttestSubscription{}
	nw.mu.Unlock()
	for _, s := range subs {
		s.Close()
	}
	for _, s := range attests {
		s.Close()
	}
	nw.wg.Wait()
	if err := nw.host.Close(); err != nil {
		return fmt.Errorf("node: closing p2p: %w", err)
	}
	return nil
}

// storeItems serves the store's items to peers.
type storeItems struct{ db *store.DB }

func (s storeItems) Item(id string) ([]byte, error) {
	raw, err := s.db.Item(id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%w: %s", p2p.ErrNotFound, id)
	}
	return raw, err
}
