package su

import (
	"slices"
	"strings"

	"github.com/aonode/aonode/dataitem"
	"github.com/aonode/aonode/dataitem/aoapi"
)

// Type tag values the SU schedules.
const (
	typeProcess = "Process"
	typeMessage = "Message"
)

// typeOf returns the item's Type tag; the reference also accepts the lower-case name.
func typeOf(it *dataitem.Item) (string, bool) {
	if v, ok := it.Tag("Type"); ok {
		return v, true
	}
	return it.Tag("type")
}

// Intake turns a verified Process or Message item into a scheduling request after the
// stateless checks of the reference write pipeline (ao-protocol §1.3 steps 2 and 6) and
// aonode's own (tags that are UTF-8 text): a Type tag of Process or Message, a Data-Protocol tag, no "+link" tag, Module and Scheduler tags on
// a Process. Unlike the reference, a Process whose scheduler set (aoapi.Schedulers) does not
// contain self (this SU's address) is refused: this SU would otherwise own a process nobody routes to it.
func Intake(it *dataitem.Item, self string) (Request, error) {
	if err := it.CheckTagsUTF8(); err != nil {
		// The JSON of the SU and the CUs' messages would show U+FFFD, not what was signed.
		return Request{}, refuse(ErrInvalidItem, "%v: tags must be UTF-8 text", err)
	}
	typ, ok := typeOf(it)
	if !ok {
		return Request{}, refuse(ErrInvalidItem, "Type tag not present")
	}
	var req Request
	switch typ {
	case typeProcess:
		req = Request{Process: it.ID(), Item: it}
	case typeMessage:
		if len(it.Target) == 0 {
			return Request{}, refuse(ErrInvalidItem, "Message has no target process")
		}
		req = Request{Process: dataitem.EncodeID(it.Target), Item: it}
	default:
		return Request{}, refuse(ErrInvalidItem, "Unsupported Type tag value")
	}
	if _, ok := it.Tag("Data-Protocol"); !ok {
		if _, ok := it.Tag("data-protocol"); !ok {
			return Request{}, refuse(ErrInvalidItem, "Data-Protocol tag not present")
		}
	}
	for _, t := range it.Tags {
		if strings.HasSuffix(t.Name, "+link") || strings.HasSuffix(t.Value, "+link") {
			return Request{}, refuse(ErrInvalidItem, "Tag names and values may not end in +link")
		}
	}
	if typ == typeProcess {
		if _, ok := it.Tag("Module"); !ok {
			return Request{}, refuse(ErrInvalidItem, "Process has no Module tag")
		}
		// One Scheduler tag per address, or one comma-separated list (as HyperBEAM writes
		// it): the same set every member derives (aoapi.Schedulers).
		named := aoapi.Schedulers(it.Tags)
		if len(named) == 0 {
			return Request{}, refuse(ErrInvalidItem, "Process has no Scheduler tag")
		}
		if len(named) > aoapi.MaxSchedulers {
			return Request{}, refuse(ErrInvalidItem, "Process names %d schedulers (max %d)", len(named), aoapi.MaxSchedulers)
		}
		if !slices.Contains(named, self) {
			return Request{}, refuse(ErrWrongScheduler, "Process %s is scheduled by %s, not by this SU (%s)",
				it.ID(), strings.Join(named, ", "), self)
		}
	}
	return req, nil
}
