package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	libp2pnet "github.com/libp2p/go-libp2p/core/network"

	"github.com/aonode/aonode/dataitem"
	"github.com/aonode/aonode/node/explorer"
)

// maxPeersReplyBytes bounds another node's GET /peers as the explorer reads it: a record is
// at most a few hundred bytes, and a directory of thousands of nodes fits.
const maxPeersReplyBytes = 4 << 20

// mountExplorer serves the explorer under /explorer and sends browsers asking for / to it.
func (n *Node) mountExplorer(mux *http.ServeMux, signer dataitem.Signer, started time.Time) error {
	var (
		nw     explorer.Network
		client *http.Client
	)
	if n.net != nil {
		client = &http.Client{
			Transport: n.network,
			// A node record names a URL; the explorer asks it for /peers and its process
			// list, and follows it nowhere else.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
		nw = explorerNetwork{n: n, client: client}
	}
	address := dataitem.OwnerAddress(signer.Owner())
	ex, err := explorer.New(explorer.Options{
		Store:      n.db,
		Node:       func() explorer.NodeInfo { return n.explorerInfo(address) },
		Started:    started,
		Network:    nw,
		HTTPClient: client,
		Registerer: n.registry,
		Logger:     n.log.With("component", "explorer"),
	})
	if err != nil {
		return fmt.Errorf("node: building the explorer: %w", err)
	}
	mux.Handle("GET /explorer", http.RedirectHandler("/explorer/", http.StatusMovedPermanently))
	mux.Handle("/explorer/", http.StripPrefix("/explorer", ex))
	mux.Handle("GET /{$}", explorer.Landing("/explorer"))
	return nil
}

// explorerInfo is what the explorer shows of this node.
func (n *Node) explorerInfo(address string) explorer.NodeInfo {
	info := explorer.NodeInfo{
		Version: Version,
		Build:   buildRevision(),
		Roles:   n.cfg.Roles,
		Address: address,
		URL:     n.urls.Node,
		SU:      n.urls.SU,
		CU:      n.urls.CU,
		MU:      n.urls.MU,
		Gateway: n.urls.Gateway,
	}
	if n.cfg.PublicURL != "" {
		info.URL = strings.TrimRight(n.cfg.PublicURL, "/")
	}
	if n.net != nil {
		h := n.net.host
		info.PeerID = h.ID().String()
		for _, a := range h.Addrs() {
			info.ListenAddrs = append(info.ListenAddrs, a.String())
		}
	}
	return info
}

// buildRevision is the VCS revision the binary was built from, "" when unknown.
func buildRevision() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	var rev, dirty string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = "+dirty"
			}
		}
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if rev == "" {
		return ""
	}
	return rev + dirty
}

// explorerNetwork is the explorer's view of the node's p2p side: the directory, and the
// connections of each node, this one's from its host and the others' from their GET /peers.
type explorerNetwork struct {
	n      *Node
	client *http.Client
}

func (x explorerNetwork) Self() string { return x.n.net.host.ID().String() }

func (x explorerNetwork) Nodes() []explorer.Peer {
	h := x.n.net.host
	net := h.Libp2p().Network()
	recs := h.Directory().Peers()
	out := make([]explorer.Peer, 0, len(recs))
	for _, r := range recs {
		p := explorer.Peer{
			PeerID:    r.PeerID.String(),
			Address:   r.Address,
			URL:       r.URL,
			Roles:     r.Roles,
			Scheduler: r.Scheduler,
			Version:   r.Version,
			Connected: r.PeerID == h.ID() || net.Connectedness(r.PeerID) == libp2pnet.Connected,
		}
		for _, a := range r.ListenAddrs {
			p.Addrs = append(p.Addrs, a.String())
		}
		out = append(out, p)
	}
	return out
}

func (x explorerNetwork) Connections(ctx context.Context, p explorer.Peer) ([]string, error) {
	h := x.n.net.host
	if p.PeerID == h.ID().String() {
		var out []string
		for _, id := range h.Libp2p().Network().Peers() {
			out = append(out, id.String())
		}
		return out, nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(p.URL, "/")+"/peers", nil)
	if err != nil {
		return nil, fmt.Errorf("its URL %q: %w", p.URL, err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := x.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /peers answered %s", resp.Status)
	}
	var reply PeersReply
	dec := json.NewDecoder(io.LimitReader(resp.Body, maxPeersReplyBytes))
	if err := dec.Decode(&reply); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("GET /peers: reply cut at %d bytes or truncated", maxPeersReplyBytes)
		}
		return nil, fmt.Errorf("GET /peers: %w", err)
	}
	if reply.Self.PeerID != p.PeerID {
		return nil, fmt.Errorf("the node at %s is %s, not %s", clipForError(p.URL, 128), clipForError(reply.Self.PeerID, 64), p.PeerID)
	}
	var out []string
	for _, q := range reply.Peers {
		if q.Connected {
			out = append(out, q.PeerID)
		}
	}
	return out, nil
}
