package node

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aonode/aonode/dataitem"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "aonode-node-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	buildDir = dir
	goleak.VerifyTestMain(m, goleak.Cleanup(func(code int) {
		_ = os.RemoveAll(dir)
		os.Exit(code)
	}))
}

func quietLogger() *slog.Logger {
	if os.Getenv("NODE_DEBUG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func seedSigner(b byte) *dataitem.Ed25519Signer {
	return dataitem.NewEd25519Signer(ed25519.NewKeyFromSeed(bytes.Repeat([]byte{b}, 32)))
}

func testConfig(t *testing.T) Config {
	cfg := DefaultConfig()
	cfg.InMemory = true
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.Signer = seedSigner(1)
	cfg.Logger = quietLogger()
	// The tests poll process state with dry-runs; the rate limit has its own test.
	cfg.Limits.DryRunRate = -1
	return cfg
}

func startNode(t *testing.T, cfg Config) *Node {
	t.Helper()
	n, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := n.Close(); err != nil {
			t.Error(err)
		}
	})
	return n
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func post(t *testing.T, url string, body []byte) (int, string) {
	t.Helper()
	resp, err := http.Post(url, "application/octet-stream", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestConfigValidate(t *testing.T) {
	good := testConfig(t)
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	cases := map[string]func(*Config){
		"unknown role":     func(c *Config) { c.Roles = []string{"su", "xx"} },
		"duplicate role":   func(c *Config) { c.Roles = []string{"su", "su"} },
		"no data dir":      func(c *Config) { c.InMemory = false },
		"bad address":      func(c *Config) { c.HTTPAddr = "nocolon" },
		"no key":           func(c *Config) { c.Signer = nil },
		"tiny items":       func(c *Config) { c.MaxItemBytes = 10 },
		"bad arweave":      func(c *Config) { c.ArweaveURL = "ftp://x" },
		"fast poll":        func(c *Config) { c.ArweaveURL = "http://x"; c.ArweavePollInterval = time.Millisecond },
		"batch delay":      func(c *Config) { c.StoreBatchDelay = time.Hour },
		"neg shutdown":     func(c *Config) { c.ShutdownTimeout = -1 },
		"cu without su":    func(c *Config) { c.Roles = []string{"cu"} },
		"mu without cu":    func(c *Config) { c.Roles = []string{"su", "mu"} },
		"bad su url":       func(c *Config) { c.Roles = []string{"cu"}; c.SUURL = "su:8080" },
		"neg cron":         func(c *Config) { c.CronInterval = -time.Second },
		"neg header wait":  func(c *Config) { c.Limits.ReadHeaderTimeout = -time.Second },
		"trickle rate":     func(c *Config) { c.Limits.BodyMinRate = 10 },
		"tiny dry-run cap": func(c *Config) { c.Limits.DryRunTimeout = time.Millisecond },
		"sub-second eval":  func(c *Config) { c.Limits.EvalTimeout = time.Millisecond },
		"tiny CU budget":   func(c *Config) { c.Limits.CUMemoryBudgetBytes = 1000 },
		"bad trusted MU":   func(c *Config) { c.TrustedMUs = []string{"not-an-address"} },
	}
	for name, mutate := range cases {
		c := testConfig(t)
		mutate(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
		if _, err := New(c); err == nil {
			t.Errorf("%s: New accepted", name)
		}
	}
}

func TestNodeServesSUUnderPrefix(t *testing.T) {
	n := startNode(t, testConfig(t))
	base := n.URL()
	if code, body := get(t, base+"/health"); code != 200 || body != `{"status":"ok","roles":["su","cu","mu","gateway"]}` {
		t.Fatalf("/health = %d %s", code, body)
	}
	want := fmt.Sprintf(`{"address":%q,"timestamp":"`, n.SU().Address())
	for _, path := range []string{"/su", "/su/", "/su?process-id=x"} {
		if code, body := get(t, base+path); code != 200 || !strings.HasPrefix(body, want) {
			t.Fatalf("GET %s = %d %s", path, code, body)
		}
	}
	if code, body := get(t, base+"/su/timestamp"); code != 200 || !strings.Contains(body, `"block_height":"000000000000"`) {
		t.Fatalf("/su/timestamp = %d %s", code, body)
	}
	if code, body := get(t, base+"/su/health"); code != 200 || body != "" {
		t.Fatalf("/su/health = %d %q", code, body)
	}

	client := seedSigner(2)
	p, err := dataitem.Sign(client, dataitem.Fields{Tags: []dataitem.Tag{
		{Name: "Data-Protocol", Value: "ao"}, {Name: "Type", Value: "Process"},
		{Name: "Module", Value: strings.Repeat("A", 43)}, {Name: "Scheduler", Value: n.SU().Address()},
	}})
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/su", "/su/"} {
		code, body := post(t, base+path, p.Raw())
		if path == "/su" && (code != 200 || !strings.Contains(body, p.ID())) {
			t.Fatalf("POST %s = %d %s", path, code, body)
		}
		if path == "/su/" && (code != 400 || body != fmt.Sprintf(`{"error":"Process %s already exists"}`, p.ID())) {
			t.Fatalf("POST %s again = %d %s", path, code, body)
		}
	}
	code, body := get(t, base+"/su/"+p.ID()+"?process-id="+p.ID())
	if code != 200 || !strings.HasPrefix(body, `{"page_info":{"has_next_page":false},"edges":[{"node":{"message":{"id":"`+p.ID()) {
		t.Fatalf("list = %d %s", code, body)
	}
	if code, body := get(t, base+"/su/processes/"+p.ID()); code != 200 || !strings.HasPrefix(body, `{"process_id":"`+p.ID()) {
		t.Fatalf("process = %d %s", code, body)
	}
	for _, path := range []string{"/metrics", "/su/metrics"} {
		code, body := get(t, base+path)
		if code != 200 || !strings.Contains(body, `su_schedule_requests_total{outcome="ok"} 1`) || !strings.Contains(body, "go_goroutines") {
			t.Fatalf("GET %s = %d\n%.300s", path, code, body)
		}
	}
	if code, _ := get(t, base+"/nothing"); code != 404 {
		t.Fatalf("/nothing = %d", code)
	}
}

// Two nodes in one process: separate stores, registries and keys.
func TestTwoNodesInOneProcess(t *testing.T) {
	c1, c2 := testConfig(t), testConfig(t)
	c2.Signer = seedSigner(5)
	n1, n2 := startNode(t, c1), startNode(t, c2)
	if n1.SU().Address() == n2.SU().Address() || n1.URL() == n2.URL() {
		t.Fatal("nodes share identity or address")
	}
	if code, _ := get(t, n2.URL()+"/metrics"); code != 200 {
		t.Fatal("metrics of the second node")
	}
}

func TestNodeKeyFileAndDataDir(t *testing.T) {
	dir := t.TempDir()
	signer, err := dataitem.GenerateKey(dataitem.ED25519)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := dataitem.MarshalKey(signer)
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(dir, "key.json")
	if err := os.WriteFile(keyFile, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t)
	cfg.Signer, cfg.KeyFile = nil, keyFile
	cfg.InMemory, cfg.DataDir = false, filepath.Join(dir, "data")
	n := startNode(t, cfg)
	want := dataitem.EncodeID(sha256Of(signer.Owner()))
	if n.SU().Address() != want {
		t.Fatalf("address %s, want %s", n.SU().Address(), want)
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}

	cfg.KeyFile = filepath.Join(dir, "missing.json")
	if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), "reading key") {
		t.Fatalf("missing key file: %v", err)
	}
	if err := os.WriteFile(cfg.KeyFile, []byte(`{"kty":"nope"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := New(cfg); err == nil {
		t.Fatal("bad key file accepted")
	}
}

func TestBlockHeightFromGateway(t *testing.T) {
	var height = `{"network":"arweave.N.1","height":1393008}`
	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/info" {
			http.NotFound(w, r)
			return
		}
		io.WriteString(w, height)
	}))
	defer gw.Close()
	cfg := testConfig(t)
	cfg.ArweaveURL = gw.URL + "/"
	cfg.ArweavePollInterval = 100 * time.Millisecond
	cfg.BlockHeight = 7
	n := startNode(t, cfg)
	deadline := time.Now().Add(10 * time.Second)
	for {
		var ts struct {
			BlockHeight string `json:"block_height"`
		}
		_, body := get(t, n.URL()+"/su/timestamp")
		if err := json.Unmarshal([]byte(body), &ts); err != nil {
			t.Fatal(err)
		}
		if ts.BlockHeight == "000001393008" {
			break
		}
		if ts.BlockHeight != "000000000007" || time.Now().After(deadline) {
			t.Fatalf("block_height %s", ts.BlockHeight)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestHeightSourceKeepsLastOnFailure(t *testing.T) {
	replies := []string{`{"height":10}`, `garbage`, `{"height":5}`, `{}`}
	i := 0
	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, replies[i])
	}))
	defer gw.Close()
	h := newHeightSource(3, gw.URL, time.Second, quietLogger())
	wantErr := []bool{false, true, false, true}
	for ; i < len(replies); i++ {
		err := h.poll(context.Background())
		if (err != nil) != wantErr[i] || h.get() != 10 {
			t.Fatalf("reply %d: err %v height %d", i, err, h.get())
		}
	}
}

func TestRunStopsOnCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, testConfig(t)) }()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not stop")
	}
}

func sha256Of(b []byte) []byte {
	s := sha256.Sum256(b)
	return s[:]
}
