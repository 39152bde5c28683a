package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aonode/aonode/cu/memhash"
	"github.com/aonode/aonode/dataitem"
	"github.com/aonode/aonode/dataitem/aoapi"
	"github.com/aonode/aonode/node"
	"github.com/aonode/aonode/p2p"
)

// fakeAttestingCU serves one result and its attestation signed by s; peers is what its /peers lists.
func fakeAttestingCU(t *testing.T, s dataitem.Signer, pid, mid, result string, peers *[]node.PeerInfo) *httptest.Server {
	t.Helper()
	rs, ms := sha256.Sum256([]byte(result)), sha256.Sum256([]byte("mem"))
	f, err := aoapi.AttestationFields(aoapi.Attestation{Format: 2, Process: pid, Slot: 1, Message: mid, Timestamp: 1, ResultSHA256: rs[:], Memory: ms[:]})
	if err != nil {
		t.Fatal(err)
	}
	it, err := dataitem.Sign(s, f)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /cu/result/{id}", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte(result)) })
	mux.HandleFunc("GET /cu/attestation/{id}", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write(it.Raw()) })
	mux.HandleFunc("GET /peers", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(node.PeersReply{Peers: *peers})
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func TestAttestVerifyAndResultQuorum(t *testing.T) {
	_, s1 := writeKey(t)
	_, s2 := writeKey(t)
	_, s3 := writeKey(t)
	pid, mid := sign(t, s1, "p").ID(), sign(t, s1, "m").ID()
	var peers []node.PeerInfo
	a := fakeAttestingCU(t, s1, pid, mid, `{"Output":"honest"}`, &peers)
	b := fakeAttestingCU(t, s2, pid, mid, `{"Output":"honest"}`, &peers)
	c := fakeAttestingCU(t, s3, pid, mid, `{"Output":"forged"}`, &peers)
	for _, srv := range []*httptest.Server{a, b, c} {
		peers = append(peers, node.PeerInfo{Roles: []string{p2p.RoleCU}, URL: srv.URL})
	}
	run(t, "attest", "verify", "--process", pid, "--message", mid, "--node", a.URL, "--node", b.URL).want(t, 0, "")
	r := run(t, "attest", "verify", "--process", pid, "--message", mid, "--node", a.URL, "--node", b.URL, "--node", c.URL)
	r.want(t, 1, "")
	if !strings.Contains(r.stdout, "DISAGREEMENT") || !strings.Contains(r.stdout, "DISAGREES") {
		t.Fatal(r.stdout)
	}
	run(t, "attest", "verify", "--process", pid, "--message", mid).want(t, 2, "--node")

	r = run(t, "result", "--process", pid, "--message", mid, "--node", c.URL, "--quorum", "2")
	r.want(t, 0, "")
	if !strings.Contains(r.stdout, "honest") {
		t.Fatal(r.stdout)
	}
	run(t, "result", "--process", pid, "--message", mid, "--node", c.URL, "--quorum", "3").want(t, 1, "no result is attested by 3")

	mem := filepath.Join(t.TempDir(), "mem.bin")
	if err := os.WriteFile(mem, []byte("some memory"), 0o600); err != nil {
		t.Fatal(err)
	}
	root := memhash.Root([]byte("some memory"))
	r = run(t, "attest", "memroot", mem)
	r.want(t, 0, "")
	if !strings.Contains(r.stdout, hex.EncodeToString(root[:])) {
		t.Fatal(r.stdout)
	}
}
