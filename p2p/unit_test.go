package p2p

import (
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"github.com/libp2p/go-libp2p/core/crypto"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/aonode/aonode/dataitem"
)

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("default config: %v", err)
	}
	cases := map[string]func(c *Config){
		"no listen":        func(c *Config) { c.ListenAddrs = nil },
		"bad listen":       func(c *Config) { c.ListenAddrs = []string{"tcp:4001"} },
		"bootstrap no id":  func(c *Config) { c.Bootstrap = []string{"/ip4/127.0.0.1/tcp/4001"} },
		"public dht":       func(c *Config) { c.DHTProtocolPrefix = "/ipfs" },
		"dht mode":         func(c *Config) { c.DHTMode = "full" },
		"high over limit":  func(c *Config) { c.ConnHighWater = c.Resources.MaxConns },
		"low over high":    func(c *Config) { c.ConnLowWater = c.ConnHighWater + 1 },
		"tiny memory":      func(c *Config) { c.Resources.MemoryBytes = 1 << 20 },
		"ttl below period": func(c *Config) { c.Gossip.RecordTTL = c.Gossip.RecordInterval },
		"huge gossip":      func(c *Config) { c.Gossip.MaxMessageBytes = 64 << 20 },
		"fetch peers":      func(c *Config) { c.Fetch.MaxPeers = 0 },
		"mdns no name":     func(c *Config) { c.MDNS = true; c.MDNSService = "" },
	}
	for name, mutate := range cases {
		t.Run(name, func(t *testing.T) {
			c := DefaultConfig()
			mutate(&c)
			if err := c.Validate(); !errors.Is(err, ErrConfig) {
				t.Fatalf("Validate = %v, want ErrConfig", err)
			}
		})
	}
}

func TestIdentityEd25519SharesKey(t *testing.T) {
	s := ed25519Signer(t)
	id, err := NewIdentity(s, nil)
	if err != nil {
		t.Fatal(err)
	}
	if id.Address != dataitem.OwnerAddress(s.Owner()) {
		t.Fatalf("address %s, want %s", id.Address, dataitem.OwnerAddress(s.Owner()))
	}
	fromOwner, err := PeerIDFromOwner(dataitem.ED25519, s.Owner())
	if err != nil || fromOwner != id.PeerID {
		t.Fatalf("PeerIDFromOwner = %s, %v; identity has %s", fromOwner, err, id.PeerID)
	}
	pub, err := id.PeerID.ExtractPublicKey()
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := pub.Raw()
	if string(raw) != string(s.Owner()) {
		t.Fatal("peer id does not embed the wallet's public key")
	}
	other := testIdentity(t)
	if _, err := NewIdentity(s, other.PeerKey); !errors.Is(err, ErrKeyMismatch) {
		t.Fatalf("mismatched keys: %v", err)
	}
}

func TestIdentityOtherWalletNeedsPeerKey(t *testing.T) {
	eth, err := dataitem.GenerateKey(dataitem.Ethereum)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewIdentity(eth, nil); !errors.Is(err, ErrPeerKeyRequired) {
		t.Fatalf("NewIdentity without peer key: %v", err)
	}
	path := filepath.Join(t.TempDir(), "peer.key")
	k1, err := LoadOrCreatePeerKey(path)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v, %v", st.Mode(), err)
	}
	k2, err := LoadOrCreatePeerKey(path)
	if err != nil || !k1.Equals(k2) {
		t.Fatalf("reloaded key differs (%v)", err)
	}
	id, err := NewIdentity(eth, k1)
	if err != nil {
		t.Fatal(err)
	}
	if id.Address != dataitem.OwnerAddress(eth.Owner()) {
		t.Fatal("address is not the wallet's")
	}
	if err := os.WriteFile(path, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreatePeerKey(path); err == nil {
		t.Fatal("garbage key file accepted")
	}
}

var testLimits = RecordLimits{MaxTTL: time.Hour, MaxClockSkew: 30 * time.Second}

