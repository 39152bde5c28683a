package cu

import (
	"bytes"
	"encoding/json"
	"strconv"

	"github.com/aonode/aonode/cu/module"
)

// servedResult is the result object of GET /result and POST /dry-run (ao-protocol.md §2.2),
// keys in the reference's order; values are the module's own JSON.
type servedResult struct {
	Messages    json.RawMessage `json:"Messages"`
	Assignments json.RawMessage `json:"Assignments"`
	Spawns      json.RawMessage `json:"Spawns"`
	Output      json.RawMessage `json:"Output,omitempty"`
	GasUsed     uint64          `json:"GasUsed"`
	Error       json.RawMessage `json:"Error,omitempty"`
}

// resultNode is an edge node of GET /results and /cron: the result without GasUsed.
type resultNode struct {
	Messages    json.RawMessage `json:"Messages"`
	Assignments json.RawMessage `json:"Assignments"`
	Spawns      json.RawMessage `json:"Spawns"`
	Output      json.RawMessage `json:"Output,omitempty"`
	Error       json.RawMessage `json:"Error,omitempty"`
}

var emptyArray = json.RawMessage("[]")

func orEmpty(v json.RawMessage) json.RawMessage {
	v = bytes.TrimSpace(v)
	if len(v) == 0 || bytes.Equal(v, []byte("null")) {
		return emptyArray
	}
	return v
}

// normalizeOutput turns a numeric Output into a string, as the reference does.
func normalizeOutput(v json.RawMessage) json.RawMessage {
	v = bytes.TrimSpace(v)
	if len(v) == 0 || bytes.Equal(v, []byte("null")) {
		return nil
	}
	if c := v[0]; c == '-' || (c >= '0' && c <= '9') {
		f, err := strconv.ParseFloat(string(v), 64)
		if err == nil {
			return jsString(strconv.FormatFloat(f, 'g', -1, 64))
		}
	}
	return v
}

// encodeResult builds the exact bytes served for r; attestations hash these bytes.
func encodeResult(r module.Result) ([]byte, error) {
	s := servedResult{
		Messages:    orEmpty(r.Messages),
		Assignments: orEmpty(r.Assignments),
		Spawns:      orEmpty(r.Spawns),
		Output:      normalizeOutput(r.Output),
		GasUsed:     r.GasUsed,
	}
	if isErrorValue(r.Error) {
		s.Error = bytes.TrimSpace(r.Error)
	}
	return marshalJS(s)
}

// nodeOf re-encodes a served result as a /results node.
func nodeOf(served []byte) (json.RawMessage, error) {
	var s servedResult
	if err := json.Unmarshal(served, &s); err != nil {
		return nil, err
	}
	return marshalJS(resultNode{Messages: s.Messages, Assignments: s.Assignments, Spawns: s.Spawns, Output: s.Output, Error: s.Error})
}
