package p2p

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/aonode/aonode/dataitem"
	"github.com/aonode/aonode/dataitem/aoapi"
)

// Topic names.
const (
	TopicNodes         = "ao/1/nodes"
	processTopicPrefix = "ao/1/process/"
)

// ProcessTopic is the gossip topic of process pid.
func ProcessTopic(pid string) string { return processTopicPrefix + pid }

// Assignment tags read from gossiped assignments.
const (
	tagProcess   = "Process"
	tagNonce     = "Nonce"
	tagMessage   = "Message"
	tagTimestamp = "Timestamp"
	tagHashChain = "Hash-Chain"
	typeProcess  = "Process"
	typeAssign   = "Assignment"
)

// ErrInvalidAssignment reports a gossiped assignment that fails a check; the
// sender is penalised.
var ErrInvalidAssignment = errors.New("p2p: invalid gossiped assignment")

// ErrUnknownProcess reports an assignment of a process whose schedulers the
// node does not know; it is ignored, not penalised.
var ErrUnknownProcess = errors.New("p2p: schedulers of the process unknown")

// ErrStaleAssignment reports an assignment too old for gossip; ignored.
var ErrStaleAssignment = errors.New("p2p: assignment too old for gossip")

// ProcessSchedulers tells the validator which scheduler addresses a process
// names (its Scheduler tags). ok is false when the node does not know the
// process; such pushes are ignored. The node answers from the process
// definition it holds; the nonce-0 push carries the process itself and needs
// no look-up.
type ProcessSchedulers interface {
	ProcessSchedulers(pid string) (addresses []string, ok bool)
}

// Assignment is one verified push of a process topic.
type Assignment struct {
	Process    string
	Nonce      uint64
	Timestamp  int64
	Assignment *dataitem.Item
	// MessageID is the id of the scheduled item; for the process's own
	// nonce-0 slot it is the process id.
	MessageID string
	// Message is the scheduled item, nil when the push did not carry it (too
	// big for gossip, or an assignment of an existing item): fetch it by id.
	Message *dataitem.Item
	// ReceivedFrom is the neighbour that forwarded the push.
	ReceivedFrom peer.ID

	schedulers []string // the process's set the signer was checked against
}

// EncodeAssignment is the gossip payload of a slot: the ANS-104 bundle
// [assignment, message], or [assignment] when message is nil.
func EncodeAssignment(assignment, message *dataitem.Item) []byte {
	if message == nil {
		return dataitem.BuildBundle([]*dataitem.Item{assignment})
	}
	return dataitem.BuildBundle([]*dataitem.Item{assignment, message})
}

// processChecker holds what validating a process push needs.
type processChecker struct {
	schedulers ProcessSchedulers
	maxAge     time.Duration
	maxSkew    time.Duration
}

