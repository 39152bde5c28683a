package testnet

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

var binDir string

func TestMain(m *testing.M) {
	var err error
	if binDir, err = os.MkdirTemp("", "aonode-testnet-bin-"); err != nil {
		panic(err)
	}
	goleak.VerifyTestMain(m, goleak.Cleanup(func(code int) {
		_ = os.RemoveAll(binDir)
		os.Exit(code)
	}))
}

// buildAonode builds cmd/aonode once per test binary.
var buildAonode = sync.OnceValues(func() (string, error) {
	bin := filepath.Join(binDir, "aonode")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/aonode/aonode/cmd/aonode")
	cmd.Env = append(cmd.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", errors.New("building aonode: " + err.Error() + "\n" + string(out))
	}
	return bin, nil
})

// TestProcessTestnetSurvivesKilledNode starts three node processes, SIGKILLs one, checks the
// testnet keeps running and the others still answer, restarts the killed node from its
// config as a chaos run does, checks that it rejoins, and that stopping the testnet stops the
// restarted node too.
func TestProcessTestnetSurvivesKilledNode(t *testing.T) {
	if testing.Short() {
		t.Skip("builds aonode and starts three node processes")
	}
	bin, err := buildAonode()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	base, err := FreePorts(6)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- RunProcess(ctx, ProcessOptions{Nodes: 3, Dir: dir, BasePort: base, Roles: "mu,gateway;su;cu",
			Binary: bin, LogLevel: "warn", ReadyTimeout: time.Minute, StopTimeout: 10 * time.Second}, pw)
		pw.Close()
	}()
	lines := make(chan Line, 3)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			var l Line
			if json.Unmarshal(sc.Bytes(), &l) == nil {
				lines <- l
			}
		}
		close(lines)
	}()
	var got []Line
	for len(got) < 3 {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("testnet ended after %d lines: %v", len(got), <-done)
			}
			got = append(got, l)
		case <-time.After(90 * time.Second):
			t.Fatal("no three lines in time")
		}
	}
	for i, l := range got {
		if l.Index != i || l.PID <= 0 || l.Address == "" || l.Key == "" || l.Config == "" {
			t.Fatalf("line %d: %+v", i, l)
		}
	}
	st, err := ReadState(dir)
	if err != nil || len(st.Nodes) != 3 || st.Kind != KindProcess {
		t.Fatalf("state: %+v %v", st, err)
	}

	victim := got[1]
	if err := syscall.Kill(victim.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Timeout: 2 * time.Second}
	defer client.CloseIdleConnections()
	waitFor(t, 20*time.Second, "node 1 to be gone", func() bool {
		_, err := client.Get(victim.HTTP + "/health")
		return err != nil
	})
	select {
	case err := <-done:
		t.Fatalf("testnet stopped when a node was killed: %v", err)
	case <-time.After(time.Second):
	}
	for _, l := range []Line{got[0], got[2]} {
		if resp, err := client.Get(l.HTTP + "/health"); err != nil {
			t.Fatalf("node %d after the kill: %v", l.Index, err)
		} else {
			resp.Body.Close()
		}
	}

	// Restart from the config alone, as a person or a chaos run would.
	f := &Faults{st: st, bin: bin}
	if err := f.Restart(ctx, 1); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 60*time.Second, "node 1 to rejoin", func() bool {
		return ready(ctx, client, victim.HTTP, 3) && ready(ctx, client, got[0].HTTP, 3)
	})
	restarted, err := ReadState(dir)
	if err != nil || restarted.Nodes[1].PID == victim.PID || restarted.Nodes[1].PID <= 0 {
		t.Fatalf("state after restart: %+v %v", restarted, err)
	}

	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	f.Wait() // the restarted node was stopped by the testnet
	for _, l := range got {
		addr := "127.0.0.1:" + strconv.Itoa(base+2*l.Index)
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			t.Fatalf("node %d still listens on %s after testnet stopped", l.Index, addr)
		}
	}
}

func waitFor(t *testing.T, d time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s", d, what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
