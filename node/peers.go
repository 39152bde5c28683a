package node

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"

	"github.com/libp2p/go-libp2p/core/peer"
)

// PeerInfo is one entry of GET /peers.
type PeerInfo struct {
	PeerID    string   `json:"peerId"`
	Addrs     []string `json:"addrs,omitempty"`
	Roles     []string `json:"roles,omitempty"`
	URL       string   `json:"url,omitempty"`
	Scheduler string   `json:"scheduler,omitempty"`
	Connected bool     `json:"connected"`
}

// PeersReply is the body of GET /peers: the node itself and the peers it knows, from its
// directory and its open connections.
type PeersReply struct {
	Self  PeerInfo   `json:"self"`
	Peers []PeerInfo `json:"peers"`
}

func (n *Node) peers(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	if n.net == nil {
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(`{"error":"this node runs no p2p host"}` + "\n"))
		return
	}
	_ = json.NewEncoder(w).Encode(n.net.peersReply())
}

func (nw *network) peersReply() PeersReply {
	h := nw.host
	self := h.ID()
	connected := map[peer.ID]bool{}
	for _, p := range h.Libp2p().Network().Peers() {
		connected[p] = true
	}
	reply := PeersReply{Peers: []PeerInfo{}}
	seen := map[peer.ID]bool{}
	for _, r := range h.Directory().Peers() {
		info := PeerInfo{PeerID: r.PeerID.String(), Roles: r.Roles, URL: r.URL, Scheduler: r.Scheduler, Connected: connected[r.PeerID]}
		for _, a := range r.ListenAddrs {
			info.Addrs = append(info.Addrs, a.String())
		}
		if r.PeerID == self {
			info.Connected = true
			reply.Self = info
			continue
		}
		seen[r.PeerID] = true
		reply.Peers = append(reply.Peers, info)
	}
	if reply.Self.PeerID == "" {
		reply.Self = PeerInfo{PeerID: self.String(), Connected: true}
		for _, a := range h.Addrs() {
			reply.Self.Addrs = append(reply.Self.Addrs, a.String())
		}
	}
	var rest []PeerInfo
	for p := range connected {
		if !seen[p] && p != self {
			rest = append(rest, PeerInfo{PeerID: p.String(), Connected: true})
		}
	}
	slices.SortFunc(rest, func(a, b PeerInfo) int { return strings.Compare(a.PeerID, b.PeerID) })
	reply.Peers = append(reply.Peers, rest...)
	return reply
}
