package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aonode/aonode/node"
	"github.com/aonode/aonode/node/testnet"
)

func TestConfigArg(t *testing.T) {
	for _, c := range []struct {
		args []string
		path string
		ok   bool
	}{
		{[]string{"--config", "a.yaml"}, "a.yaml", true},
		{[]string{"--http", "x", "-config=b.yaml"}, "b.yaml", true},
		{[]string{"--config"}, "", true},
		{[]string{"--data", "config"}, "", false},
		{[]string{"--", "--config", "c"}, "", false},
	} {
		if p, ok := configArg(c.args); p != c.path || ok != c.ok {
			t.Errorf("%v: %q %v", c.args, p, ok)
		}
	}
}

func TestRunConfigUsageErrors(t *testing.T) {
	dir := t.TempDir()
	noP2P := filepath.Join(dir, "plain.yaml")
	if err := os.WriteFile(noP2P, []byte("roles: [su]\nkey: k.json\ndata: d\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"run", "--config"}, "--config needs a file"},
		{[]string{"run", "--config", filepath.Join(dir, "missing.yaml")}, "config file"},
		{[]string{"run", "--config", noP2P, "--bootstrap", "/ip4/127.0.0.1/tcp/1"}, "need p2p enabled"},
		{[]string{"run", "--config", noP2P, "--roles", "su,bogus"}, `unknown role "bogus"`},
	} {
		var stdout, stderr bytes.Buffer
		if code := runMain(context.Background(), c.args, &stdout, &stderr); code != 2 || !strings.Contains(stderr.String(), c.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", c.args, code, stderr.String(), c.want)
		}
	}
}

// run --config starts a p2p node from the file; a flag overrides the file's HTTP address.
func TestRunConfigServesPeers(t *testing.T) {
	dir := t.TempDir()
	writeTestKey(t, dir)
	base, err := testnet.FreePorts(2)
	if err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "node.yaml")
	body := "roles: [su]\nkey: key.json\ndata: data\nhttp: 127.0.0.1:1\nlog-level: info\n" +
		"p2p:\n  enabled: true\n  dht: false\n  listen: [/ip4/127.0.0.1/tcp/" + strconv.Itoa(base+1) + "]\n"
	if err := os.WriteFile(cfgPath, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(base)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stderr lockedBuffer
	done := make(chan int, 1)
	go func() {
		done <- runMain(ctx, []string{"run", "--config", cfgPath, "--http", addr}, io.Discard, &stderr)
	}()
	client := &http.Client{Timeout: 5 * time.Second}
	defer client.CloseIdleConnections()
	deadline := time.Now().Add(30 * time.Second)
	var pr node.PeersReply
	for {
		resp, err := client.Get("http://" + addr + "/peers")
		if err == nil {
			err = json.NewDecoder(resp.Body).Decode(&pr)
			resp.Body.Close()
			if err != nil || resp.StatusCode != 200 {
				t.Fatalf("/peers: %d %v", resp.StatusCode, err)
			}
			break
		}
		select {
		case code := <-done:
			t.Fatalf("run exited %d early: %s", code, stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("node not reachable: %v\n%s", err, stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if pr.Self.PeerID == "" || len(pr.Peers) != 0 {
		t.Fatalf("/peers of a lone node: %+v", pr)
	}
	if _, err := os.Stat(filepath.Join(dir, "data")); err != nil {
		t.Fatalf("data dir relative to the config file: %v", err)
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("run did not stop")
	}
}