// check verifies a push on the topic of pid at time now: both items verify
// (ParseBundle verifies every item), the assignment's tags are consistent with
// the topic and the carried message, and its signer is a scheduler of the
// process. Errors wrap ErrInvalidAssignment (reject), ErrUnknownProcess or
// ErrStaleAssignment (ignore).
func (c processChecker) check(pid string, data []byte, now time.Time) (*Assignment, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidAssignment, fmt.Sprintf(format, args...))
	}
	items, err := dataitem.ParseBundle(data)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidAssignment, err)
	}
	if len(items) != 1 && len(items) != 2 {
		return nil, bad("bundle of %d items, want 1 or 2", len(items))
	}
	a := &Assignment{Assignment: items[0]}
	if len(items) == 2 {
		a.Message = items[1]
	}
	tags := map[string]string{}
	for _, t := range a.Assignment.Tags {
		switch t.Name {
		case tagProcess, tagNonce, tagMessage, tagTimestamp, tagHashChain, TagType:
			if _, dup := tags[t.Name]; dup {
				return nil, bad("assignment tag %s repeated", t.Name)
			}
			tags[t.Name] = t.Value
		}
	}
	if ty, ok := tags[TagType]; ok && ty != typeAssign {
		return nil, bad("assignment of Type %q", ty)
	}
	if tags[tagProcess] != pid {
		return nil, bad("assignment of process %q on the topic of %s", tags[tagProcess], pid)
	}
	a.Process = pid
	nonce, err := parseDecimal(tags[tagNonce])
	if err != nil {
		return nil, bad("nonce %q", tags[tagNonce])
	}
	a.Nonce = nonce
	ts, err := parseDecimal(tags[tagTimestamp])
	if err != nil || ts > 1<<53 {
		return nil, bad("timestamp %q", tags[tagTimestamp])
	}
	a.Timestamp = int64(ts)
	if _, err := dataitem.DecodeID(tags[tagHashChain]); err != nil {
		return nil, bad("hash chain %q", tags[tagHashChain])
	}
	if mid, ok := tags[tagMessage]; ok {
		if _, err := dataitem.DecodeID(mid); err != nil {
			return nil, bad("message id %q", mid)
		}
		a.MessageID = mid
	} else {
		// The process's own slot carries no Message tag (AOP-6).
		if nonce != 0 {
			return nil, bad("nonce %d without a Message tag", nonce)
		}
		a.MessageID = pid
	}
	if a.Message != nil && a.Message.ID() != a.MessageID {
		return nil, bad("carries item %s for message %s", a.Message.ID(), a.MessageID)
	}
	if a.MessageID == pid && a.Message == nil {
		return nil, bad("the process's slot must carry the process")
	}
	var schedulers []string
	if a.MessageID == pid {
		// The topic name is the process id, so the carried item, whose id
		// checked out, is the process definition itself.
		if ty, _ := a.Message.Tag(TagType); ty != typeProcess {
			return nil, bad("process item of Type %q", ty)
		}
		schedulers = aoapi.Schedulers(a.Message.Tags)
	} else {
		var ok bool
		schedulers, ok = c.schedulers.ProcessSchedulers(pid)
		if !ok {
			return nil, fmt.Errorf("%w: %s", ErrUnknownProcess, pid)
		}
	}
	if signer := a.Assignment.Address(); !slices.Contains(schedulers, signer) {
		return nil, bad("assignment signed by %s, not a scheduler of %s", signer, pid)
	}
	a.schedulers = schedulers
	at := time.UnixMilli(a.Timestamp)
	if at.After(now.Add(c.maxSkew)) {
		return nil, bad("timestamp %s in the future", at.Sub(now))
	}
	if now.Sub(at) > c.maxAge {
		return nil, fmt.Errorf("%w: nonce %d is %s old", ErrStaleAssignment, nonce, now.Sub(at))
	}
	return a, nil
}

func parseDecimal(s string) (uint64, error) {
	if s == "" || len(s) > 20 || (len(s) > 1 && s[0] == '0') || strings.IndexFunc(s, func(r rune) bool { return r < '0' || r > '9' }) >= 0 {
		return 0, errors.New("not a canonical decimal")
	}
	return strconv.ParseUint(s, 10, 64)
}

// Sequence tracks the next nonce a follower of a process expects, to turn
// pushes into "apply now", "already have it" or "pull this range first". It is
// a plain value, not safe for concurrent use.
type Sequence struct {
	next uint64
}

// NewSequence expects next as the first nonce (the slot after the last one
// applied; 0 for a new follower).
func NewSequence(next uint64) *Sequence { return &Sequence{next: next} }

// Next is the nonce expected next.
func (s *Sequence) Next() uint64 { return s.next }

// Verdict is what a follower does with a pushed nonce.
type Verdict int

const (
	// InOrder: apply the push now (then call Advance).
	InOrder Verdict = iota
	// Duplicate: the slot is already applied; drop the push. A push whose assignment
	// differs from the one this node saw or holds for that slot is not a duplicate: the
	// validator has already turned it into equivocation evidence (evidence.go) and never
	// delivers it.
	Duplicate
	// Gap: slots [Next(), nonce) are missing; pull them from an SU first.
	Gap
)

// Check classifies a pushed nonce.
func (s *Sequence) Check(nonce uint64) Verdict {
	switch {
	case nonce < s.next:
		return Duplicate
	case nonce == s.next:
		return InOrder
	}
	return Gap
}

// Advance records that nonce was applied; nonces must be applied in order.
func (s *Sequence) Advance(nonce uint64) error {
	if nonce != s.next {
		return fmt.Errorf("p2p: applied nonce %d, expected %d", nonce, s.next)
	}
	s.next++
	return nil
}
