package mu

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
)

// taskKind names the one step a task performs.
type taskKind uint8

const (
	// kindSend POSTs Item to the SU of Process (a Message's target, or a Process itself).
	kindSend taskKind = iota + 1
	// kindAssign asks the SU of Process to assign Message to it.
	kindAssign
	// kindResult pulls the result of Message (falling back to Alt) in Process and cranks its
	// outbox.
	kindResult
)

func (k taskKind) String() string {
	switch k {
	case kindSend:
		return "send"
	case kindAssign:
		return "assign"
	case kindResult:
		return "result"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// task is one durable unit of crank work. Its key is derived from where it came from (the
// parent task's key and its position in the parent's outbox), so queueing the same work twice
// lands on the same key.
type task struct {
	Kind    taskKind `json:"k"`
	Process string   `json:"p"`
	// send
	Item    []byte   `json:"i,omitempty"`
	Follow  bool     `json:"f,omitempty"` // pull the result of a sent Message (false: a cast)
	Boot    bool     `json:"b,omitempty"` // pull the boot result of a sent Process
	Notice  []byte   `json:"n,omitempty"` // Spawned notice to deliver once the Process is in
	Assigns []string `json:"as,omitempty"`
	// assign, result
	Message   string   `json:"m,omitempty"`
	Alt       string   `json:"alt,omitempty"`
	Exclude   []string `json:"x,omitempty"`
	BaseLayer bool     `json:"bl,omitempty"`

	PushedFor string `json:"pf,omitempty"`
	Created   int64  `json:"c"` // unix ms, also the queue order after a restart
	Seq       uint64 `json:"s"` // tie-break of Created

	// Dead-letter fields, set only on a dead task.
	Attempts  int    `json:"a,omitempty"`
	LastError string `json:"e,omitempty"`
}

func (t *task) encode() ([]byte, error) { return json.Marshal(t) }

func decodeTask(b []byte) (*task, error) {
	var t task
	if err := json.Unmarshal(b, &t); err != nil {
		return nil, fmt.Errorf("mu: corrupt task: %w", err)
	}
	if t.Kind < kindSend || t.Kind > kindResult || t.Process == "" {
		return nil, fmt.Errorf("mu: corrupt task: kind %d, process %q", t.Kind, t.Process)
	}
	return &t, nil
}

// keyLen is the length of a task key: a truncated SHA-256, unique with overwhelming odds.
const keyLen = 20

type taskKey [keyLen]byte

// deriveKey hashes a domain label and parts, each length-prefixed so that no two lists of
// parts collide.
func deriveKey(label string, parts ...[]byte) taskKey {
	h := sha256.New()
	h.Write([]byte(label))
	var n [8]byte
	for _, p := range parts {
		binary.BigEndian.PutUint64(n[:], uint64(len(p)))
		h.Write(n[:])
		h.Write(p)
	}
	var k taskKey
	copy(k[:], h.Sum(nil))
	return k
}

func childKey(parent []byte, kind byte, i, j int) taskKey {
	var idx [17]byte
	idx[0] = kind
	binary.BigEndian.PutUint64(idx[1:], uint64(i))
	binary.BigEndian.PutUint64(idx[9:], uint64(j))
	return deriveKey("child", parent, idx[:])
}

// queued is a task with its key, ready to be committed.
type queued struct {
	key taskKey
	t   *task
}
