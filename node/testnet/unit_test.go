package testnet

import (
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/aonode/aonode/node"
)

// TestContainerConfigLoads keeps configs/container/config.yaml (the image's config) valid.
func TestContainerConfigLoads(t *testing.T) {
	f, err := node.LoadFile(filepath.Join("..", "..", "configs", "container", "config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := f.Config()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if cfg.HTTPAddr != "0.0.0.0:8734" || cfg.DataDir != "/var/lib/aonode/data" || cfg.P2P == nil {
		t.Fatalf("config: %+v", cfg)
	}
}

func TestParseHistogram(t *testing.T) {
	text := `# HELP x
aonode_p2p_process_push_age_seconds_bucket{le="0.001"} 1
aonode_p2p_process_push_age_seconds_bucket{le="0.002"} 3
aonode_p2p_process_push_age_seconds_bucket{le="+Inf"} 4
aonode_p2p_process_push_age_seconds_sum 0.5
aonode_p2p_process_push_age_seconds_count 4
`
	h := parseHistogram(text, pushAgeMetric)
	if h.count != 4 || !slices.Equal(h.counts, []float64{1, 3, 4}) || len(h.bounds) != 3 || h.bounds[1] != 0.002 {
		t.Fatalf("%+v", h)
	}
	if q := h.quantile(0.5); q != 2*time.Millisecond {
		t.Errorf("p50 = %v", q)
	}
	// The fourth observation lies beyond the largest finite bound: the p99 says so instead of
	// overflowing a Duration.
	if q := h.quantile(0.99); q != ageBeyondBuckets || age(q) != "beyond the largest bucket" {
		t.Errorf("p99 = %v (%s)", q, age(q))
	}
	for in, want := range map[string]float64{"45.5MiB": 45.5 * (1 << 20), "1GiB": 1 << 30, "900KiB": 900 << 10, "12B": 12} {
		if got, ok := parseSize(in); !ok || got != want {
			t.Errorf("parseSize(%q) = %v %v", in, got, ok)
		}
	}
}

func TestRolesAndBootstrap(t *testing.T) {
	if got := RolesFor("mu,gateway;su; cu", 4); !slices.Equal(got, []string{"su"}) {
		t.Fatal(got)
	}
	addrs := []string{"a", "b", "c", "d"}
	for i, want := range [][]string{{"b"}, {"a"}, {"a", "b"}, {"a", "b"}} {
		if got := bootstrapFor(i, addrs); !slices.Equal(got, want) {
			t.Errorf("node %d: %v", i, got)
		}
	}
}
