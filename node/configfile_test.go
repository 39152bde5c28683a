package node

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aonode/aonode/dataitem"
	"github.com/aonode/aonode/p2p"
	ma "github.com/multiformats/go-multiaddr"
)

func writeFile(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadFileFillsDefaultsAndResolvesPaths(t *testing.T) {
	dir := t.TempDir()
	p := writeFile(t, dir, "n.yaml", `
roles: [su]
key: k.json
data: /abs/data
http: 127.0.0.1:9100
cron-interval: 3s
follow: [all]
mu:
  result-quorum: 2
limits:
  max-item-bytes: 2048
p2p:
  enabled: true
  listen: [/ip4/127.0.0.1/tcp/9101]
  mdns: true
  record-interval: 7s
`)
	f, err := LoadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	cfg := f.Config()
	if cfg.KeyFile != filepath.Join(dir, "k.json") || cfg.DataDir != "/abs/data" || cfg.HTTPAddr != "127.0.0.1:9100" ||
		!slices.Equal(cfg.Roles, []string{"su"}) || cfg.CronInterval != 3*time.Second || cfg.MaxItemBytes != 2048 ||
		!slices.Equal(cfg.Follow, []string{FollowAll}) || cfg.ResultQuorum != 2 {
		t.Fatalf("config: %+v", cfg)
	}
	def := DefaultConfig()
	if cfg.ShutdownTimeout != def.ShutdownTimeout || cfg.ArweavePollInterval != def.ArweavePollInterval {
		t.Fatalf("defaults lost: %+v", cfg)
	}
	pd := p2p.DefaultConfig()
	if cfg.P2P == nil || !cfg.P2P.MDNS || cfg.P2P.Gossip.RecordInterval != 7*time.Second ||
		cfg.P2P.Gossip.RecordTTL != pd.Gossip.RecordTTL || cfg.P2P.Resources != pd.Resources ||
		!slices.Equal(cfg.P2P.ListenAddrs, []string{"/ip4/127.0.0.1/tcp/9101"}) {
		t.Fatalf("p2p config: %+v", cfg.P2P)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}

	// Without p2p there is no host, and the roles that need remote units need their URLs.
	f.P2P.Enabled = false
	f.Roles = []string{"cu"}
	if c := f.Config(); c.P2P != nil || c.Validate() == nil {
		t.Fatalf("a cu without p2p and without --su validated: %+v", c)
	}
}

func TestLoadFileRejects(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{
		"unknown key": "roles: [su]\nrole: [cu]\n",
		"bad type":    "limits:\n  max-item-bytes: lots\n",
		"bad yaml":    "roles: [su\n",
	} {
		if _, err := LoadFile(writeFile(t, dir, "c.yaml", body)); !errors.Is(err, ErrConfigFile) {
			t.Errorf("%s: %v", name, err)
		}
	}
	big := writeFile(t, dir, "big.yaml", "# "+strings.Repeat("x", MaxConfigFileBytes)+"\n")
	if _, err := LoadFile(big); !errors.Is(err, ErrConfigFile) {
		t.Errorf("oversized file: %v", err)
	}
	if _, err := LoadFile(filepath.Join(dir, "missing.yaml")); !errors.Is(err, ErrConfigFile) {
		t.Errorf("missing file: %v", err)
	}
	// A file that loads may still describe a node that cannot run. A public URL is checked
	// with or without p2p: it is the Url of the SU's Scheduler-Location either way.
	f, err := LoadFile(writeFile(t, dir, "p.yaml", "key: k\ndata: d\np2p:\n  enabled: true\n  listen: [not-a-multiaddr]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Config().Validate(); !errors.Is(err, p2p.ErrConfig) {
		t.Errorf("bad listen address: %v", err)
	}
	for _, c := range []struct {
		p2p bool
		url string
		ok  bool
	}{{true, "http://node.example:8734", true}, {true, "ftp://x", false}, {true, "http://x/?q=1", false}, {false, "http://x", true}, {false, "ftp://x", false}} {
		cfg := testConfig(t)
		if c.p2p {
			cfg.P2P = testP2P()
		}
		cfg.PublicURL = c.url
		if err := cfg.Validate(); (err == nil) != c.ok {
			t.Errorf("public URL %q (p2p %v): %v", c.url, c.p2p, err)
		}
	}
}

// TestShippedConfigs keeps configs/ working: every file loads and validates, and the
// bootstrap addresses of the three-node network name the peers of the keys beside them.
func TestShippedConfigs(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "configs", "*.yaml"))
	if err != nil || len(files) < 4 {
		t.Fatalf("configs: %v %v", files, err)
	}
	peers := map[string]string{} // peer id → config
	boots := map[string][]string{}
	for _, p := range files {
		f, err := LoadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		cfg := f.Config()
		if err := cfg.Validate(); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		raw, err := os.ReadFile(cfg.KeyFile)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		s, err := dataitem.ParseKey(raw)
		if err != nil {
			t.Fatal(err)
		}
		id, err := p2p.NewIdentity(s, nil)
		if err != nil {
			t.Fatal(err)
		}
		peers[id.PeerID.String()] = p
		if cfg.P2P == nil {
			t.Fatalf("%s has no p2p", p)
		}
		boots[p] = cfg.P2P.Bootstrap
	}
	for p, bs := range boots {
		for _, b := range bs {
			a, err := ma.NewMultiaddr(b)
			if err != nil {
				t.Fatal(err)
			}
			id, err := a.ValueForProtocol(ma.P_P2P)
			if err != nil || peers[id] == "" || peers[id] == p {
				t.Errorf("%s bootstraps to %s, which is no other shipped node (%v)", p, b, err)
			}
		}
	}
}

func TestLoadFileRaftTimeouts(t *testing.T) {
	dir := t.TempDir()
	path := writeFile(t, dir, "n.yaml", "raft:\n  heartbeat: 1s\n  election: 2s\n  leader-lease: 500ms\n  commit: 20ms\n")
	f, err := LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	r := f.Config().Raft
	if r.Heartbeat != time.Second || r.Election != 2*time.Second || r.LeaderLease != 500*time.Millisecond || r.Commit != 20*time.Millisecond {
		t.Fatalf("raft timeouts %+v", r)
	}
	cfg := f.Config()
	cfg.Raft.LeaderLease = 3 * time.Second // above the heartbeat
	cfg.InMemory = true
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "leader-lease") {
		t.Fatalf("Validate of a lease above the heartbeat: %v", err)
	}
}
