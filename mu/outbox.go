package mu

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/aonode/aonode/dataitem"
)

// errDrop marks an outbox entry the reference MU would not deliver.
var errDrop = errors.New("mu: outbox entry dropped")

func dropf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errDrop, fmt.Sprintf(format, args...))
}

// outTag accepts a tag value of any JSON scalar: modules emit strings, but a number or a
// boolean is carried as its JSON text rather than losing the message.
type outTag struct {
	Name  string
	Value string
}

func (t *outTag) UnmarshalJSON(b []byte) error {
	var raw struct {
		Name  *string         `json:"name"`
		Value json.RawMessage `json:"value"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	if raw.Name == nil {
		return errors.New("tag without a name")
	}
	t.Name = *raw.Name
	v, err := scalarText(raw.Value)
	if err != nil {
		return fmt.Errorf("tag %q: %w", t.Name, err)
	}
	t.Value = v
	return nil
}

func scalarText(v json.RawMessage) (string, error) {
	if len(v) == 0 || string(v) == "null" {
		return "", errors.New("missing value")
	}
	var s string
	if json.Unmarshal(v, &s) == nil {
		return s, nil
	}
	if v[0] == '{' || v[0] == '[' {
		return "", errors.New("value is not a scalar")
	}
	return string(v), nil
}

type outMessage struct {
	Target *string         `json:"Target"`
	Anchor *string         `json:"Anchor"`
	Data   json.RawMessage `json:"Data"`
	Tags   *[]outTag       `json:"Tags"`
}

type outAssignment struct {
	Processes []string `json:"Processes"`
	Message   string   `json:"Message"`
	BaseLayer bool     `json:"BaseLayer"`
	Exclude   []string `json:"Exclude"`
}

// itemData is the data of a built item: the outbox Data as text, or " " when it is absent
// or empty (the reference signs `Data || " "`). Structured Data is carried as its JSON.
func itemData(d json.RawMessage) []byte {
	if len(d) == 0 || string(d) == "null" {
		return []byte(" ")
	}
	var s string
	if json.Unmarshal(d, &s) == nil {
		if s == "" {
			return []byte(" ")
		}
		return []byte(s)
	}
	return append([]byte(nil), d...)
}

func toTags(in []outTag) []dataitem.Tag {
	out := make([]dataitem.Tag, 0, len(in)+6)
	for _, t := range in {
		out = append(out, dataitem.Tag{Name: t.Name, Value: t.Value})
	}
	return out
}

func without(tags []dataitem.Tag, names ...string) []dataitem.Tag {
	out := tags[:0:0]
	for _, t := range tags {
		drop := false
		for _, n := range names {
			if t.Name == n {
				drop = true
				break
			}
		}
		if !drop {
			out = append(out, t)
		}
	}
	return out
}

func firstTag(tags []dataitem.Tag, name string) (string, bool) {
	for _, t := range tags {
		if t.Name == name {
			return t.Value, true
		}
	}
	return "", false
}

// anchorBytes turns a module's Anchor into ANS-104's fixed 32 bytes; aos emits a 32-character
// zero-padded counter. Anything else cannot be signed into an item.
func anchorBytes(a string) ([]byte, error) {
	if len(a) != 32 {
		return nil, dropf("anchor of %d bytes (must be 32)", len(a))
	}
	return []byte(a), nil
}

// pushed is one outbox Message turned into an item.
type pushed struct {
	item    *dataitem.Item
	target  string
	assigns []string // processes named by its Assignments tag
	cast    bool
}

// buildMessage turns an outbox Message of process from into an item signed by s, with the
// reference's tags (§3.3): the outbox tags minus Data-Protocol, Type, From-Process,
// From-Module and Assignments, then Data-Protocol, Type, From-Process, From-Module and,
// when known, Pushed-For.
func buildMessage(s dataitem.Signer, raw json.RawMessage, from Process, pushedFor string, maxItem int64) (*pushed, error) {
	var m outMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, dropf("malformed message: %v", err)
	}
	if m.Target == nil || m.Anchor == nil || m.Tags == nil {
		return nil, dropf("message lacks Target, Anchor or Tags")
	}
	target, err := dataitem.DecodeID(*m.Target)
	if err != nil {
		return nil, dropf("target %q is not an id", truncate(*m.Target, 64))
	}
	anchor, err := anchorBytes(*m.Anchor)
	if err != nil {
		return nil, err
	}
	in := toTags(*m.Tags)
	p := &pushed{target: *m.Target}
	if v, ok := firstTag(in, "Assignments"); ok {
		if p.assigns, err = parseAssignmentsTag(v); err != nil {
			return nil, err
		}
	}
	if v, ok := firstTag(in, "Cast"); ok && strings.EqualFold(v, "true") {
		p.cast = true
	}
	tags := without(in, "Data-Protocol", "Type", "From-Process", "From-Module", "Assignments")
	tags = append(tags,
		dataitem.Tag{Name: "Data-Protocol", Value: "ao"},
		dataitem.Tag{Name: "Type", Value: "Message"},
		dataitem.Tag{Name: "From-Process", Value: from.ID},
		dataitem.Tag{Name: "From-Module", Value: from.Module},
	)
	if pushedFor != "" {
		tags = append(tags, dataitem.Tag{Name: "Pushed-For", Value: pushedFor})
	}
	p.item, err = sign(s, dataitem.Fields{Target: target[:], Anchor: anchor, Tags: tags, Data: itemData(m.Data)}, maxItem)
	if err != nil {
		return nil, err
	}
	return p, nil
}

// parseAssignmentsTag reads the process ids of an Assignments tag: a JSON array of ids, or
// ids separated by commas.
func parseAssignmentsTag(v string) ([]string, error) {
	var ids []string
	if err := json.Unmarshal([]byte(v), &ids); err != nil {
		ids = nil
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				ids = append(ids, p)
			}
		}
	}
	for _, id := range ids {
		if _, err := dataitem.DecodeID(id); err != nil {
			return nil, dropf("Assignments tag names %q, not a process id", truncate(id, 64))
		}
	}
	return ids, nil
}

// spawned is one outbox Spawn turned into a Process item and the notice to its parent.
type spawned struct {
	process *dataitem.Item
	notice  *dataitem.Item
}

// buildSpawn turns an outbox Spawn of parent into a Process item signed by s (§3.3): the spawn
// tags minus Data-Protocol, Type and Variant, then Data-Protocol, Type=Process, Variant,
// From-Process and Pushed-For; Scheduler defaults to the parent's; every From-Module is the
// parent's module. It also builds the Action=Spawned notice to the parent.
func buildSpawn(s dataitem.Signer, raw json.RawMessage, parent Process, pushedFor string, maxItem int64) (*spawned, error) {
	var m outMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, dropf("malformed spawn: %v", err)
	}
	var in []dataitem.Tag
	if m.Tags != nil {
		in = toTags(*m.Tags)
	}
	if _, ok := firstTag(in, "Module"); !ok {
		return nil, dropf("spawn has no Module tag")
	}
	variant := "ao.TN.1"
	if v, _ := firstTag(in, "Variant"); v == "ao.N.1" {
		variant = v
	}
	tags := without(in, "Data-Protocol", "Type", "Variant")
	tags = append(tags,
		dataitem.Tag{Name: "Data-Protocol", Value: "ao"},
		dataitem.Tag{Name: "Type", Value: "Process"},
		dataitem.Tag{Name: "Variant", Value: variant},
		dataitem.Tag{Name: "From-Process", Value: parent.ID},
	)
	if pushedFor != "" {
		tags = append(tags, dataitem.Tag{Name: "Pushed-For", Value: pushedFor})
	}
	if _, ok := firstTag(tags, "Scheduler"); !ok {
		if parent.Scheduler == "" {
			return nil, dropf("spawn has no Scheduler and parent %s names none", parent.ID)
		}
		if len(parent.Schedulers) > 1 {
			// A child of a process of a scheduler set is sequenced by the same set.
			for _, s := range parent.Schedulers {
				tags = append(tags, dataitem.Tag{Name: "Scheduler", Value: s})
			}
		} else {
			tags = append(tags, dataitem.Tag{Name: "Scheduler", Value: parent.Scheduler})
		}
	}
	for i := range tags {
		if tags[i].Name == "From-Module" {
			tags[i].Value = parent.Module
		}
	}
	f := dataitem.Fields{Tags: tags, Data: itemData(m.Data)}
	// The reference signs spawns without an anchor; with a deterministic key two identical
	// spawns would then be one item, so the module's anchor (a unique counter in aos) is kept.
	if m.Anchor != nil {
		if a, err := anchorBytes(*m.Anchor); err == nil {
			f.Anchor = a
		}
	}
	proc, err := sign(s, f, maxItem)
	if err != nil {
		return nil, err
	}
	notice, err := buildSpawned(s, in, parent.ID, proc.ID(), maxItem)
	if err != nil {
		return nil, err
	}
	return &spawned{process: proc, notice: notice}, nil
}

// buildSpawned is the "spawn success" message (§3.3): the spawn tags minus Data-Protocol,
// Variant and Type, then Data-Protocol, Type=Message, Process=<child>, Action=Spawned and the
// spawn's Variant; target = the parent, data " ".
func buildSpawned(s dataitem.Signer, spawnTags []dataitem.Tag, parentID, childID string, maxItem int64) (*dataitem.Item, error) {
	target, err := dataitem.DecodeID(parentID)
	if err != nil {
		return nil, dropf("parent %q is not an id", parentID)
	}
	variant := "ao.TN.1"
	if v, ok := firstTag(spawnTags, "Variant"); ok {
		variant = v
	}
	tags := without(append([]dataitem.Tag(nil), spawnTags...), "Data-Protocol", "Variant", "Type")
	tags = append(tags,
		dataitem.Tag{Name: "Data-Protocol", Value: "ao"},
		dataitem.Tag{Name: "Type", Value: "Message"},
		dataitem.Tag{Name: "Process", Value: childID},
		dataitem.Tag{Name: "Action", Value: "Spawned"},
		dataitem.Tag{Name: "Variant", Value: variant},
	)
	return sign(s, dataitem.Fields{Target: target[:], Tags: tags, Data: []byte(" ")}, maxItem)
}

// parseAssignment reads an outbox Assignment {Processes, Message, BaseLayer?, Exclude?}.
func parseAssignment(raw json.RawMessage) (outAssignment, error) {
	var a outAssignment
	if err := json.Unmarshal(raw, &a); err != nil {
		return a, dropf("malformed assignment: %v", err)
	}
	if _, err := dataitem.DecodeID(a.Message); err != nil {
		return a, dropf("assignment of %q, not an id", truncate(a.Message, 64))
	}
	for _, p := range a.Processes {
		if _, err := dataitem.DecodeID(p); err != nil {
			return a, dropf("assignment to %q, not a process id", truncate(p, 64))
		}
	}
	for _, e := range a.Exclude {
		if e == "" || strings.Contains(e, ",") {
			return a, dropf("assignment excludes %q", truncate(e, 64))
		}
	}
	return a, nil
}

// sign builds and signs an item; a module output the ANS-104 limits reject is dropped.
func sign(s dataitem.Signer, f dataitem.Fields, maxItem int64) (*dataitem.Item, error) {
	it, err := dataitem.Sign(s, f)
	if err != nil {
		if dataitem.ErrorClass(err) != "" {
			return nil, dropf("cannot build item: %v", err)
		}
		return nil, fmt.Errorf("mu: signing: %w", err)
	}
	if int64(len(it.Raw())) > maxItem {
		return nil, dropf("item of %d bytes exceeds %d", len(it.Raw()), maxItem)
	}
	return it, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
