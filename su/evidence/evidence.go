// Package evidence is equivocation evidence: two valid assignments of one process and one nonce,
// with different ids, both signed by members of the process's scheduler set. A scheduler set
// that works as designed signs exactly one assignment per slot, so such a pair proves that a
// member (or the whole group, in a split brain) broke the protocol, and anyone holding the
// Process item can check the proof without trusting whoever found it.
//
// The package holds the pair, verifies it against the Process item and codes it as the one
// wire shape, aoapi.Evidence. It does no I/O and imports only dataitem and aoapi, so that p2p
// (gossip), the CU (catch-up), the node (store and HTTP) and the command line (offline
// verification) share one definition of what counts as evidence.
package evidence

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/aonode/aonode/dataitem"
	"github.com/aonode/aonode/dataitem/aoapi"
)

// Bounds on what Parse reads. An assignment is a few hundred bytes of tags and a signature;
// the Process item may carry its data, which the SU accepts up to 10 MiB.
const (
	MaxAssignmentBytes = 64 << 10
	MaxProcessBytes    = 10 << 20
	// MaxJSONBytes bounds a whole aoapi.Evidence: the items in base64 and the field names.
	MaxJSONBytes = (MaxProcessBytes+2*MaxAssignmentBytes)/3*4 + 4<<10
)

// ErrInvalid reports evidence that proves nothing: malformed, not a conflicting pair, a bad
// signature, or a signer outside the process's scheduler set.
var ErrInvalid = errors.New("evidence: invalid")

// ErrNoProcess reports evidence checked without the Process item that names the set.
var ErrNoProcess = errors.New("evidence: the Process item is needed to verify it")

