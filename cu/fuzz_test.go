package cu

import (
	"encoding/json"
	"testing"

	"github.com/aonode/aonode/dataitem"
	"github.com/aonode/aonode/dataitem/aoapi"
	"github.com/aonode/aonode/su"
)

func FuzzParseTags(f *testing.F) {
	for _, s := range []string{"512-mb", "1-gb", "10-blocks", "5-seconds", "1.5-kb", "000001500000", "-", "1e308-pb"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		if _, ok := parseMemoryLimit(v); ok && v == "" {
			t.Fatal("an empty Memory-Limit was accepted")
		}
		if crons, err := parseCrons([]Tag{{Name: "Cron-Interval", Value: v}}); err == nil {
			c := crons[0]
			if (c.blocks == 0) == (c.seconds == 0) {
				t.Fatalf("cron %q is neither block nor time based: %+v", v, c)
			}
			if c.seconds > 0 {
				for _, from := range []int64{-1e9, 0, 7, 1e9} {
					got := nextMultiple(from, 3, c.seconds)
					if got < from || (got-3)%c.seconds != 0 || got-from >= c.seconds {
						t.Fatalf("nextMultiple(%d, 3, %d) = %d", from, c.seconds, got)
					}
				}
			}
		}
		parseIntPrefix(v)
	})
}

// FuzzSUMessage feeds arbitrary SU message JSON to the mapping the evaluator relies on.
func FuzzSUMessage(f *testing.F) {
	f.Add([]byte(`{"message":{"id":"m","owner":{"address":"a","key":"k"},"data":"d","tags":[{"name":"From-Process","value":"p"}],"signature":"s","anchor":null,"target":"t"},"assignment":{"id":"a","owner":{"address":"a","key":"k"},"tags":[{"name":"Process","value":"p"},{"name":"Nonce","value":"1"},{"name":"Timestamp","value":"5"},{"name":"Block-Height","value":"000000000001"},{"name":"Message","value":"m"}],"signature":"s","anchor":null,"target":""}}`))
	f.Add([]byte(`{"message":null,"assignment":{"id":"a","tags":[]}}`))
	pid := dataitem.EncodeID(make([]byte, 32))
	seed, _ := su.SeedHashChain(pid)
	f.Add([]byte(`{"message":null,"assignment":{"id":"` + pid + `","tags":[{"name":"Process","value":"` + pid + `"},{"name":"Nonce","value":"0"},{"name":"Timestamp","value":"5"},{"name":"Block-Height","value":"1"},{"name":"Message","value":"` + pid + `"},{"name":"Hash-Chain","value":"` + seed + `"}]}}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		var m aoapi.MessageNode
		if json.Unmarshal(raw, &m) != nil {
			return
		}
		s, err := toScheduled(m)
		if err != nil {
			return
		}
		if s.MessageID == "" || s.Process == "" {
			t.Fatalf("accepted a slot without ids: %+v", s)
		}
		if s.Message != nil {
			if _, err := jsText(messageFor(s)); err != nil {
				t.Fatalf("message does not encode: %v", err)
			}
		}
		// The CU's check of a chain link agrees with the SU that makes it.
		for _, prev := range [][2]string{{"", ""}, {s.AssignmentID, s.HashChain}} {
			var want string
			var err error
			if prev[0] == "" {
				if _, derr := dataitem.DecodeID(s.Process); derr != nil {
					continue // not a process id an SU could have seeded a chain from
				}
				want, err = su.SeedHashChain(s.Process)
			} else {
				want, err = su.NextHashChain(prev[0], prev[1])
			}
			if got := verifyHashChain(s.Process, s, prev[0], prev[1]); got != (err == nil && s.HashChain == want) {
				t.Fatalf("verifyHashChain(%q, %q, %q) = %v; the SU's chain is %q (%v), the slot says %q", s.Process, prev[0], prev[1], got, want, err, s.HashChain)
			}
		}
	})
}
