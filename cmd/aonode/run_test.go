package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aonode/aonode/dataitem"
)

// lockedBuffer is written by the node's logger while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func writeTestKey(t *testing.T, dir string) string {
	t.Helper()
	s, err := dataitem.GenerateKey(dataitem.ED25519)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := dataitem.MarshalKey(s)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "key.json")
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestRunUsageErrors(t *testing.T) {
	dir := t.TempDir()
	key := writeTestKey(t, dir)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"run", "--data", dir}, "a key file is required"},
		{[]string{"run", "--key", key}, "a data directory is required"},
		{[]string{"run", "--key", key, "--data", dir, "--roles", "su,bogus"}, `unknown role "bogus"`},
		{[]string{"run", "--key", key, "--data", dir, "--log-level", "loud"}, "--log-level"},
		{[]string{"run", "--key", key, "--data", dir, "extra"}, `unexpected argument "extra"`},
		{[]string{"run", "--nope"}, "flag provided but not defined"},
	} {
		var stdout, stderr bytes.Buffer
		if code := runMain(context.Background(), c.args, &stdout, &stderr); code != 2 || !strings.Contains(stderr.String(), c.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", c.args, code, stderr.String(), c.want)
		}
	}
	var stdout, stderr bytes.Buffer
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code := runMain(context.Background(), []string{"run", "--key", bad, "--data", dir, "--http", "127.0.0.1:0"}, &stdout, &stderr); code != 1 {
		t.Errorf("bad key file: exit %d, %s", code, stderr.String())
	}
}

// run serves the SU under /su and exits 0 when its context ends (as on SIGINT/SIGTERM).
func TestRunServesUntilCancelled(t *testing.T) {
	dir := t.TempDir()
	key := writeTestKey(t, dir)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stderr lockedBuffer
	done := make(chan int, 1)
	go func() {
		done <- runMain(ctx, []string{"run", "--roles", "su", "--data", filepath.Join(dir, "data"), "--http", addr, "--key", key}, io.Discard, &stderr)
	}()
	client := &http.Client{Timeout: 5 * time.Second}
	defer client.CloseIdleConnections()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := client.Get("http://" + addr + "/su/timestamp")
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || !strings.Contains(string(body), `"block_height":"000000000000"`) {
				t.Fatalf("/su/timestamp = %d %s", resp.StatusCode, body)
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
		time.Sleep(10 * time.Millisecond)
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
	if log := stderr.String(); !strings.Contains(log, "node started") || !strings.Contains(log, "node stopped") {
		t.Fatalf("log: %s", log)
	}
}
