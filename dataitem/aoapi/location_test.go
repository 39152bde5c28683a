package aoapi_test

import (
	"errors"
	"testing"
	"time"

	"github.com/aonode/aonode/dataitem"
	"github.com/aonode/aonode/dataitem/aoapi"
	"github.com/aonode/aonode/su/sutest"
)

func TestSchedulerLocationRoundTrip(t *testing.T) {
	key := sutest.Key(t)
	issued := time.UnixMilli(1_700_000_000_123)
	f, err := aoapi.SchedulerLocationFields("https://su.example/su", time.Hour, issued)
	if err != nil {
		t.Fatal(err)
	}
	it, err := dataitem.Sign(key, f)
	if err != nil {
		t.Fatal(err)
	}
	loc, err := aoapi.ParseSchedulerLocation(it)
	if err != nil {
		t.Fatal(err)
	}
	want := aoapi.SchedulerLocation{Address: it.Address(), URL: "https://su.example/su", TTL: time.Hour, Issued: issued}
	if loc != want {
		t.Fatalf("got %+v, want %+v", loc, want)
	}
	// The reference's tags, in the order its deploy script writes them, then Timestamp.
	var names []string
	for _, tg := range it.Tags {
		names = append(names, tg.Name+"="+tg.Value)
	}
	if got := names; len(got) != 6 || got[0] != "Data-Protocol=ao" || got[2] != "Type=Scheduler-Location" || got[4] != "Time-To-Live=3600000" || got[5] != "Timestamp=1700000000123" {
		t.Fatalf("tags %v", got)
	}
	if _, err := aoapi.SchedulerLocationFields("https://su.example/su", time.Millisecond, issued); !errors.Is(err, aoapi.ErrNotSchedulerLocation) {
		t.Fatalf("a 1 ms Time-To-Live: %v", err)
	}
}

func TestParseSchedulerLocationRejects(t *testing.T) {
	key := sutest.Key(t)
	base := []string{"Data-Protocol", "ao", "Type", "Scheduler-Location", "Url", "http://su.example", "Time-To-Live", "3600000"}
	for _, tc := range []struct {
		name   string
		tags   []string
		target bool
	}{
		{"no Url", []string{"Data-Protocol", "ao", "Type", "Scheduler-Location", "Time-To-Live", "3600000"}, false},
		{"no Time-To-Live", []string{"Data-Protocol", "ao", "Type", "Scheduler-Location", "Url", "http://su.example"}, false},
		{"not ao", []string{"Data-Protocol", "x", "Type", "Scheduler-Location", "Url", "http://su.example", "Time-To-Live", "3600000"}, false},
		{"other type", []string{"Data-Protocol", "ao", "Type", "Module", "Url", "http://su.example", "Time-To-Live", "3600000"}, false},
		{"ftp url", []string{"Data-Protocol", "ao", "Type", "Scheduler-Location", "Url", "ftp://su.example", "Time-To-Live", "3600000"}, false},
		{"url with query", []string{"Data-Protocol", "ao", "Type", "Scheduler-Location", "Url", "http://su.example/?a=b", "Time-To-Live", "3600000"}, false},
		{"url with credentials", []string{"Data-Protocol", "ao", "Type", "Scheduler-Location", "Url", "http://u:p@su.example", "Time-To-Live", "3600000"}, false},
		{"relative url", []string{"Data-Protocol", "ao", "Type", "Scheduler-Location", "Url", "/su", "Time-To-Live", "3600000"}, false},
		{"ttl with a sign", append(base[:6:6], "Time-To-Live", "+3600000"), false},
		{"ttl with a leading zero", append(base[:6:6], "Time-To-Live", "03600000"), false},
		{"ttl too short", append(base[:6:6], "Time-To-Live", "999"), false},
		{"ttl too long", append(base[:6:6], "Time-To-Live", "604800001"), false},
		{"url repeated", append(base, "Url", "http://other.example"), false},
		{"timestamp not a number", append(base, "Timestamp", "yesterday"), false},
		{"timestamp repeated", append(base, "Timestamp", "1", "Timestamp", "2"), false},
		{"with a target", base, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := dataitem.Fields{}
			for i := 0; i+1 < len(tc.tags); i += 2 {
				f.Tags = append(f.Tags, dataitem.Tag{Name: tc.tags[i], Value: tc.tags[i+1]})
			}
			if tc.target {
				f.Target = make([]byte, 32)
			}
			it, err := dataitem.Sign(key, f)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := aoapi.ParseSchedulerLocation(it); !errors.Is(err, aoapi.ErrNotSchedulerLocation) {
				t.Fatalf("accepted: %v", err)
			}
		})
	}
	// Without Timestamp (made by other tools, like the reference's deploy script): Issued zero.
	f := dataitem.Fields{Data: []byte("1984")}
	for i := 0; i+1 < len(base); i += 2 {
		f.Tags = append(f.Tags, dataitem.Tag{Name: base[i], Value: base[i+1]})
	}
	it, _ := dataitem.Sign(key, f)
	if loc, err := aoapi.ParseSchedulerLocation(it); err != nil || !loc.Issued.IsZero() || loc.TTL != time.Hour {
		t.Fatalf("reference-style location: %+v %v", loc, err)
	}
}
