package mu

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// ErrNoQuorum: fewer than Config.ResultQuorum distinct CUs attest one result of a message
// yet. The task waits and tries again (it is never dead-lettered for it, and never cranks a
// result fewer CUs attest).
var ErrNoQuorum = errors.New("mu: no result quorum yet")

// AttestedResult is one CU's verified attestation of a message's result: its signer, the
// attested Result-SHA256 and, when the CU served it, the result body (which hashes to it).
// Attestations learnt by gossip come without a body: they count toward the quorum, and the
// body is taken from a CU of the same group that served it.
type AttestedResult struct {
	CU           string
	ResultSHA256 [32]byte
	Body         []byte
}

// Attesters finds the CUs' attestations of a message's result: the node asks the CUs of its
// directory and reads the attestations its own CU received by gossip. Each CU is listed at
// most once, its attestation verified.
type Attesters interface {
	Attested(ctx context.Context, pid, id string) ([]AttestedResult, error)
}

// DefaultQuorumWait is how long one crank step polls for a result quorum before the task is
// retried later.
const DefaultQuorumWait = 10 * time.Second

// quorumPoll is the pause between two looks for a quorum within one step.
const quorumPoll = 250 * time.Millisecond

// Quorum picks the result body at least k distinct CUs attest. It returns ErrNoQuorum
// when no result has k, or when the group that has them served no body.
func Quorum(results []AttestedResult, k int) ([]byte, [32]byte, error) {
	count := map[[32]byte]map[string]bool{}
	body := map[[32]byte][]byte{}
	for _, r := range results {
		if count[r.ResultSHA256] == nil {
			count[r.ResultSHA256] = map[string]bool{}
		}
		count[r.ResultSHA256][r.CU] = true
		if r.Body != nil && sha256.Sum256(r.Body) == r.ResultSHA256 {
			body[r.ResultSHA256] = r.Body
		}
	}
	var best [32]byte
	bestN := 0
	for h, cus := range count {
		if len(cus) > bestN {
			best, bestN = h, len(cus)
		}
	}
	if bestN < k {
		return nil, best, fmt.Errorf("%w: %d of %d CUs agree on one result (%d results)", ErrNoQuorum, bestN, k, len(count))
	}
	if body[best] == nil {
		return nil, best, fmt.Errorf("%w: no CU of the majority served the result body", ErrNoQuorum)
	}
	return body[best], best, nil
}

// quorumResult waits up to QuorumWait for ResultQuorum CUs to attest one result of the
// message (or of its assignment, alt) and returns that result.
func (m *MU) quorumResult(ctx context.Context, t *task) (*Result, error) {
	deadline := m.cfg.Clock.Now().Add(m.cfg.QuorumWait)
	for {
		var err error
		var body []byte
		for _, id := range []string{t.Message, t.Alt} {
			if id == "" {
				continue
			}
			var rs []AttestedResult
			actx, cancel := context.WithTimeout(ctx, m.cfg.QuorumWait)
			rs, err = m.cfg.Attesters.Attested(actx, t.Process, id)
			cancel()
			if err != nil {
				continue
			}
			if body, _, err = Quorum(rs, m.cfg.ResultQuorum); err == nil {
				break
			}
		}
		if err == nil {
			var res Result
			if jerr := json.Unmarshal(body, &res); jerr != nil {
				return nil, fmt.Errorf("%w: the attested result is not JSON: %v", ErrRefused, jerr)
			}
			return &res, nil
		}
		if !m.cfg.Clock.Now().Before(deadline) {
			m.met.quorumWaits.Inc()
			return nil, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-m.cfg.Clock.After(quorumPoll):
		}
	}
}
