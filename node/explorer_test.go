package node

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aonode/aonode/node/explorer"
)

// noRedirect is a client that shows redirects instead of following them.
var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func TestExplorerIsMountedAndLinkedFromTheRoot(t *testing.T) {
	n := startNode(t, testConfig(t))
	req, _ := http.NewRequest("GET", n.URL()+"/", nil)
	req.Header.Set("Accept", "text/html,application/xhtml+xml")
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/explorer/" {
		t.Fatalf("a browser at /: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, err = http.Get(n.URL() + "/")
	if err != nil {
		t.Fatal(err)
	}
	var index map[string]string
	if err := json.NewDecoder(resp.Body).Decode(&index); err != nil || index["explorer"] != "/explorer/" {
		t.Fatalf("GET / for a client: %v %v", index, err)
	}
	resp.Body.Close()

	resp, err = noRedirect.Get(n.URL() + "/explorer")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMovedPermanently || resp.Header.Get("Location") != "/explorer/" {
		t.Fatalf("/explorer: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	code, body := get(t, n.URL()+"/explorer/")
	if code != 200 || !strings.Contains(body, `<script type="module" src="app.js">`) {
		t.Fatalf("/explorer/: %d %.200s", code, body)
	}
	var info struct {
		Version string   `json:"version"`
		Roles   []string `json:"roles"`
		Address string   `json:"address"`
		URL     string   `json:"url"`
		SU      string   `json:"su"`
	}
	code, body = get(t, n.URL()+"/explorer/api/node")
	if err := json.Unmarshal([]byte(body), &info); err != nil || code != 200 {
		t.Fatalf("/explorer/api/node: %d %s", code, body)
	}
	if info.Version != Version || !slices.Equal(info.Roles, AllRoles) || info.Address != n.SU().Address() || info.URL != n.URL() || info.SU != n.URL()+"/su" {
		t.Fatalf("node info %+v", info)
	}
	// The gateway's own routes are untouched.
	if code, _ := get(t, n.URL()+"/raw/"+strings.Repeat("A", 43)); code != http.StatusNotFound {
		t.Fatalf("/raw of an unknown id: %d", code)
	}
}

// The network view of two p2p nodes: each sees the other, and the link between them, from
// its own host and the other's GET /peers.
func TestExplorerNetworkOfTwoNodes(t *testing.T) {
	a := p2pNode(t, 1, []string{RoleSU, RoleCU, RoleMU, RoleGateway})
	b := p2pNode(t, 2, []string{RoleCU}, a)
	var view struct {
		Self  string `json:"self"`
		Nodes []struct {
			PeerID string   `json:"peer_id"`
			Roles  []string `json:"roles"`
			Asked  bool     `json:"asked"`
			Error  string   `json:"error"`
		} `json:"nodes"`
		Links [][2]string `json:"links"`
	}
	deadline := time.Now().Add(time.Minute)
	for {
		code, body := get(t, b.URL()+"/explorer/api/network")
		if code != 200 {
			t.Fatalf("network view: %d %s", code, body)
		}
		if err := json.Unmarshal([]byte(body), &view); err != nil {
			t.Fatal(err)
		}
		if len(view.Nodes) == 2 && len(view.Links) == 1 && view.Nodes[0].Asked && view.Nodes[1].Asked {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("b's view never showed both nodes and their link: %s", body)
		}
		time.Sleep(4 * time.Second) // the view is cached for 3 s
	}
	if view.Self != b.Host().ID().String() || view.Nodes[0].PeerID != view.Self {
		t.Fatalf("self %s, first node %s", view.Self, view.Nodes[0].PeerID)
	}
	if !slices.Equal(view.Nodes[1].Roles, []string{RoleSU, RoleCU, RoleMU}) {
		t.Fatalf("a's roles as b sees them: %v", view.Nodes[1].Roles)
	}
}

// Another node's GET /peers is read with bounds: the right node, a 200, a size cap.
func TestExplorerConnectionsOfAnotherNode(t *testing.T) {
	n := p2pNode(t, 3, []string{RoleCU, RoleSU})
	x := explorerNetwork{n: n, client: &http.Client{Timeout: 5 * time.Second}}
	reply := PeersReply{Self: PeerInfo{PeerID: "12D3KooWother"}, Peers: []PeerInfo{
		{PeerID: "12D3KooWa", Connected: true}, {PeerID: "12D3KooWb"}, {PeerID: "12D3KooWc", Connected: true},
	}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /peers", func(w http.ResponseWriter, r *http.Request) { _ = json.NewEncoder(w).Encode(reply) })
	mux.HandleFunc("GET /big/peers", func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"self":{"peerId":"12D3KooWother"},"peers":[{"peerId":"` + strings.Repeat("x", maxPeersReplyBytes) + `"}]}`))
	})
	mux.HandleFunc("GET /down/peers", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "no", http.StatusServiceUnavailable) })
	mux.HandleFunc("GET /moved/peers", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/peers", http.StatusFound) })
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	x.client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

	ctx := context.Background()
	got, err := x.Connections(ctx, explorer.Peer{PeerID: "12D3KooWother", URL: srv.URL})
	if err != nil || !slices.Equal(got, []string{"12D3KooWa", "12D3KooWc"}) {
		t.Fatalf("connections %v %v", got, err)
	}
	for _, c := range []struct{ peer, url, want string }{
		{"12D3KooWsomeoneelse", srv.URL, "not 12D3KooWsomeoneelse"},
		{"12D3KooWother", srv.URL + "/big", "cut at"},
		{"12D3KooWother", srv.URL + "/down", "503"},
		{"12D3KooWother", srv.URL + "/moved", "302"},
	} {
		if _, err := x.Connections(ctx, explorer.Peer{PeerID: c.peer, URL: c.url}); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s at %s: %v, want an error with %q", c.peer, c.url, err, c.want)
		}
	}
	self, err := x.Connections(ctx, explorer.Peer{PeerID: n.Host().ID().String()})
	if err != nil || len(self) != 0 {
		t.Fatalf("a lone node's own connections: %v %v", self, err)
	}
}
