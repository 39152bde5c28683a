package cu

import (
	"context"
	"strconv"
	"strings"

	"github.com/aonode/aonode/dataitem/aoapi"
)

// Tag is a name/value pair as the SU and the module see it; its one definition is the wire's.
type Tag = aoapi.Tag

// Owner is an SU owner object: the address and the public key, both base64url.
type Owner = aoapi.Owner

// ProcessDef is a process as its SU describes it (GET /processes/{pid}).
type ProcessDef struct {
	ID          string
	Owner       Owner
	Tags        []Tag
	Data        *string // nil when the SU has no UTF-8 data
	Signature   string
	Anchor      string
	Timestamp   int64  // ms
	BlockHeight uint64 // of the process's block
}

// Scheduled is one slot of a process's schedule: the assignment and the message it assigns.
type Scheduled struct {
	Process      string
	AssignmentID string
	MessageID    string // for the nonce-0 slot of an AOP-6 process: the process id
	Epoch        uint64
	Nonce        uint64
	Timestamp    int64
	BlockHeight  uint64
	HashChain    string
	Exclude      []string
	// Signer is the address of the assignment's signer, derived from the owner key the
	// source serves ("" when it serves none); it must be a scheduler of the process.
	Signer string
	// Message is nil for a pure assignment of an item the SU does not hold; the CU then
	// loads it from the gateway.
	Message *SourceMessage
}

// SourceMessage is the assigned item as the SU serves it.
type SourceMessage struct {
	ID        string
	Owner     Owner
	Tags      []Tag
	Data      *string
	Signature string
	Anchor    string
	Target    string
}

// Source yields the schedule of processes. The SU HTTP client implements it; a peer-to-peer
// source can feed the same evaluator.
type Source interface {
	// Process returns the process definition. Unknown process: an error wrapping ErrNotFound.
	Process(ctx context.Context, pid string) (ProcessDef, error)
	// Scheduled calls fn for the slots of pid with nonce > after (after < 0: from the start,
	// including the process's own slot 0 when it has one) in nonce order, until the schedule
	// known to the source is exhausted or fn returns false.
	Scheduled(ctx context.Context, pid string, after int64, fn func(Scheduled) bool) error
	// Slot returns the slot that assigned message msgID in pid (ErrNotFound if none).
	Slot(ctx context.Context, pid, msgID string) (Scheduled, error)
	// Latest returns the latest slot of pid (ErrNotFound if none).
	Latest(ctx context.Context, pid string) (Scheduled, error)
	// Timestamp returns the source's clock (ms) and block height.
	Timestamp(ctx context.Context, pid string) (int64, uint64, error)
}

func tagValue(tags []Tag, name string) (string, bool) { return aoapi.TagValue(tags, name) }

// parseIntPrefix parses the leading decimal digits of s the way JavaScript's parseInt does for
// the non-negative numbers the protocol uses (a 12-digit zero-padded height included).
func parseIntPrefix(s string) (uint64, bool) {
	s = strings.TrimSpace(s)
	end := 0
	for end < len(s) && s[end] >= '0' && s[end] <= '9' {
		end++
	}
	if end == 0 {
		return 0, false
	}
	v, err := strconv.ParseUint(s[:end], 10, 64)
	return v, err == nil
}

// scheduledFromTags fills the numeric assignment fields from the assignment's tags.
func scheduledFromTags(s *Scheduled, tags []Tag) error {
	p, ok := tagValue(tags, "Process")
	if !ok || p == "" {
		return errorf(ErrInvalidDefinition, "assignment %s has no Process tag", s.AssignmentID)
	}
	s.Process = p
	nonce, ok := tagValue(tags, "Nonce")
	if s.Nonce, ok = parseIntPrefixOK(nonce, ok); !ok {
		return errorf(ErrInvalidDefinition, "assignment %s has no valid Nonce", s.AssignmentID)
	}
	ts, ok := tagValue(tags, "Timestamp")
	tsv, ok := parseIntPrefixOK(ts, ok)
	if !ok || tsv > 1<<53 {
		return errorf(ErrInvalidDefinition, "assignment %s has no valid Timestamp", s.AssignmentID)
	}
	s.Timestamp = int64(tsv)
	bh, ok := tagValue(tags, "Block-Height")
	if s.BlockHeight, ok = parseIntPrefixOK(bh, ok); !ok {
		return errorf(ErrInvalidDefinition, "assignment %s has no valid Block-Height", s.AssignmentID)
	}
	if ep, ok := tagValue(tags, "Epoch"); ok {
		s.Epoch, _ = parseIntPrefix(ep)
	}
	s.HashChain, _ = tagValue(tags, "Hash-Chain")
	if m, ok := tagValue(tags, "Message"); ok {
		s.MessageID = m
	}
	for _, t := range tags {
		if t.Name == "Exclude" {
			s.Exclude = append(s.Exclude, t.Value)
		}
	}
	return nil
}

func parseIntPrefixOK(s string, present bool) (uint64, bool) {
	if !present {
		return 0, false
	}
	return parseIntPrefix(s)
}