func TestRecordRoundTrip(t *testing.T) {
	id := testIdentity(t)
	addr := ma.StringCast("/ip4/127.0.0.1/tcp/4001")
	now := time.Now()
	it, err := SignRecord(id, NodeInfo{Roles: []string{RoleSU, RoleCU}, URL: "http://127.0.0.1:8080", Version: "v1"}, []ma.Multiaddr{addr}, now, 5*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	r, err := ParseRecord(it.Raw(), now, testLimits)
	if err != nil {
		t.Fatal(err)
	}
	if r.PeerID != id.PeerID || r.Scheduler != id.Address || r.URL != "http://127.0.0.1:8080" || !r.HasRole(RoleCU) ||
		len(r.ListenAddrs) != 1 || !r.ListenAddrs[0].Equal(addr) || r.Version != "v1" || r.Expires.Sub(r.Issued) != 5*time.Minute {
		t.Fatalf("record %+v", r)
	}
}

func TestRecordRejects(t *testing.T) {
	id := testIdentity(t)
	other := testIdentity(t)
	now := time.Now()
	info := NodeInfo{Roles: []string{RoleSU}, URL: "http://127.0.0.1:8080", Version: "v1"}
	good, err := SignRecord(id, info, nil, now, 5*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	tamper := append([]byte(nil), good.Raw()...)
	tamper[len(tamper)-5] ^= 1
	forged := sign(t, other.Signer, good.Tags, nil) // names id's peer, signed by another wallet
	badSched := sign(t, id.Signer, replaceTag(good.Tags, TagScheduler, other.Address), nil)
	long := sign(t, id.Signer, replaceTag(good.Tags, TagExpires, "99999999999999"), nil)
	// An ed25519 wallet's record with a Peer-Signature tag it must not have.
	withBinding := sign(t, id.Signer, append(replaceTag(good.Tags, TagVersion, "v2"), dataitem.Tag{Name: TagPeerSignature, Value: "AAAA"}), nil)
	cases := []struct {
		name string
		raw  []byte
		now  time.Time
	}{
		{"bad signature", tamper, now},
		{"signed by another key", forged.Raw(), now},
		{"ed25519 wallet with a Peer-Signature", withBinding.Raw(), now},
		{"scheduler not signer", badSched.Raw(), now},
		{"ttl too long", long.Raw(), now},
		{"expired", good.Raw(), now.Add(6 * time.Minute)},
		{"from the future", good.Raw(), now.Add(-time.Minute)},
		{"oversized", make([]byte, MaxRecordBytes+1), now},
		{"garbage", []byte("not an item"), now},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := ParseRecord(c.raw, c.now, testLimits); !errors.Is(err, ErrInvalidRecord) {
				t.Fatalf("ParseRecord = %v, want ErrInvalidRecord", err)
			}
		})
	}
	if _, err := SignRecord(id, NodeInfo{Roles: []string{"xx"}}, nil, now, time.Minute); !errors.Is(err, ErrInvalidRecord) {
		t.Fatalf("bad role signed: %v", err)
	}
	if _, err := SignRecord(id, NodeInfo{Roles: []string{RoleMU}, URL: "ftp://x"}, nil, now, time.Minute); !errors.Is(err, ErrInvalidRecord) {
		t.Fatalf("bad url signed: %v", err)
	}
}

