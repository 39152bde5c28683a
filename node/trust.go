package node

import (
	"github.com/aonode/aonode/p2p"
)

// pusherTrust is the SU's su.PusherTrust: the MUs of other nodes whose pushes (items with
// From-Process or From-Module) it accepts. Those the operator lists (Config.TrustedMUs), and
// on a p2p node every node whose signed record announces the mu role: a record is signed by
// the node's wallet key, the key its MU signs pushes with. The node's own MU signs with the
// SU's key, which the SU trusts itself.
type pusherTrust struct {
	listed map[string]bool
	dir    *p2p.Directory // nil without p2p
}

func (n *Node) pusherTrust() pusherTrust {
	t := pusherTrust{listed: map[string]bool{}}
	for _, a := range n.cfg.TrustedMUs {
		t.listed[a] = true
	}
	if n.net != nil {
		t.dir = n.net.host.Directory()
	}
	return t
}

// TrustedPusher implements su.PusherTrust.
func (t pusherTrust) TrustedPusher(address string) bool {
	return t.listed[address] || (t.dir != nil && t.dir.AnnouncesRole(address, p2p.RoleMU))
}
