package su

import (
	"strings"
	"testing"

	"github.com/aonode/aonode/dataitem"
)

// pushers is a PusherTrust listing trusted addresses.
type pushers map[string]bool

func (p pushers) TrustedPusher(addr string) bool { return p[addr] }

// as signs with s instead of the environment's client.
func (e *testEnv) as(s dataitem.Signer, sign func() *dataitem.Item) *dataitem.Item {
	prev := e.client
	e.client = s
	defer func() { e.client = prev }()
	return sign()
}

func tag(name, value string) dataitem.Tag { return dataitem.Tag{Name: name, Value: value} }

// TestFromProcessTrust: From-Process and From-Module say which process sent a message; only
// an MU pushing an outbox sets them. The SU takes them from this node's key, a trusted
// pusher, or a key the target process names in its Authority tags, and from no one else.
func TestFromProcessTrust(t *testing.T) {
	pusher := testSigner(5)
	e := newTestEnv(t, func(o *Options) { o.Pushers = pushers{AddressOfOwner(pusher.Owner()): true} })
	stranger := e.client
	strangerAddr := AddressOfOwner(stranger.Owner())
	p := e.process()
	e.post("/", p.Raw(), 200)
	q := e.process(tag("Authority", "someone-else, "+strangerAddr))
	e.post("/", q.Raw(), 200)
	victim := strings.Repeat("V", 43)

	for _, name := range []string{"From-Process", "From-Module", "from-process"} {
		m := e.message(p.ID(), []byte("forged"), tag(name, victim))
		if _, body := e.post("/", m.Raw(), 400); !strings.Contains(body, name) || !strings.Contains(body, "not trusted") {
			t.Errorf("%s from a stranger: %s", name, body)
		}
	}
	// The node's own key (its MU's pushes), and a trusted pusher's.
	e.post("/", e.as(testSigner(1), func() *dataitem.Item { return e.message(p.ID(), []byte("own"), tag("From-Process", victim)) }).Raw(), 200)
	e.post("/", e.as(pusher, func() *dataitem.Item { return e.message(p.ID(), []byte("mu"), tag("From-Process", victim)) }).Raw(), 200)
	// A key the target names as an Authority.
	held := e.message(q.ID(), []byte("authority"), tag("From-Process", victim))
	e.post("/", held.Raw(), 200)

	// A Process item's own Authority tags do not vouch for it.
	spawn := e.process(tag("From-Process", victim), tag("Authority", strangerAddr))
	e.post("/", spawn.Raw(), 400)
	e.post("/", e.as(pusher, func() *dataitem.Item { return e.process(tag("From-Process", victim)) }).Raw(), 200)

	// Assigning a held item follows the same rule for the process it is assigned to.
	if _, body := e.post("/?process-id="+p.ID()+"&assign="+held.ID(), nil, 400); !strings.Contains(body, "not trusted") {
		t.Errorf("assigning a stranger's From-Process item: %s", body)
	}
	q2 := e.process(tag("Authority", strangerAddr))
	e.post("/", q2.Raw(), 200)
	e.post("/?process-id="+q2.ID()+"&assign="+held.ID(), nil, 200)
	// Items without the tags are anyone's to send.
	e.post("/", e.message(p.ID(), []byte("plain")).Raw(), 200)
}
