package node

import (
	"net/http"
	"strings"
	"testing"

	"github.com/aonode/aonode/dataitem"
)

// TestTagsMustBeUTF8: an item whose tags are not UTF-8 text is refused at every intake (MU,
// SU, gateway upload); one that reached the store another way keeps such tags out of the
// gateway's response headers.
func TestTagsMustBeUTF8(t *testing.T) {
	n := startNode(t, testConfig(t))
	c := newClient(t, n.URL(), seedSigner(2))
	pid := c.spawn(strings.Repeat("M", 43), n.SU().Address(), "Name", "p")
	bad := c.sign(dataitem.Fields{Target: mustID(t, pid), Data: []byte(" "), Tags: tags(
		"Data-Protocol", "ao", "Variant", "ao.TN.1", "Type", "Message", "Action", "Eval", "Note", "caf\xe9")})
	for _, path := range []string{"/mu", "/su", "/tx"} {
		if r := c.do("POST", path, "application/octet-stream", bad.Raw()); r.code != 400 || !contains(r.body, "UTF-8") {
			t.Errorf("POST %s of a non-UTF-8 tag: %d %s", path, r.code, r.body)
		}
	}
	// Stored some other way (as a peer's fetch would): left out of the headers.
	b := n.Store().NewBatch()
	b.PutItem(bad.ID(), bad.Raw())
	if err := n.Store().Commit(t.Context(), b); err != nil {
		t.Fatal(err)
	}
	r := c.do("GET", "/"+bad.ID(), "", nil)
	if r.code != http.StatusOK || r.hdr.Get("Action") != "Eval" || r.hdr.Get("Note") != "" {
		t.Fatalf("GET /{id}: %d, Action %q, Note %q", r.code, r.hdr.Get("Action"), r.hdr.Get("Note"))
	}
}
