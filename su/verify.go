package su

import (
	"errors"
	"fmt"

	"github.com/aonode/aonode/dataitem"
	"github.com/aonode/aonode/store"
)

// ErrBrokenSchedule reports a stored schedule that a CU would reject.
var ErrBrokenSchedule = errors.New("su: broken schedule")

// VerifySchedule reads the whole schedule of pid and checks it the way a CU does, plus what
// only the SU's store can show: nonces run 0..n-1 without a gap, nonce 0 is the process itself,
// every assignment item is stored, verifies and describes exactly its slot, the hash chain
// follows §1.5 from the seed, timestamps never decrease, and every scheduled item is held.
func VerifySchedule(db *store.DB, pid string) ([]store.Slot, error) {
	var slots []store.Slot
	if err := db.Slots(pid, 0, func(s store.Slot) bool { slots = append(slots, s); return true }); err != nil {
		return nil, err
	}
	var prev *store.Slot
	for i := range slots {
		s := slots[i]
		fail := func(format string, args ...any) error {
			return fmt.Errorf("%w: %s nonce %d: %s", ErrBrokenSchedule, pid, s.Nonce, fmt.Sprintf(format, args...))
		}
		if s.Nonce != uint64(i) || s.Process != pid {
			return nil, fail("found at position %d of process %s", i, s.Process)
		}
		var want string
		var err error
		if prev == nil {
			if s.MessageID != pid {
				return nil, fail("nonce 0 schedules %s, not the process", s.MessageID)
			}
			want, err = SeedHashChain(pid)
		} else {
			if s.Timestamp < prev.Timestamp {
				return nil, fail("timestamp %d before %d", s.Timestamp, prev.Timestamp)
			}
			want, err = NextHashChain(prev.AssignmentID, prev.HashChain)
		}
		if err != nil {
			return nil, fail("%v", err)
		}
		if s.HashChain != want {
			return nil, fail("hash chain %s, want %s", s.HashChain, want)
		}
		raw, err := db.Item(s.AssignmentID)
		if err != nil {
			return nil, fail("assignment %s: %v", s.AssignmentID, err)
		}
		a, err := dataitem.ParseVerified(raw)
		if err != nil {
			return nil, fail("assignment %s: %v", s.AssignmentID, err)
		}
		got, err := SlotFromAssignment(a)
		if err != nil {
			return nil, fail("%v", err)
		}
		if got != s {
			return nil, fail("assignment says %+v", got)
		}
		if ok, err := db.HasItem(s.MessageID); err != nil || !ok {
			return nil, fail("item %s not held (%v)", s.MessageID, err)
		}
		prev = &slots[i]
	}
	return slots, nil
}
