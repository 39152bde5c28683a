package cu

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"

	"github.com/aonode/aonode/dataitem"
	"github.com/aonode/aonode/store"
)

// Attestation tag names; ATTESTATION.md documents the format.
const (
	TagResultSHA256 = "Result-SHA256"
	TagMemorySHA256 = "Memory-SHA256"
)

// attest signs the attestation item of one stored evaluation. Its fields are all derived
// from the evaluation, so re-evaluating a message yields the same attestation (with a
// deterministic signer such as ed25519).
func (c *CU) attest(rec store.EvalResult) ([]byte, error) {
	rs := sha256.Sum256(rec.Result)
	tags := []dataitem.Tag{
		{Name: "Data-Protocol", Value: "ao"},
		{Name: "Variant", Value: "ao.TN.1"},
		{Name: "Type", Value: "Attestation"},
		{Name: "Process", Value: rec.Process},
		{Name: "Slot", Value: strconv.FormatUint(rec.Nonce, 10)},
	}
	if rec.MessageID != "" {
		tags = append(tags, dataitem.Tag{Name: "Message", Value: rec.MessageID})
	}
	if rec.Cron != "" {
		tags = append(tags,
			dataitem.Tag{Name: "Cron", Value: rec.Cron},
			dataitem.Tag{Name: "Cron-Seq", Value: strconv.FormatUint(uint64(rec.Seq), 10)})
	}
	tags = append(tags,
		dataitem.Tag{Name: "Timestamp", Value: strconv.FormatInt(rec.Timestamp, 10)},
		dataitem.Tag{Name: "Block-Height", Value: strconv.FormatUint(rec.BlockHeight, 10)})
	if rec.HashChain != "" {
		tags = append(tags, dataitem.Tag{Name: "Hash-Chain", Value: rec.HashChain})
	}
	tags = append(tags,
		dataitem.Tag{Name: TagResultSHA256, Value: hex.EncodeToString(rs[:])},
		dataitem.Tag{Name: TagMemorySHA256, Value: hex.EncodeToString(rec.MemorySHA256)})
	f := dataitem.Fields{Tags: tags}
	if id, err := dataitem.DecodeID(rec.Process); err == nil {
		f.Target = id[:]
	}
	it, err := dataitem.Sign(c.cfg.Signer, f)
	if err != nil {
		return nil, err
	}
	return it.Raw(), nil
}