// Evidence is a verified conflicting pair: both assignment signatures hold, both name Process
// and Nonce, and their ids differ. Whether the signers are schedulers of the process is
// checked by Verify, against the Process item.
type Evidence struct {
	process string
	nonce   uint64
	a, b    *dataitem.Item // a.ID() < b.ID()
	pitem   *dataitem.Item // the Process item, nil when not carried
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// slotOf reads the process and nonce an assignment item names. A repeated Process, Nonce or
// Type tag is refused: evidence must mean the same to every reader, whichever tag it reads.
func slotOf(a *dataitem.Item) (pid string, nonce uint64, err error) {
	seen := map[string]string{}
	for _, t := range a.Tags {
		switch t.Name {
		case "Process", "Nonce", "Type":
			if _, dup := seen[t.Name]; dup {
				return "", 0, invalid("assignment %s repeats its %s tag", a.ID(), t.Name)
			}
			seen[t.Name] = t.Value
		}
	}
	if ty, ok := seen["Type"]; ok && ty != "Assignment" {
		return "", 0, invalid("item %s is of Type %q, not an Assignment", a.ID(), ty)
	}
	pid = seen["Process"]
	if _, err := dataitem.DecodeID(pid); err != nil {
		return "", 0, invalid("assignment %s names no valid Process", a.ID())
	}
	n := seen["Nonce"]
	if n == "" || len(n) > 20 || (len(n) > 1 && n[0] == '0') {
		return "", 0, invalid("assignment %s has no canonical Nonce", a.ID())
	}
	nonce, perr := strconv.ParseUint(n, 10, 64)
	if perr != nil {
		return "", 0, invalid("assignment %s has no canonical Nonce", a.ID())
	}
	return pid, nonce, nil
}

// New makes evidence of two assignment items: both signatures must verify, both must name the
// same process and nonce, and their ids must differ. The order of x and y does not matter.
func New(x, y *dataitem.Item) (*Evidence, error) {
	if x == nil || y == nil {
		return nil, invalid("two assignments are needed")
	}
	if x.ID() == y.ID() {
		return nil, invalid("the two assignments are the same item %s", x.ID())
	}
	for _, it := range []*dataitem.Item{x, y} {
		if err := it.Verify(); err != nil {
			return nil, invalid("assignment %s: %v", it.ID(), err)
		}
	}
	px, nx, err := slotOf(x)
	if err != nil {
		return nil, err
	}
	py, ny, err := slotOf(y)
	if err != nil {
		return nil, err
	}
	if px != py || nx != ny {
		return nil, invalid("assignments of different slots: %s nonce %d and %s nonce %d", px, nx, py, ny)
	}
	if x.ID() > y.ID() {
		x, y = y, x
	}
	return &Evidence{process: px, nonce: nx, a: x, b: y}, nil
}

// WithProcess returns e carrying the Process item, so that its encoding verifies offline.
func (e *Evidence) WithProcess(process *dataitem.Item) *Evidence {
	cp := *e
	cp.pitem = process
	return &cp
}

// Process is the id of the process whose slot was signed twice.
func (e *Evidence) Process() string { return e.process }

// Nonce is the slot signed twice.
func (e *Evidence) Nonce() uint64 { return e.nonce }

// Assignments are the two conflicting assignment items, in ascending order of id.
func (e *Evidence) Assignments() [2]*dataitem.Item { return [2]*dataitem.Item{e.a, e.b} }

// ProcessItem is the carried Process item, nil when none was carried.
func (e *Evidence) ProcessItem() *dataitem.Item { return e.pitem }

// Signers are the addresses that signed the two assignments (equal when one scheduler signed
// both).
func (e *Evidence) Signers() [2]string { return [2]string{e.a.Address(), e.b.Address()} }

// Key identifies the pair whatever else is carried: SHA-256 of both assignment ids in order.
func (e *Evidence) Key() [32]byte {
	return sha256.Sum256([]byte(e.a.ID() + "," + e.b.ID()))
}

// Verify checks e against process, or against the Process item e carries when process is nil:
// the item's signature verifies, its id is e's process, it is of Type Process, and both
// assignments are signed by members of the set its Scheduler tags name (aoapi.Schedulers).
func (e *Evidence) Verify(process *dataitem.Item) error {
	if process == nil {
		process = e.pitem
	}
	if process == nil {
		return ErrNoProcess
	}
	if process.ID() != e.process {
		return invalid("the process item is %s, the assignments are of %s", process.ID(), e.process)
	}
	if err := process.Verify(); err != nil {
		return invalid("process item %s: %v", process.ID(), err)
	}
	if ty, _ := process.Tag("Type"); ty != "Process" {
		return invalid("item %s is of Type %q, not a Process", process.ID(), ty)
	}
	return e.VerifySet(aoapi.Schedulers(process.Tags))
}

// VerifySet checks that both signers belong to schedulers, the process's set (sorted or not).
// Callers that hold the set already (a validator answering from its cache) use it in place
// of Verify.
func (e *Evidence) VerifySet(schedulers []string) error {
	if len(schedulers) == 0 {
		return invalid("process %s names no scheduler", e.process)
	}
	for _, it := range []*dataitem.Item{e.a, e.b} {
		if !slices.Contains(schedulers, it.Address()) {
			return invalid("assignment %s is signed by %s, not a scheduler of %s", it.ID(), it.Address(), e.process)
		}
	}
	return nil
}

// API is e in its wire shape.
func (e *Evidence) API() aoapi.Evidence {
	out := aoapi.Evidence{
		Process:     e.process,
		Nonce:       e.nonce,
		Assignments: [2]string{b64(e.a.Raw()), b64(e.b.Raw())},
	}
	if e.pitem != nil {
		out.ProcessItem = b64(e.pitem.Raw())
	}
	return out
}

// Marshal is the JSON of e's wire shape.
func (e *Evidence) Marshal() []byte {
	out, err := json.Marshal(e.API())
	if err != nil {
		// A struct of strings and a number always encodes.
		panic(err)
	}
	return out
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func unb64(s string, max int, what string) ([]byte, error) {
	if base64.RawURLEncoding.DecodedLen(len(s)) > max {
		return nil, invalid("%s of more than %d bytes", what, max)
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, invalid("%s is not base64url: %v", what, err)
	}
	return b, nil
}

// Parse reads evidence from its JSON (aoapi.Evidence), untrusted: sizes are bounded, both
// assignments are parsed and their signatures verified, and the process and nonce fields
// must be those the assignments name. A carried Process item is parsed, not yet verified:
// Verify does that.
func Parse(data []byte) (*Evidence, error) {
	if len(data) > MaxJSONBytes {
		return nil, invalid("%d bytes, the limit is %d", len(data), MaxJSONBytes)
	}
	var w aoapi.Evidence
	if err := json.Unmarshal(data, &w); err != nil {
		return nil, invalid("not evidence JSON: %v", err)
	}
	return FromAPI(w)
}

// FromAPI is Parse for an already decoded wire shape.
func FromAPI(w aoapi.Evidence) (*Evidence, error) {
	var items [2]*dataitem.Item
	for i, s := range w.Assignments {
		raw, err := unb64(s, MaxAssignmentBytes, fmt.Sprintf("assignment %d", i+1))
		if err != nil {
			return nil, err
		}
		if items[i], err = dataitem.Parse(raw); err != nil {
			return nil, invalid("assignment %d: %v", i+1, err)
		}
	}
	e, err := New(items[0], items[1])
	if err != nil {
		return nil, err
	}
	if w.Process != e.process || w.Nonce != e.nonce {
		return nil, invalid("says process %q nonce %d, the assignments are of %s nonce %d", w.Process, w.Nonce, e.process, e.nonce)
	}
	if w.ProcessItem != "" {
		raw, err := unb64(w.ProcessItem, MaxProcessBytes, "process item")
		if err != nil {
			return nil, err
		}
		if e.pitem, err = dataitem.Parse(raw); err != nil {
			return nil, invalid("process item: %v", err)
		}
	}
	return e, nil
}
