package cu

import (
	"crypto/sha256"

	"github.com/aonode/aonode/dataitem"
	"github.com/aonode/aonode/dataitem/aoapi"
	"github.com/aonode/aonode/store"
)

// Attestation tag names; ATTESTATION.md documents the format.
const (
	TagResultSHA256 = aoapi.TagResultSHA256
	TagMemorySHA256 = aoapi.TagMemorySHA256
	TagMemoryRoot   = aoapi.TagMemoryRoot
)

// DefaultAttestationFormat is the format a CU signs unless configured otherwise: 2, whose
// memory hash (Memory-Root, cu/memhash) only re-hashes the pages a message changed.
const DefaultAttestationFormat = 2

// attestationOf is the attestation of one stored evaluation.
func (c *CU) attestationOf(rec store.EvalResult) aoapi.Attestation {
	rs := sha256.Sum256(rec.Result)
	return aoapi.Attestation{
		Format: c.cfg.AttestationFormat, Process: rec.Process, Slot: rec.Nonce, Message: rec.MessageID,
		Cron: rec.Cron, CronSeq: rec.Seq, Timestamp: rec.Timestamp, BlockHeight: rec.BlockHeight,
		HashChain: rec.HashChain, ResultSHA256: rs[:], Memory: rec.MemorySHA256,
	}
}

// attest signs the attestation item of one stored evaluation. Its fields are all derived
// from the evaluation, so re-evaluating a message yields the same attestation (with a
// deterministic signer such as ed25519).
func (c *CU) attest(rec store.EvalResult) ([]byte, error) {
	f, err := aoapi.AttestationFields(c.attestationOf(rec))
	if err != nil {
		return nil, err
	}
	it, err := dataitem.Sign(c.cfg.Signer, f)
	if err != nil {
		return nil, err
	}
	return it.Raw(), nil
}
