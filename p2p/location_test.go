package p2p

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/aonode/aonode/dataitem"
)

func TestLocationRoundTrip(t *testing.T) {
	s := ed25519Signer(t)
	now := time.UnixMilli(1_700_000_000_000)
	it, err := SignLocation(s, "http://h:1/su", time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	loc, err := ParseLocation(it.Raw(), now, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if loc.Address != dataitem.OwnerAddress(s.Owner()) || loc.URL != "http://h:1/su" || loc.TTL != time.Hour || !loc.Issued.Equal(now) || loc.Item.ID() != it.ID() {
		t.Fatalf("parsed %+v", loc)
	}
}

func TestLocationRejects(t *testing.T) {
	s := ed25519Signer(t)
	now := time.UnixMilli(1_700_000_000_000)
	signed := func(at time.Time) []byte {
		it, err := SignLocation(s, "http://h:1/su", time.Hour, at)
		if err != nil {
			t.Fatal(err)
		}
		return it.Raw()
	}
	noTimestamp := sign(t, s, []dataitem.Tag{{Name: "Data-Protocol", Value: "ao"}, {Name: "Type", Value: "Scheduler-Location"},
		{Name: "Url", Value: "http://h:1/su"}, {Name: "Time-To-Live", Value: "3600000"}}, nil)
	tampered := signed(now)
	tampered[len(tampered)-3] ^= 1
	for _, tc := range []struct {
		name  string
		raw   []byte
		stale bool
	}{
		{"issued in the future", signed(now.Add(time.Minute)), false},
		{"past its Time-To-Live", signed(now.Add(-time.Hour)), true},
		{"no Timestamp", noTimestamp.Raw(), false},
		{"bad signature", tampered, false},
		{"too large", append(signed(now), make([]byte, MaxLocationBytes)...), false},
		{"not an item", []byte("junk"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseLocation(tc.raw, now, time.Second)
			if err == nil {
				t.Fatal("accepted")
			}
			if tc.stale != errors.Is(err, errStaleLocation) || tc.stale == errors.Is(err, ErrInvalidLocation) {
				t.Fatalf("stale %v: %v", tc.stale, err)
			}
		})
	}
	if _, err := SignLocation(s, "http://h:1/"+strings.Repeat("x", MaxLocationBytes), time.Hour, now); err == nil {
		t.Fatal("signed a location with an oversized Url")
	}
}

// TestLocationsAcceptAndHold: per scheduler only a newer location is accepted; one whose
// scheduler the directory does not know is held (newest only, bounded) until it does.
func TestLocationsAcceptAndHold(t *testing.T) {
	id := testIdentity(t)
	now := time.Now()
	dir := NewDirectory(10, nil)
	l := &locations{newest: map[string]time.Time{}, pending: map[string]*Location{}}
	at := func(d time.Duration) *Location {
		it, err := SignLocation(id.Signer, "http://h:1/su", time.Hour, now.Add(d))
		if err != nil {
			t.Fatal(err)
		}
		loc, err := ParseLocation(it.Raw(), now.Add(time.Minute), time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		return loc
	}
	l.hold(at(time.Second), 10)
	l.hold(at(0), 10) // older: the held one stays
	if p := l.pending[id.Address]; p == nil || !p.Issued.Equal(now.Add(time.Second).Truncate(time.Millisecond)) {
		t.Fatalf("held %+v", p)
	}
	for range maxPendingLocations + 1 {
		o := testIdentity(t)
		it, _ := SignLocation(o.Signer, "http://o:1/su", time.Hour, now)
		loc, _ := ParseLocation(it.Raw(), now, time.Minute)
		l.hold(loc, 1000)
	}
	if len(l.pending) > maxPendingLocations {
		t.Fatalf("%d held locations", len(l.pending))
	}

	if !l.accept(at(2*time.Second), 10, dir) {
		t.Fatal("the first location was refused")
	}
	if _, held := l.pending[id.Address]; held {
		t.Fatal("an accepted newer location left the older held")
	}
	if l.accept(at(2*time.Second), 10, dir) || l.accept(at(time.Second), 10, dir) {
		t.Fatal("an equal or older location was accepted")
	}
	if !l.accept(at(3*time.Second), 10, dir) {
		t.Fatal("a newer location was refused")
	}
	// Full: schedulers gone from the directory make room; with none gone, no new one fits.
	full := &locations{newest: map[string]time.Time{"gone": now}, pending: map[string]*Location{}}
	if !full.accept(at(0), 1, dir) {
		t.Fatal("a scheduler that left the directory kept its place")
	}
	rec := &NodeRecord{PeerID: peer.ID("p"), Address: "kept", Scheduler: "kept", Roles: []string{RoleSU}, URL: "http://k", Issued: now, Expires: now.Add(time.Hour)}
	dir.Put(rec)
	full = &locations{newest: map[string]time.Time{"kept": now}, pending: map[string]*Location{}}
	if full.accept(at(0), 1, dir) {
		t.Fatal("a full table took a new scheduler")
	}
}

func FuzzParseLocation(f *testing.F) {
	s := ed25519Signer(f)
	now := time.Now()
	it, err := SignLocation(s, "http://h:1/su", time.Hour, now)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(it.Raw())
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, raw []byte) {
		loc, err := ParseLocation(raw, now, time.Minute)
		if err == nil && (loc.Address != loc.Item.Address() || loc.TTL <= 0 || loc.Issued.After(now.Add(time.Minute))) {
			t.Fatalf("accepted %+v", loc)
		}
	})
}
