package su

import (
	"strings"
	"testing"
)

// TestPageLimitErrors: a limit below 1 and one above the largest the reference parses are
// refused with a text that says which bound was crossed.
func TestPageLimitErrors(t *testing.T) {
	e := newTestEnv(t)
	p := e.process()
	e.post("/", p.Raw(), 200)
	for limit, want := range map[string]string{
		"0":           "invalid limit: 0 (must be at least 1)",
		"-4":          "invalid limit: -4 (must be at least 1)",
		"99999999999": "invalid limit: 99999999999 (must be at most 2147483647)",
	} {
		code, body, _ := e.do("GET", "/"+p.ID()+"?process-id="+p.ID()+"&limit="+limit, nil)
		if code != 400 || !strings.Contains(string(body), want) {
			t.Errorf("limit=%s: %d %s, want 400 %q", limit, code, body, want)
		}
	}
}
