package aoapi

import "encoding/json"

// The shapes of the reference CU (ao-protocol §2) that callers read. The CU writes its
// results from the module's own JSON, keys in the reference's order (cu/result.go): those
// bytes are what its attestations hash, so it keeps them raw.

// Result is a CU result (§2.2). Outbox entries stay raw, so that one malformed entry is dropped
// alone instead of failing the whole result.
type Result struct {
	Messages    []json.RawMessage `json:"Messages"`
	Spawns      []json.RawMessage `json:"Spawns"`
	Assignments []json.RawMessage `json:"Assignments"`
}

// CronPage is one page of GET /cron/{pid} (camelCase, the CU's connection shape).
type CronPage struct {
	PageInfo struct {
		HasNextPage bool `json:"hasNextPage"`
	} `json:"pageInfo"`
	Edges []CronEdge `json:"edges"`
}

// CronEdge is one cron evaluation and its position.
type CronEdge struct {
	Cursor string `json:"cursor"`
	Node   Result `json:"node"`
}

// DryRun is the body of POST /dry-run?process-id=: the message to evaluate, in aoconnect's
// key order. Unknown keys are ignored.
type DryRun struct {
	ID          string          `json:"Id"`
	Owner       string          `json:"Owner"`
	Target      string          `json:"Target"`
	Data        json.RawMessage `json:"Data"`
	Tags        []Tag           `json:"Tags"`
	Anchor      string          `json:"Anchor"`
	Signature   string          `json:"Signature,omitempty"`
	From        string          `json:"From,omitempty"`
	Timestamp   *int64          `json:"Timestamp,omitempty"`
	BlockHeight *uint64         `json:"Block-Height,omitempty"`
}

// MUReceipt is the MU's 202 answer to a POSTed item or assignment.
type MUReceipt struct {
	ID      string `json:"id"`
	Message string `json:"message"`
}
