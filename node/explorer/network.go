package explorer

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aonode/aonode/store"
)

// Network is the node's view of the p2p network.
type Network interface {
	// Self is this node's peer id.
	Self() string
	// Nodes are the node records of the directory, this node's included.
	Nodes() []Peer
	// Connections are the peer ids node p is connected to: this node's from its host, another
	// node's from its GET /peers.
	Connections(ctx context.Context, p Peer) ([]string, error)
}

// Peer is a node of the directory.
type Peer struct {
	PeerID    string   `json:"peer_id"`
	Address   string   `json:"address,omitempty"` // wallet address of its node key
	URL       string   `json:"url,omitempty"`
	Roles     []string `json:"roles"`
	Scheduler string   `json:"scheduler,omitempty"`
	Version   string   `json:"version,omitempty"`
	Addrs     []string `json:"addrs,omitempty"`
	// Connected is whether this node holds a connection to it.
	Connected bool `json:"connected"`
}

// Bounds of the network view: how many nodes are asked for their connections (the others are
// drawn from the directory alone), how many at once, and for how long; the view is reused
// for netTTL, so a page polling it costs the network one round per netTTL at most.
const (
	netMaxAsked    = 200
	netParallel    = 8
	netAskTimeout  = 2 * time.Second
	netTTL         = 3 * time.Second
	netMaxProcs    = 100
	netMaxLinks    = 20_000
	netMaxNodeErrs = 256
	// netProcsPerSU is how many of its newest processes each SU of the directory is asked
	// for (GET {url}/explorer/api/processes), so that the view shows which node schedules
	// what beyond the processes this node holds; netMaxReplyBytes bounds each answer.
	netProcsPerSU    = 10
	netMaxReplyBytes = 1 << 20
)

// NetworkNode is a node of the network view.
type NetworkNode struct {
	Peer
	Self bool `json:"self,omitempty"`
	// Asked is whether its connections were read; Error says why they could not be.
	Asked bool   `json:"asked"`
	Error string `json:"error,omitempty"`
}

// NetworkProcess is a process and the schedulers it names, for the SU edges of the view.
type NetworkProcess struct {
	ID         string   `json:"id"`
	Name       string   `json:"name,omitempty"`
	Schedulers []string `json:"schedulers"`
}

// networkReply is GET /api/network.
type networkReply struct {
	Available bool          `json:"available"`
	Self      string        `json:"self,omitempty"`
	Nodes     []NetworkNode `json:"nodes"`
	// Links are connections [a, b] with a < b, each reported by at least one end.
	Links [][2]string `json:"links"`
	// Processes are the newest processes this node holds, then the newest each SU of the
	// directory schedules (from its explorer).
	Processes []NetworkProcess `json:"processes"`
	UpdatedMs int64            `json:"updated_ms"`
	// Truncated is set when the directory held more nodes than were asked.
	Truncated bool `json:"truncated,omitempty"`
	// remote are the processes the directory's SUs named, merged into Processes per request.
	remote []NetworkProcess
}

func (e *Explorer) getNetwork(r *http.Request) (any, error) {
	procs, err := e.networkProcesses()
	if err != nil {
		return nil, err
	}
	if e.opts.Network == nil {
		return networkReply{Nodes: []NetworkNode{}, Links: [][2]string{}, Processes: procs, UpdatedMs: e.opts.Now().UnixMilli()}, nil
	}
	view, err := e.networkView(r.Context())
	if err != nil {
		return nil, err
	}
	out := *view
	// This node's processes, then those the directory's SUs named, once each.
	seen := map[string]bool{}
	for _, p := range procs {
		seen[p.ID] = true
	}
	for _, p := range view.remote {
		if len(procs) >= netMaxProcs+netProcsPerSU*netMaxAsked {
			break
		}
		if !seen[p.ID] {
			seen[p.ID] = true
			procs = append(procs, p)
		}
	}
	out.Processes = procs
	return out, nil
}

// networkView is the cached view, rebuilt when older than netTTL. Requests that arrive while
// it is rebuilt wait for that one build.
func (e *Explorer) networkView(ctx context.Context) (*networkReply, error) {
	c := &e.net
	c.mu.Lock()
	defer c.mu.Unlock()
	now := e.opts.Now()
	if c.last != nil && now.Sub(c.at) < netTTL {
		return c.last, nil
	}
	v := e.buildNetwork(ctx)
	if ctx.Err() != nil {
		// A view cut short by the client is not kept for others.
		return nil, ctx.Err()
	}
	c.last, c.at = v, now
	c.latest.Store(v)
	return v, nil
}

