package aoapi

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"time"

	"github.com/aonode/aonode/dataitem"
)

// Scheduler-Location items (ao-protocol §5, §7.2): an SU's wallet signs where its API lives, and
// clients (aoconnect, @permaweb/ao-scheduler-utils) find it by asking a gateway's GraphQL for
// the newest one its address owns (SchedulerLocationQuery). Url and Time-To-Live are what the
// reference reads; Timestamp is aonode's, so that peers can tell a refreshed item from an older
// one (the reference orders them by block height, which gossip has not).
const (
	TypeSchedulerLocation = "Scheduler-Location"
	TagURL                = "Url"
	TagTimeToLive         = "Time-To-Live"
	TagTimestamp          = "Timestamp"

	// MaxLocationURLBytes bounds the Url of a Scheduler-Location.
	MaxLocationURLBytes = 512
	// MinLocationTTL and MaxLocationTTL bound the Time-To-Live a location may announce: clients
	// cache a location for that long.
	MinLocationTTL = time.Second
	MaxLocationTTL = 7 * 24 * time.Hour
)

// SchedulerLocationQuery is the GraphQL query ao-scheduler-utils sends to find the SU of a
// scheduler address (variable $owner): the newest Scheduler-Location it owns.
const SchedulerLocationQuery = `query GetSchedulerLocation ($owner: String!) {
  transactions (
    owners: [$owner]
    tags: [
      { name: "Data-Protocol", values: ["ao"] },
      { name: "Type", values: ["Scheduler-Location"] }
    ]
    sort: HEIGHT_DESC
    first: 1
  ) {
    edges {
      node {
        tags {
          name
          value
        }
      }
    }
  }
}`

// ErrNotSchedulerLocation reports an item that is not a well-formed Scheduler-Location.
var ErrNotSchedulerLocation = errors.New("aoapi: not a Scheduler-Location")

// SchedulerLocation is what a Scheduler-Location item says.
type SchedulerLocation struct {
	// Address is the scheduler's wallet address: the signer's.
	Address string
	// URL is the SU's base URL (the Url tag).
	URL string
	// TTL is how long clients may cache it (Time-To-Live, ms on the wire).
	TTL time.Duration
	// Issued is the Timestamp tag; zero when the item has none (items made by other tools).
	Issued time.Time
}

// SchedulerLocationFields are the fields of the Scheduler-Location item announcing url for ttl,
// issued at issued: the reference's tags (Data-Protocol, Variant, Type, Url, Time-To-Live) and
// Timestamp, no data. The caller signs them.
func SchedulerLocationFields(suURL string, ttl time.Duration, issued time.Time) (dataitem.Fields, error) {
	loc := SchedulerLocation{URL: suURL, TTL: ttl, Issued: issued}
	if err := loc.check(); err != nil {
		return dataitem.Fields{}, err
	}
	return dataitem.Fields{Tags: []dataitem.Tag{
		{Name: "Data-Protocol", Value: "ao"},
		{Name: "Variant", Value: "ao.TN.1"},
		{Name: "Type", Value: TypeSchedulerLocation},
		{Name: TagURL, Value: suURL},
		{Name: TagTimeToLive, Value: strconv.FormatInt(ttl.Milliseconds(), 10)},
		{Name: TagTimestamp, Value: strconv.FormatInt(issued.UnixMilli(), 10)},
	}}, nil
}

// ParseSchedulerLocation reads a Scheduler-Location from an item whose signature the caller
// has verified: Data-Protocol ao, Type Scheduler-Location, one Url (an absolute http(s) URL
// without credentials, query or fragment), one Time-To-Live (canonical ms within
// MinLocationTTL..MaxLocationTTL), at most one Timestamp (canonical ms), no target. Tag names
// are matched exactly, as the gateway's index matches them.
func ParseSchedulerLocation(it *dataitem.Item) (SchedulerLocation, error) {
	bad := func(format string, args ...any) (SchedulerLocation, error) {
		return SchedulerLocation{}, fmt.Errorf("%w: %s", ErrNotSchedulerLocation, fmt.Sprintf(format, args...))
	}
	if it.Target != nil {
		return bad("a location has no target")
	}
	if v, _ := it.Tag("Data-Protocol"); v != "ao" {
		return bad("Data-Protocol is not ao")
	}
	if v, _ := it.Tag("Type"); v != TypeSchedulerLocation {
		return bad("Type is not %s", TypeSchedulerLocation)
	}
	seen := map[string]string{}
	for _, t := range it.Tags {
		switch t.Name {
		case TagURL, TagTimeToLive, TagTimestamp:
			if _, dup := seen[t.Name]; dup {
				return bad("tag %s repeated", t.Name)
			}
			seen[t.Name] = t.Value
		}
	}
	loc := SchedulerLocation{Address: it.Address(), URL: seen[TagURL]}
	ttl, err := parseMillis(seen[TagTimeToLive])
	if err != nil {
		return bad("Time-To-Live %q: %v", clip(seen[TagTimeToLive]), err)
	}
	loc.TTL = time.Duration(ttl) * time.Millisecond
	if ts, ok := seen[TagTimestamp]; ok {
		ms, err := parseMillis(ts)
		if err != nil {
			return bad("Timestamp %q: %v", clip(ts), err)
		}
		loc.Issued = time.UnixMilli(ms)
	}
	if err := loc.check(); err != nil {
		return SchedulerLocation{}, err
	}
	return loc, nil
}

func (l SchedulerLocation) check() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrNotSchedulerLocation, fmt.Sprintf(format, args...))
	}
	if l.URL == "" || len(l.URL) > MaxLocationURLBytes {
		return bad("Url of %d bytes (1..%d)", len(l.URL), MaxLocationURLBytes)
	}
	u, err := url.Parse(l.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return bad("Url %q is not an absolute http(s) base URL", clip(l.URL))
	}
	if l.TTL < MinLocationTTL || l.TTL > MaxLocationTTL {
		return bad("Time-To-Live %s outside %s..%s", l.TTL, MinLocationTTL, MaxLocationTTL)
	}
	return nil
}

// parseMillis reads a canonical non-negative decimal: no sign, no leading zero, at most 16 digits.
func parseMillis(s string) (int64, error) {
	if s == "" || len(s) > 16 || (len(s) > 1 && s[0] == '0') {
		return 0, errors.New("not a canonical millisecond count")
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, errors.New("not a canonical millisecond count")
		}
	}
	return strconv.ParseInt(s, 10, 64)
}

func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
