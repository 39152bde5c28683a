package aoapi

import "github.com/aonode/aonode/dataitem"

// The shapes of the reference SU (ao-protocol §1.2).

// Tag is a data item tag as the SU and CU JSON carry it.
type Tag struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Owner is an item's signer: its address and its public key, both base64url.
type Owner struct {
	Address string `json:"address"`
	Key     string `json:"key"`
}

// Message is an item as the SU serves it (the reference's MessageInner): data is lossy UTF-8,
// target "" when there is none.
type Message struct {
	ID        string  `json:"id"`
	Owner     Owner   `json:"owner"`
	Data      *string `json:"data"`
	Tags      []Tag   `json:"tags"`
	Signature string  `json:"signature"`
	Anchor    *string `json:"anchor"`
	Target    string  `json:"target"`
}

// Assignment is an assignment item as the SU serves it (AssignmentInner): a Message without
// data, target always "".
type Assignment struct {
	ID        string  `json:"id"`
	Owner     Owner   `json:"owner"`
	Tags      []Tag   `json:"tags"`
	Signature string  `json:"signature"`
	Anchor    *string `json:"anchor"`
	Target    string  `json:"target"`
}

// MessageNode is one slot: the message (nil for a pure assignment of an item that did not
// arrive with it) and its assignment. GET /{id}, /{pid}/latest and the list's nodes.
type MessageNode struct {
	Message    *Message    `json:"message"`
	Assignment *Assignment `json:"assignment"`
}

// Process is GET /processes/{pid} (ProcessInner): block is the 12-digit Block-Height, data null
// when not UTF-8.
type Process struct {
	ProcessID string  `json:"process_id"`
	Block     string  `json:"block"`
	Owner     Owner   `json:"owner"`
	Tags      []Tag   `json:"tags"`
	Timestamp int64   `json:"timestamp"`
	Data      *string `json:"data"`
	Anchor    *string `json:"anchor"`
	Signature string  `json:"signature"`
	Target    string  `json:"target"`
}

// PageInfo says whether a list has more.
type PageInfo struct {
	HasNextPage bool `json:"has_next_page"`
}

// Edge is one node of a list; the cursor is its Timestamp, or its Nonce in nonce mode.
type Edge struct {
	Node   MessageNode `json:"node"`
	Cursor string      `json:"cursor"`
}

// Page is GET /{pid}?process-id={pid}: a process's slots in ascending order.
type Page struct {
	PageInfo PageInfo `json:"page_info"`
	Edges    []Edge   `json:"edges"`
}

// Info is the SU's GET /: its wallet address and clock (ms, as a string).
type Info struct {
	Address   string `json:"address"`
	Timestamp string `json:"timestamp"`
}

// Timestamp is GET /timestamp: the clock (ms) and the 12-digit block height, both strings.
type Timestamp struct {
	Timestamp   string `json:"timestamp"`
	BlockHeight string `json:"block_height"`
}

// Receipt is the SU's answer to a POST: the item's id (the assignment's for an assign) and the
// time (ms, a number).
type Receipt struct {
	ID        string `json:"id"`
	Timestamp int64  `json:"timestamp"`
	// Warning (aonode only) is set when a Process was accepted with a caveat: a scheduler set
	// of two stops taking messages when either member is down.
	Warning string `json:"warning,omitempty"`
}

// ErrorBody is the body of every refusal: {"error": "..."}.
type ErrorBody struct {
	Error string `json:"error"`
}

// Assign asks an SU to give an item it already holds a slot in Process (POST /?process-id=&assign=).
type Assign struct {
	Process   string
	Message   string
	Exclude   []string
	BaseLayer bool
}

// TagValue is the value of the first tag called name.
func TagValue(tags []Tag, name string) (string, bool) {
	for _, t := range tags {
		if t.Name == name {
			return t.Value, true
		}
	}
	return "", false
}

// TagsOf are an item's tags in the wire shape, unchanged (su serves them lossy-decoded).
func TagsOf(tags []dataitem.Tag) []Tag {
	out := make([]Tag, len(tags))
	for i, t := range tags {
		out[i] = Tag(t)
	}
	return out
}

// Consensus is GET /su/consensus/{process-id}: the Raft group that orders a process with
// several schedulers, as one member sees it. Leader is "" while none is known; CommitIndex is
// the group's Raft commit index, LastNonce the process's last committed slot on this member.
type Consensus struct {
	Process     string   `json:"process"`
	Group       string   `json:"group"`
	Members     []string `json:"members"`
	Leader      string   `json:"leader"`
	Term        uint64   `json:"term"`
	CommitIndex uint64   `json:"commit_index"`
	LastNonce   uint64   `json:"last_nonce"`
	// Warning is set for a set that cannot survive the loss of any member (two).
	Warning string `json:"warning,omitempty"`
}
