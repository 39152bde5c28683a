package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/aonode/aonode/node"
	"github.com/aonode/aonode/node/testnet"
)

// TestTestnetStartsConnectsAndStops builds aonode, runs testnet with three nodes, reads the
// three JSON lines, checks every node's /peers, then interrupts testnet and checks that every
// node is gone. A second start reuses the keys: same peer IDs.
func TestTestnetStartsConnectsAndStops(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and starts three node processes")
	}
	bin := filepath.Join(t.TempDir(), "aonode")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building aonode: %v\n%s", err, out)
	}
	dir := t.TempDir()
	first := runTestnetOnce(t, bin, dir)
	second := runTestnetOnce(t, bin, dir)
	if !slices.Equal(first, second) {
		t.Fatalf("peer IDs changed across restarts: %v then %v", first, second)
	}
}

func runTestnetOnce(t *testing.T, bin, dir string) []string {
	t.Helper()
	base, err := testnet.FreePorts(6)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "testnet", "--nodes", "3", "--dir", dir, "--base-port", strconv.Itoa(base),
		"--roles", "mu,gateway;su;cu", "--ready-timeout", "60s", "--log-level", "warn")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := &lockedBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	lines := make(chan testnet.Line, 3)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			var l testnet.Line
			if json.Unmarshal(sc.Bytes(), &l) == nil {
				lines <- l
			}
		}
		close(lines)
		exited <- cmd.Wait()
	}()
	stopped := false
	defer func() {
		if stopped {
			return
		}
		// A failed check: interrupt testnet so it stops its nodes (they run in their own
		// process group and would outlive a kill), and kill it only if it hangs.
		_ = cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-exited:
		case <-time.After(45 * time.Second):
			_ = cmd.Process.Kill()
		}
	}()

	var got []testnet.Line
	deadline := time.After(90 * time.Second)
	for len(got) < 3 {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("testnet ended after %d lines: %s", len(got), stderr.String())
			}
			got = append(got, l)
		case <-deadline:
			t.Fatalf("no three lines in time; stderr: %s", stderr.String())
		}
	}
	wantRoles := [][]string{{"mu", "gateway"}, {"su"}, {"cu"}}
	var ids []string
	client := &http.Client{Timeout: 5 * time.Second}
	defer client.CloseIdleConnections()
	for i, l := range got {
		if !slices.Equal(l.Roles, wantRoles[i]) || l.HTTP != "http://127.0.0.1:"+strconv.Itoa(base+2*i) || l.PeerID == "" ||
			l.Index != i || l.PID <= 0 || l.Address == "" || l.Config != filepath.Join(dir, "node-"+strconv.Itoa(i), "config.yaml") {
			t.Fatalf("line %d: %+v", i, l)
		}
		ids = append(ids, l.PeerID)
		resp, err := client.Get(l.HTTP + "/peers")
		if err != nil {
			t.Fatal(err)
		}
		var pr node.PeersReply
		err = json.NewDecoder(resp.Body).Decode(&pr)
		resp.Body.Close()
		if err != nil || pr.Self.PeerID != l.PeerID {
			t.Fatalf("/peers of node %d: %+v (%v)", i, pr, err)
		}
		connected := 0
		for _, p := range pr.Peers {
			if p.Connected {
				connected++
			}
		}
		if connected != 2 {
			t.Fatalf("node %d is connected to %d nodes: %+v", i, connected, pr.Peers)
		}
	}

	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	stopped = true
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("testnet exit: %v; stderr: %s", err, stderr.String())
		}
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("testnet did not stop; stderr: %s", stderr.String())
	}
	for i := range 3 {
		addr := "127.0.0.1:" + strconv.Itoa(base+2*i)
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			t.Fatalf("node %d still listens on %s after testnet stopped", i, addr)
		}
		var op *net.OpError
		if !errors.As(err, &op) {
			t.Fatalf("dialing %s: %v", addr, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "node-1", "key.json")); err != nil {
		t.Fatalf("node key: %v", err)
	}
	return ids
}
