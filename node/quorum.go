package node

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"sync"

	"github.com/aonode/aonode/dataitem/aoapi"
	"github.com/aonode/aonode/mu"
	"github.com/aonode/aonode/p2p"
)

// Bounds of one look for a result quorum: every CU of the directory is asked, a few at once.
const (
	maxQuorumCUs       = 64
	quorumConcurrency  = 8
	maxQuorumResultLen = 64 << 20
)

// nodeAttesters is the MU's Attesters: it asks every CU it knows (its own, the configured
// one, the directory's) for the result and attestation of a message, keeps those whose
// attestation verifies and names that process and message and whose body hashes to its
// Result-SHA256, and adds the attestations the node's own CU received by gossip.
type nodeAttesters struct{ n *Node }

// cuURLs are the base URLs of the CUs the node knows.
func (a nodeAttesters) cuURLs() []string {
	var urls []string
	if a.n.urls.CU != "" {
		urls = append(urls, a.n.urls.CU)
	}
	if a.n.net != nil {
		for _, r := range a.n.net.host.Directory().Peers() {
			if r.HasRole(p2p.RoleCU) && r.URL != "" {
				urls = append(urls, r.URL+"/cu")
			}
		}
	}
	slices.Sort(urls)
	urls = slices.Compact(urls)
	if len(urls) > maxQuorumCUs {
		urls = urls[:maxQuorumCUs]
	}
	return urls
}

// Attested implements mu.Attesters.
func (a nodeAttesters) Attested(ctx context.Context, pid, id string) ([]mu.AttestedResult, error) {
	api := &aoapi.Client{HTTP: a.n.client, MaxResponseBytes: maxQuorumResultLen}
	var (
		lock sync.Mutex
		out  []mu.AttestedResult
		wg   sync.WaitGroup
	)
	sem := make(chan struct{}, quorumConcurrency)
	for _, u := range a.cuURLs() {
		wg.Go(func() {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			defer func() { <-sem }()
			r, ok := fetchAttested(ctx, api.CU(u), pid, id)
			if ok {
				lock.Lock()
				out = append(out, r)
				lock.Unlock()
			}
		})
	}
	wg.Wait()
	if a.n.cu != nil {
		if ag, err := a.n.cu.Agreement(pid, -1, id); err == nil {
			for _, e := range ag.Attestations {
				h, err := hex.DecodeString(e.ResultSHA256)
				if err != nil || len(h) != 32 {
					continue
				}
				out = append(out, mu.AttestedResult{CU: e.CU, ResultSHA256: [32]byte(h)})
			}
		}
	}
	return out, nil
}

// fetchAttested reads one CU's result and attestation of message id and checks them.
func fetchAttested(ctx context.Context, c aoapi.CU, pid, id string) (mu.AttestedResult, bool) {
	body, err := c.ResultBytes(ctx, pid, id, true)
	if err != nil {
		return mu.AttestedResult{}, false
	}
	raw, err := c.Attestation(ctx, pid, id)
	if err != nil {
		return mu.AttestedResult{}, false
	}
	at, err := aoapi.ParseAttestation(raw)
	if err != nil || at.Process != pid || (at.Message != id && at.Message != "") {
		return mu.AttestedResult{}, false
	}
	sum := sha256.Sum256(body)
	if !bytes.Equal(sum[:], at.ResultSHA256) {
		return mu.AttestedResult{}, false
	}
	return mu.AttestedResult{CU: at.Signer, ResultSHA256: sum, Body: body}, true
}
