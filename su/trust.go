package su

import (
	"errors"
	"strings"

	"github.com/aonode/aonode/dataitem"
	"github.com/aonode/aonode/store"
)

// ErrUntrustedPush: an item carries From-Process or From-Module but its signer may not set
// them for the target process.
var ErrUntrustedPush = errors.New("su: From-Process from an untrusted signer")

// PusherTrust tells whether a signer (by wallet address) is an MU whose pushes this SU
// accepts: the node wires it to its configured MUs and to the p2p node records that announce
// the mu role.
type PusherTrust interface {
	TrustedPusher(address string) bool
}

// Tags only an MU sets, when it pushes a process's outbox message or spawn: they say which
// process (and module) sent it. A process reads From-Process as the sender (msg.From), so
// whoever may set it may speak as any process.
var pushTags = []string{"From-Process", "From-Module"}

// pushTag returns the first From-Process or From-Module tag of it (any case).
func pushTag(it *dataitem.Item) (string, bool) {
	for _, t := range it.Tags {
		for _, name := range pushTags {
			if strings.EqualFold(t.Name, name) {
				return t.Name, true
			}
		}
	}
	return "", false
}

// checkPusher applies the rule of su/README.md "Who may set From-Process": an item carrying
// From-Process or From-Module is taken for process pid only from this SU's own key (its
// node's MU), a trusted pusher (another node's MU), or a key pid names in an Authority tag.
// A Process item's own Authority tags do not count: they are the spawner's claim.
func (s *SU) checkPusher(it *dataitem.Item, pid string) error {
	name, ok := pushTag(it)
	if !ok {
		return nil
	}
	signer := it.Address()
	if signer == s.address || (s.opts.Pushers != nil && s.opts.Pushers.TrustedPusher(signer)) {
		return nil
	}
	if pid != it.ID() {
		if p, err := s.loadItem(pid); err == nil && hasAuthority(p, signer) {
			return nil
		} else if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
	}
	return refuse(ErrUntrustedPush, "%s is set by an MU pushing a process's outbox: signer %s is not trusted to set it for process %s (not this node's MU, a known MU, or an Authority of the process)",
		name, signer, pid)
}

// hasAuthority reports whether process item p names addr in an Authority tag (a value may
// list several, comma-separated, as aos reads them).
func hasAuthority(p *dataitem.Item, addr string) bool {
	for _, t := range p.Tags {
		if t.Name != "Authority" {
			continue
		}
		for _, v := range strings.Split(t.Value, ",") {
			if strings.TrimSpace(v) == addr {
				return true
			}
		}
	}
	return false
}
