package cu

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/aonode/aonode/cu/module"
	"github.com/aonode/aonode/store"
)

// The restart test runs a CU in a child process (this test binary re-executed with childEnv
// set), kills it with SIGKILL while it is in the middle of a process's schedule, and resumes
// in the parent from what the child left on disk.
const childEnv = "AONODE_CU_TEST_CHILD"

func childConfig(db *store.DB, suURL, gwURL string, rt Runtime) (Config, error) {
	src, err := NewSUClient(suURL, SUClientOptions{PageSize: 10})
	if err != nil {
		return Config{}, err
	}
	gw, err := NewGateway(gwURL, nil, 0)
	if err != nil {
		return Config{}, err
	}
	return Config{
		Store: db, Signer: testSigner(), Source: src, Gateway: gw,
		Runtimes:        map[module.Format]Runtime{fakeFormat: rt},
		CheckpointEvery: 7, CommitEvery: 3, Registerer: prometheus.NewRegistry(), Logger: quietLogger(),
	}, nil
}

// runChild evaluates a process until it is killed; it never returns on the happy path.
func runChild() int {
	dir, suURL, gwURL, pid := os.Getenv("CU_DIR"), os.Getenv("CU_SU"), os.Getenv("CU_GW"), os.Getenv("CU_PID")
	opts := store.DefaultOptions(dir)
	opts.Logger = quietLogger()
	db, err := store.Open(opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, "child: open store:", err)
		return 3
	}
	cfg, err := childConfig(db, suURL, gwURL, &fakeRuntime{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 3
	}
	c, err := New(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 3
	}
	_, err = c.catchUp(context.Background(), pid, -1)
	fmt.Fprintln(os.Stderr, "child: catch-up returned (it should have been killed):", err)
	return 4
}

// evaluateAll runs a CU on db until pid is caught up and returns the CU's runtime.
func evaluateAll(t *testing.T, db *store.DB, su *fakeSU, gw *fakeGateway, pid string) (*fakeRuntime, float64) {
	t.Helper()
	rt := &fakeRuntime{}
	cfg, err := childConfig(db, su.URL(), gw.srv.URL, rt)
	if err != nil {
		t.Fatal(err)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.catchUp(context.Background(), pid, -1); err != nil {
		t.Fatal(err)
	}
	restores := counterValue(t, c.m.restores)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	return rt, restores
}

func allResults(t *testing.T, db *store.DB, pid string) []store.EvalResult {
	t.Helper()
	var out []store.EvalResult
	if err := db.EvalResults(pid, 0, 0, false, func(r store.EvalResult) bool {
		out = append(out, r)
		return true
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestRestartAfterSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child process")
	}
	su := newFakeSU(t)
	gw := newFakeGateway(t)
	mod := gw.addModule([]byte("fake wasm"), moduleTags(string(fakeFormat),
		Tag{Name: "Memory-Limit", Value: "1-mb"}, Tag{Name: "Compute-Limit", Value: "9000000"}))
	pid := su.addProcess(mod, false)
	const messages = 60
	for i := range messages {
		action := "Count"
		if i%9 == 4 {
			action = "Fail"
		}
		su.addMessage(pid, 1000, fmt.Sprintf("m%d", i), Tag{Name: "Action", Value: action})
	}

	// The child stops in the page that starts after slot 29: it has evaluated slots 0-29 and
	// checkpointed every 7 evaluations (the last at slot 27).
	reached := make(chan struct{})
	release := make(chan struct{})
	blocked := false
	su.mu.Lock()
	su.block = func(_ string, from int64) {
		su.mu.Lock()
		first := from >= 29 && !blocked
		if first {
			blocked = true
		}
		su.mu.Unlock()
		if first {
			close(reached)
			<-release
		}
	}
	su.mu.Unlock()

	dir := t.TempDir()
	var stderr bytes.Buffer
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=1", "CU_DIR="+dir, "CU_SU="+su.URL(), "CU_GW="+gw.srv.URL, "CU_PID="+pid)
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case <-reached:
	case err := <-exited:
		close(release)
		t.Fatalf("child exited early: %v\n%s", err, stderr.String())
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		<-exited
		close(release)
		t.Fatalf("child never reached slot 29\n%s", stderr.String())
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	err := <-exited
	close(release)
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("child: %v", err)
	}

	// Resume from what the child left.
	db := openStore(t, dir)
	defer db.Close()
	head, err := db.CUCheckpointHead(pid)
	if err != nil {
		t.Fatalf("the child left no checkpoint: %v", err)
	}
	var h checkpointHead
	if err := json.Unmarshal(head, &h); err != nil {
		t.Fatal(err)
	}
	if h.State.Nonce != 27 {
		t.Fatalf("child's checkpoint is at slot %d, want 27", h.State.Nonce)
	}
	rt, restores := evaluateAll(t, db, su, gw, pid)
	if restores != 1 {
		t.Fatalf("resumed %v times from a checkpoint, want 1", restores)
	}
	if got, want := rt.handles.Load(), int64(messages-27); got != want {
		t.Fatalf("resumed CU evaluated %d messages, want %d (slots 28-%d)", got, want, messages)
	}
	resumed := allResults(t, db, pid)

	// An uninterrupted run for comparison.
	ref := openStore(t, "")
	defer ref.Close()
	refRT, _ := evaluateAll(t, ref, su, gw, pid)
	if got := refRT.handles.Load(); got != messages+1 {
		t.Fatalf("uninterrupted run evaluated %d messages", got)
	}
	want := allResults(t, ref, pid)
	if len(resumed) != len(want) || len(want) != messages+1 {
		t.Fatalf("%d results after restart, %d uninterrupted", len(resumed), len(want))
	}
	for i := range want {
		a, b := resumed[i], want[i]
		if a.Nonce != b.Nonce || !bytes.Equal(a.Result, b.Result) || !bytes.Equal(a.MemorySHA256, b.MemorySHA256) || !bytes.Equal(a.Attestation, b.Attestation) {
			t.Fatalf("slot %d differs after restart:\n%+v\n%+v", i, a, b)
		}
	}
	ha, _ := db.CUCheckpointHead(pid)
	hb, _ := ref.CUCheckpointHead(pid)
	var ca, cb checkpointHead
	_ = json.Unmarshal(ha, &ca)
	_ = json.Unmarshal(hb, &cb)
	if ca.State.Nonce != messages || !bytes.Equal(ca.State.MemorySHA, cb.State.MemorySHA) {
		t.Fatalf("final memory differs: %x at %d vs %x at %d", ca.State.MemorySHA, ca.State.Nonce, cb.State.MemorySHA, cb.State.Nonce)
	}
}

func counterValue(t testing.TB, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}
