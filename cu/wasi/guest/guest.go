// Package guest is the Go side of the wasm32-wasip1-aonode ABI (see ../ABI.md): a process
// registers one Handler in an init function and is built as a WASI reactor:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o process.wasm ./yourprocess
//
// The exports the ABI requires (aonode_alloc, aonode_handle) live in this package's wasip1
// build; on other platforms the package offers the types only, so process logic can be
// unit-tested natively.
package guest

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
)

// Tag is one name/value pair of a message, spelled as the reference CU spells it.
type Tag struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Int is a number field of the message. The reference CU sends JSON numbers; some clients
// send decimal strings, so both are accepted.
type Int int64

// UnmarshalJSON accepts a JSON number, a decimal string or null.
func (n *Int) UnmarshalJSON(b []byte) error {
	s := string(b)
	if s == "null" {
		return nil
	}
	if len(s) > 0 && s[0] == '"' {
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return fmt.Errorf("guest: %q is not an integer", s)
	}
	*n = Int(v)
	return nil
}

// Message is the message object the CU passes (ao-protocol §2.4).
type Message struct {
	ID          string `json:"Id"`
	Signature   string `json:"Signature,omitempty"`
	Data        string `json:"Data"`
	Owner       string `json:"Owner"`
	Target      string `json:"Target"`
	Anchor      string `json:"Anchor,omitempty"`
	From        string `json:"From"`
	ForwardedBy string `json:"Forwarded-By,omitempty"`
	Tags        []Tag  `json:"Tags"`
	Epoch       Int    `json:"Epoch"`
	Nonce       Int    `json:"Nonce"`
	Timestamp   Int    `json:"Timestamp"`
	BlockHeight Int    `json:"Block-Height"`
	HashChain   string `json:"Hash-Chain,omitempty"`
	Cron        bool   `json:"Cron"`
	ReadOnly    bool   `json:"Read-Only"`
}

// Tag returns the value of the first tag called name, and whether there is one.
func (m *Message) Tag(name string) (string, bool) {
	for _, t := range m.Tags {
		if t.Name == name {
			return t.Value, true
		}
	}
	return "", false
}

// Entity is the Process or Module part of Env.
type Entity struct {
	ID    string `json:"Id"`
	Owner string `json:"Owner"`
	Tags  []Tag  `json:"Tags"`
}

// Env is the environment object the CU passes with every message.
type Env struct {
	Process Entity `json:"Process"`
	Module  Entity `json:"Module"`
}

// OutMessage is a message the process sends (an outbox entry).
type OutMessage struct {
	Target string `json:"Target"`
	Anchor string `json:"Anchor,omitempty"`
	Data   string `json:"Data,omitempty"`
	Tags   []Tag  `json:"Tags"`
}

// Assignment asks the SU to assign an existing message to other processes.
type Assignment struct {
	Processes []string `json:"Processes"`
	Message   string   `json:"Message"`
}

// Result is what a Handler returns. Output may be any JSON value; a non-nil Error makes the
// host discard the message's effects on memory.
type Result struct {
	Output      any          `json:"Output,omitempty"`
	Messages    []OutMessage `json:"Messages"`
	Spawns      []OutMessage `json:"Spawns"`
	Assignments []Assignment `json:"Assignments"`
	Error       any          `json:"Error,omitempty"`
}

// Handler evaluates one message.
type Handler func(msg *Message, env *Env) Result

var handler Handler

// refs numbers the messages the process has sent, as aos does, so that every outbox message
// carries an Anchor: the MU drops messages without one, and ANS-104 anchors are exactly 32
// bytes. It lives in linear memory, so it survives snapshots and is reverted with them.
var refs uint64

// Handle registers h as the process. Call it from an init function: a reactor's main is
// never run.
func Handle(h Handler) {
	handler = h
}

// ErrNoHandler is reported when a message arrives before Handle was called.
var ErrNoHandler = errors.New("guest: no handler registered")

// Evaluate decodes msg and env, runs the registered handler and encodes its result. A panic
// in the handler becomes the result's Error, so a bug in one message does not abort the
// instance. It is what aonode_handle calls, exported for native tests.
func Evaluate(msgJSON, envJSON []byte) (out []byte) {
	defer func() {
		if p := recover(); p != nil {
			out = errorResult(fmt.Sprintf("panic: %v", p))
		}
	}()
	if handler == nil {
		return errorResult(ErrNoHandler.Error())
	}
	var msg Message
	if err := json.Unmarshal(msgJSON, &msg); err != nil {
		return errorResult("guest: decoding msg: " + err.Error())
	}
	var env Env
	if err := json.Unmarshal(envJSON, &env); err != nil {
		return errorResult("guest: decoding env: " + err.Error())
	}
	res := handler(&msg, &env)
	for i := range res.Messages {
		if res.Messages[i].Anchor == "" {
			refs++
			res.Messages[i].Anchor = fmt.Sprintf("%032d", refs)
		}
	}
	b, err := json.Marshal(res)
	if err != nil {
		return errorResult("guest: encoding result: " + err.Error())
	}
	return b
}

func errorResult(text string) []byte {
	b, _ := json.Marshal(struct{ Error string }{text}) // a string always marshals
	return b
}