// A wallet that is not ed25519 (here Ethereum) is bound to its separate
// libp2p key by the Peer-Signature tag: without it, with another peer's, or
// with one copied from another wallet's record, the record is refused.
func TestRecordPeerBinding(t *testing.T) {
	ethIdentity := func() *Identity {
		k, err := secp256k1.GeneratePrivateKey()
		if err != nil {
			t.Fatal(err)
		}
		pk, _, err := crypto.GenerateEd25519Key(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		id, err := NewIdentity(dataitem.NewEthereumSigner(k), pk)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	id, other := ethIdentity(), ethIdentity()
	now := time.Now()
	info := NodeInfo{Roles: []string{RoleSU}, URL: "http://127.0.0.1:8080"}
	good, err := SignRecord(id, info, nil, now, 5*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	r, err := ParseRecord(good.Raw(), now, testLimits)
	if err != nil || r.PeerID != id.PeerID || r.Scheduler != id.Address {
		t.Fatalf("bound record: %v %+v", err, r)
	}
	otherRec, err := SignRecord(other, info, nil, now, 5*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	otherSig, _ := otherRec.Tag(TagPeerSignature)
	// Another wallet claiming id's peer, with id's own binding copied in.
	idSig, _ := good.Tag(TagPeerSignature)
	for name, tags := range map[string][]dataitem.Tag{
		"no binding":             removeTag(good.Tags, TagPeerSignature),
		"binding of another":     replaceTag(good.Tags, TagPeerSignature, otherSig),
		"binding not base64":     replaceTag(good.Tags, TagPeerSignature, "!!"),
		"copied binding":         replaceTag(replaceTag(otherRec.Tags, TagPeerID, id.PeerID.String()), TagPeerSignature, idSig),
		"other peer, own wallet": replaceTag(good.Tags, TagPeerID, other.PeerID.String()),
	} {
		t.Run(name, func(t *testing.T) {
			signer := id.Signer
			if name == "copied binding" {
				signer = other.Signer
			}
			it := sign(t, signer, tags, nil)
			if _, err := ParseRecord(it.Raw(), now, testLimits); !errors.Is(err, ErrInvalidRecord) {
				t.Fatalf("ParseRecord = %v, want ErrInvalidRecord", err)
			}
		})
	}
}

func removeTag(tags []dataitem.Tag, name string) []dataitem.Tag {
	var out []dataitem.Tag
	for _, t := range tags {
		if t.Name != name {
			out = append(out, t)
		}
	}
	return out
}

func replaceTag(tags []dataitem.Tag, name, value string) []dataitem.Tag {
	out := append([]dataitem.Tag(nil), tags...)
	for i := range out {
		if out[i].Name == name {
			out[i].Value = value
		}
	}
	return out
}

func TestDirectory(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	clock := func() time.Time { return now }
	d := NewDirectory(2, clock)
	a, b, c := testIdentity(t), testIdentity(t), testIdentity(t)
	rec := func(id *Identity, issued time.Time, url string) *NodeRecord {
		return &NodeRecord{PeerID: id.PeerID, Address: id.Address, Scheduler: id.Address, Roles: []string{RoleSU}, URL: url, Issued: issued, Expires: issued.Add(time.Minute)}
	}
	if !d.Put(rec(a, now, "http://a1")) {
		t.Fatal("first record refused")
	}
	if d.Put(rec(a, now.Add(-time.Second), "http://old")) {
		t.Fatal("older record replaced a newer one")
	}
	if !d.Put(rec(a, now.Add(time.Second), "http://a2")) {
		t.Fatal("newer record refused")
	}
	if u, ok := d.SchedulerURL(a.Address); !ok || u != "http://a2" {
		t.Fatalf("SchedulerURL = %q %v", u, ok)
	}
	if !d.Put(rec(b, now, "http://b")) {
		t.Fatal("second peer refused")
	}
	if d.Put(rec(c, now, "http://c")) {
		t.Fatal("full directory took a third peer")
	}
	if got := len(d.Peers()); got != 2 {
		t.Fatalf("%d peers", got)
	}
	now = now.Add(time.Minute + 500*time.Millisecond) // b expired, a (issued 1s later) not
	if _, ok := d.SchedulerURL(b.Address); ok {
		t.Fatal("expired record answered")
	}
	if n := d.Prune(); n != 1 || d.Len() != 1 {
		t.Fatalf("Prune dropped %d, %d left", n, d.Len())
	}
	if _, ok := d.Peer(a.PeerID); !ok {
		t.Fatal("live record pruned")
	}
}

func TestProcessChecker(t *testing.T) {
	su, stranger, user := ed25519Signer(t), ed25519Signer(t), ed25519Signer(t)
	suAddr := dataitem.OwnerAddress(su.Owner())
	proc := newProcess(t, user, suAddr)
	pid := proc.ID()
	known := schedulerMap{pid: {suAddr}}
	now := time.Now()
	msg := newMessage(t, user, pid, "hello")
	good := EncodeAssignment(newAssignment(t, su, pid, 1, msg.ID(), now), msg)
	c := processChecker{schedulers: known, maxAge: time.Minute, maxSkew: 30 * time.Second}

	a, err := c.check(pid, good, now)
	if err != nil {
		t.Fatal(err)
	}
	if a.Nonce != 1 || a.MessageID != msg.ID() || a.Message == nil || a.Process != pid {
		t.Fatalf("assignment %+v", a)
	}
	if a, err := c.check(pid, EncodeAssignment(newAssignment(t, su, pid, 0, "", now), proc), now); err != nil || a.MessageID != pid {
		t.Fatalf("nonce 0: %+v %v", a, err)
	}
	// The nonce-0 slot names its own schedulers: no look-up needed.
	blind := processChecker{schedulers: schedulerMap{}, maxAge: time.Minute, maxSkew: time.Second}
	if _, err := blind.check(pid, EncodeAssignment(newAssignment(t, su, pid, 0, "", now), proc), now); err != nil {
		t.Fatalf("nonce 0 without look-up: %v", err)
	}
	if _, err := blind.check(pid, good, now); !errors.Is(err, ErrUnknownProcess) {
		t.Fatalf("unknown process: %v", err)
	}
	if _, err := c.check(pid, good, now.Add(2*time.Minute)); !errors.Is(err, ErrStaleAssignment) {
		t.Fatalf("stale: %v", err)
	}
	pureAssign := EncodeAssignment(newAssignment(t, su, pid, 2, msg.ID(), now), nil)
	if a, err := c.check(pid, pureAssign, now); err != nil || a.Message != nil {
		t.Fatalf("assignment without its item: %+v %v", a, err)
	}

	tampered := append([]byte(nil), good...)
	tampered[len(tampered)-1] ^= 1
	other := newProcess(t, user, suAddr)
	invalid := map[string][]byte{
		"non-scheduler signer":         EncodeAssignment(newAssignment(t, stranger, pid, 1, msg.ID(), now), msg),
		"bad signature":                tampered,
		"wrong process":                EncodeAssignment(newAssignment(t, su, other.ID(), 1, msg.ID(), now), msg),
		"message mismatch":             EncodeAssignment(newAssignment(t, su, pid, 1, msg.ID(), now), newMessage(t, user, pid, "other")),
		"nonce without message":        EncodeAssignment(newAssignment(t, su, pid, 3, "", now), proc),
		"process slot without process": EncodeAssignment(newAssignment(t, su, pid, 0, "", now), nil),
		"nonce-0 self-named scheduler": EncodeAssignment(newAssignment(t, stranger, pid, 0, "", now), proc),
		"future":                       EncodeAssignment(newAssignment(t, su, pid, 1, msg.ID(), now.Add(time.Hour)), msg),
		"three items":                  dataitem.BuildBundle([]*dataitem.Item{newAssignment(t, su, pid, 1, msg.ID(), now), msg, msg}),
		"empty bundle":                 dataitem.BuildBundle(nil),
		"garbage":                      []byte(strings.Repeat("x", 100)),
	}
	for name, data := range invalid {
		t.Run(name, func(t *testing.T) {
			if _, err := c.check(pid, data, now); !errors.Is(err, ErrInvalidAssignment) {
				t.Fatalf("check = %v, want ErrInvalidAssignment", err)
			}
		})
	}
}

func TestSequence(t *testing.T) {
	s := NewSequence(0)
	if s.Check(0) != InOrder || s.Check(2) != Gap {
		t.Fatal("fresh sequence")
	}
	if err := s.Advance(0); err != nil {
		t.Fatal(err)
	}
	if s.Check(0) != Duplicate || s.Check(1) != InOrder || s.Next() != 1 {
		t.Fatal("after one slot")
	}
	if err := s.Advance(5); err == nil {
		t.Fatal("out-of-order Advance accepted")
	}
}

func FuzzParseRecord(f *testing.F) {
	id := testIdentity(f)
	it, err := SignRecord(id, NodeInfo{Roles: []string{RoleSU}, URL: "http://h:1"}, []ma.Multiaddr{ma.StringCast("/ip4/1.2.3.4/tcp/1")}, time.Now(), time.Minute)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(it.Raw())
	f.Add([]byte{})
	now := time.Now()
	f.Fuzz(func(t *testing.T, raw []byte) {
		r, err := ParseRecord(raw, now, testLimits)
		if err == nil && r.PeerID != id.PeerID {
			t.Fatal("accepted a record of another peer")
		}
	})
}

func FuzzProcessCheck(f *testing.F) {
	su, user := ed25519Signer(f), ed25519Signer(f)
	suAddr := dataitem.OwnerAddress(su.Owner())
	proc := newProcess(f, user, suAddr)
	pid := proc.ID()
	now := time.Now()
	msg := newMessage(f, user, pid, "x")
	f.Add(EncodeAssignment(newAssignment(f, su, pid, 1, msg.ID(), now), msg))
	f.Add(EncodeAssignment(newAssignment(f, su, pid, 0, "", now), proc))
	c := processChecker{schedulers: schedulerMap{pid: {suAddr}}, maxAge: time.Hour, maxSkew: time.Hour}
	f.Fuzz(func(t *testing.T, data []byte) {
		a, err := c.check(pid, data, now)
		if err == nil && (a.Process != pid || a.Assignment.Address() != suAddr) {
			t.Fatalf("accepted %+v", a)
		}
	})
}