func (e *Explorer) buildNetwork(ctx context.Context) *networkReply {
	nw := e.opts.Network
	self := nw.Self()
	peers := nw.Nodes()
	sort.Slice(peers, func(i, j int) bool {
		// This node first, then the connected ones, so that the asked ones are the nearest.
		a, b := peers[i], peers[j]
		if (a.PeerID == self) != (b.PeerID == self) {
			return a.PeerID == self
		}
		if a.Connected != b.Connected {
			return a.Connected
		}
		return a.PeerID < b.PeerID
	})
	out := &networkReply{Available: true, Self: self, Nodes: make([]NetworkNode, len(peers)), Links: [][2]string{}, UpdatedMs: e.opts.Now().UnixMilli()}
	conns := make([][]string, len(peers))
	procs := make([][]NetworkProcess, len(peers))
	sem := make(chan struct{}, netParallel)
	var wg sync.WaitGroup
	for i, p := range peers {
		if p.Roles == nil {
			p.Roles = []string{}
		}
		out.Nodes[i] = NetworkNode{Peer: p, Self: p.PeerID == self}
		if i >= netMaxAsked {
			out.Truncated = true
			continue
		}
		if p.PeerID != self && p.URL == "" {
			out.Nodes[i].Error = "its record names no URL"
			continue
		}
		wg.Go(func() {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			defer func() { <-sem }()
			actx, cancel := context.WithTimeout(ctx, netAskTimeout)
			defer cancel()
			c, err := nw.Connections(actx, p)
			if err != nil {
				out.Nodes[i].Error = clip(err.Error(), netMaxNodeErrs)
				return
			}
			out.Nodes[i].Asked = true
			conns[i] = c
			if p.Scheduler != "" && p.PeerID != self && e.opts.HTTPClient != nil {
				// A node that runs no explorer, or an older one, simply adds none.
				procs[i], _ = e.remoteProcesses(actx, p)
			}
		})
	}
	wg.Wait()
	known := map[string]bool{}
	for _, n := range out.Nodes {
		known[n.PeerID] = true
	}
	seen := map[[2]string]bool{}
	for i, cs := range conns {
		a := out.Nodes[i].PeerID
		for _, b := range cs {
			if b == a || !known[b] {
				continue
			}
			l := [2]string{min(a, b), max(a, b)}
			if !seen[l] && len(out.Links) < netMaxLinks {
				seen[l] = true
				out.Links = append(out.Links, l)
			}
		}
	}
	slices.SortFunc(out.Links, func(x, y [2]string) int {
		return cmp.Or(cmp.Compare(x[0], y[0]), cmp.Compare(x[1], y[1]))
	})
	for _, ps := range procs {
		out.remote = append(out.remote, ps...)
	}
	return out
}

// remoteProcesses asks SU node p for the newest processes it schedules.
func (e *Explorer) remoteProcesses(ctx context.Context, p Peer) ([]NetworkProcess, error) {
	u, err := url.Parse(strings.TrimRight(p.URL, "/") + "/explorer/api/processes")
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("its URL %q is not an http(s) URL", clip(p.URL, 128))
	}
	u.RawQuery = url.Values{"limit": {strconv.Itoa(netProcsPerSU)}, "scheduler": {p.Scheduler}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := e.opts.HTTPClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s answered %s", u.Path, resp.Status)
	}
	var reply processesReply
	if err := json.NewDecoder(io.LimitReader(resp.Body, netMaxReplyBytes)).Decode(&reply); err != nil {
		return nil, err
	}
	var out []NetworkProcess
	for _, ps := range reply.Processes[:min(len(reply.Processes), netProcsPerSU)] {
		if !isID(ps.ID) || !slices.Contains(ps.Schedulers, p.Scheduler) {
			continue // a node answers for its own processes only
		}
		out = append(out, NetworkProcess{ID: ps.ID, Name: clip(ps.Name, 64), Schedulers: ps.Schedulers[:min(len(ps.Schedulers), 16)]})
	}
	return out, nil
}

// networkProcesses are the newest processes this node holds, with their schedulers.
func (e *Explorer) networkProcesses() ([]NetworkProcess, error) {
	refs, err := e.opts.Store.QueryItems(store.ItemQuery{
		Tags:       []store.TagFilter{{Name: "Type", Values: []string{"Process"}}},
		Descending: true,
		Limit:      netMaxProcs,
	})
	if err != nil && !errors.Is(err, store.ErrQueryTooBroad) {
		return nil, err
	}
	out := []NetworkProcess{}
	for _, ref := range refs {
		it, err := e.loadItem(ref.ID)
		if err != nil {
			return nil, err
		}
		if it != nil {
			out = append(out, NetworkProcess{ID: ref.ID, Name: tagOf(it, "Name"), Schedulers: schedulersOf(it)})
		}
	}
	return out, nil
}
