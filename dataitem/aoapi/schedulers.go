package aoapi

import (
	"slices"
	"strings"

	"github.com/aonode/aonode/dataitem"
)

// MaxSchedulers bounds the scheduler set a Process may name: every member is a Raft voter, and a
// group of more than a handful only slows agreement without adding safety anyone needs.
const MaxSchedulers = 9

// Schedulers is the set of scheduler addresses a Process names: every value of its Scheduler
// tags, where one value may also be a comma-separated list (as HyperBEAM writes it), trimmed,
// without empty entries, deduplicated and sorted, so that every node derives the same set from
// the same signed item whatever order its tags are in.
func Schedulers(tags []dataitem.Tag) []string {
	var set []string
	for _, t := range tags {
		if t.Name != "Scheduler" {
			continue
		}
		for _, v := range strings.Split(t.Value, ",") {
			if v = strings.TrimSpace(v); v != "" {
				set = append(set, v)
			}
		}
	}
	slices.Sort(set)
	return slices.Compact(set)
}
