package wasmcache

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestPruneKeepsNewestWithinBound(t *testing.T) {
	dir := t.TempDir()
	c, err := Open(dir, 250)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(t.Context())
	sub := filepath.Join(dir, "wazero-v0.0.0-test")
	if err := os.MkdirAll(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	base := time.Now().Add(-3 * time.Hour)
	write := func(name string, age time.Duration) string {
		p := filepath.Join(sub, name)
		if err := os.WriteFile(p, make([]byte, 100), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, base.Add(age), base.Add(age)); err != nil {
			t.Fatal(err)
		}
		return p
	}
	oldest := write("a", 0)
	older := write("b", time.Minute)
	newest := write("c", 2*time.Minute)
	staleTmp := write("d.123.tmp", 0)
	if err := os.WriteFile(filepath.Join(sub, "e.456.tmp"), nil, 0o644); err != nil { // a write in progress
		t.Fatal(err)
	}
	if err := c.Prune(); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]bool{oldest: false, older: true, newest: true, staleTmp: false, filepath.Join(sub, "e.456.tmp"): true} {
		_, err := os.Stat(p)
		if got := err == nil; got != want {
			t.Errorf("%s kept %v, want %v", filepath.Base(p), got, want)
		}
	}
}
