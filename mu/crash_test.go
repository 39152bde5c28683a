package mu

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aonode/aonode/dataitem"
	"github.com/aonode/aonode/store"
)

// The crash test runs the MU in a child process (this test binary, re-executed with
// crashChildEnv set) against a fake SU and CU that live in the parent, so the parent sees
// every POST the child makes, and kills the child with SIGKILL in the middle of the crank.
const (
	crashChildEnv = "AONODE_MU_CRASH_CHILD"
	crashDirEnv   = "AONODE_MU_CRASH_DIR"
	crashSUEnv    = "AONODE_MU_CRASH_SU"
	crashCUEnv    = "AONODE_MU_CRASH_CU"
	crashSeedEnv  = "AONODE_MU_CRASH_SEED"
)

// runCrashChild is the child's main: open the store, resume the queue, submit the root
// message on the first run, and exit once nothing is left to crank.
func runCrashChild() int {
	opts := store.DefaultOptions(os.Getenv(crashDirEnv))
	opts.GCInterval = -1
	opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	db, err := store.Open(opts)
	if err != nil {
		fmt.Println("open:", err)
		return 2
	}
	m, err := New(Config{
		Store: db, Signer: keyFromSeed("mu"), Router: StaticRouter{Default: os.Getenv(crashSUEnv)},
		CUURL: os.Getenv(crashCUEnv), Workers: 4, RetryBase: 2 * time.Millisecond,
		RetryMax: 50 * time.Millisecond, MaxAttempts: 1 << 20, CronInterval: time.Hour,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err == nil {
		err = m.Start()
	}
	if err != nil {
		fmt.Println("start:", err)
		return 2
	}
	if path := os.Getenv(crashSeedEnv); path != "" {
		raw, err := os.ReadFile(path)
		if err != nil {
			fmt.Println("seed:", err)
			return 2
		}
		it, err := dataitem.ParseVerified(raw)
		if err == nil {
			err = m.Submit(it)
		}
		if err != nil {
			fmt.Println("submit:", err)
			return 2
		}
	}
	for m.Pending() > 0 {
		time.Sleep(5 * time.Millisecond)
	}
	dead, err := m.DeadLetters()
	_ = m.Close()
	_ = db.Close()
	if err != nil {
		fmt.Println("dead letters:", err)
		return 2
	}
	fmt.Printf("dead=%d\n", dead)
	return 0
}

// treeProgram: a Message with Action=Tree and Depth=d>0 sends fanout messages (Depth d-1) to
// the processes in turn; the root (Root=1) also spawns a process and assigns itself to procs[1].
func treeProgram(procs []string, fanout int) program {
	return func(pid string, it *dataitem.Item) map[string]any {
		if len(it.Target) != 32 || dataitem.EncodeID(it.Target) != pid {
			return nil // a boot, or an assigned message
		}
		if a, _ := it.Tag("Action"); a != "Tree" {
			return nil
		}
		v, _ := it.Tag("Depth")
		d, _ := strconv.Atoi(v)
		res := emptyResult()
		var msgs []any
		for i := 0; d > 0 && i < fanout; i++ {
			msgs = append(msgs, outMsg(procs[(i+d)%len(procs)], anchorFor(it.ID(), i),
				Tag{Name: "Action", Value: "Tree"}, Tag{Name: "Depth", Value: strconv.Itoa(d - 1)}))
		}
		res["Messages"] = msgs
		if r, _ := it.Tag("Root"); r == "1" {
			res["Spawns"] = []any{map[string]any{"Anchor": anchorFor(it.ID(), 99), "Data": "child",
				"Tags": []Tag{{Name: "Module", Value: "module-child"}, {Name: "Action", Value: "Spawn"}}}}
			res["Assignments"] = []any{map[string]any{"Processes": []string{procs[1]}, "Message": it.ID()}}
		}
		return res
	}
}

func TestCrashResume(t *testing.T) {
	// AONODE_SOAK=1: a deeper tree (3279 messages) and 60 kills instead of 363 and 12.
	fanout, depth, wantKills := 3, 5, 12
	if os.Getenv("AONODE_SOAK") != "" {
		depth, wantKills = 7, 60
	}
	su := newFakeSU(t)
	user := keyFromSeed("user")
	var procs []string
	for i := range 3 {
		p := processItem(t, user, su.addr, fmt.Sprintf("module-%d", i))
		su.install(t, p)
		procs = append(procs, p.ID())
	}
	cu := newFakeCU(t, treeProgram(procs, fanout), su)
	root := messageItem(t, user, procs[0], dataitem.Tag{Name: "Action", Value: "Tree"},
		dataitem.Tag{Name: "Depth", Value: strconv.Itoa(depth)}, dataitem.Tag{Name: "Root", Value: "1"})
	dir := t.TempDir()
	seed := filepath.Join(dir, "root.item")
	if err := os.WriteFile(seed, root.Raw(), 0o600); err != nil {
		t.Fatal(err)
	}
	storeDir := filepath.Join(dir, "store")

	tree := 0
	for k, n := 1, 1; k <= depth; k++ {
		n *= fanout
		tree += n
	}
	wantAccepted := 1 + tree + 1 + 1 // root, the tree, the spawned process, its Spawned notice

	kills := 0
	var out bytes.Buffer
	for run := 0; ; run++ {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashResume$")
		cmd.Env = append(os.Environ(), crashChildEnv+"=1", crashDirEnv+"="+storeDir,
			crashSUEnv+"="+su.srv.URL, crashCUEnv+"="+cu.srv.URL)
		if run == 0 {
			cmd.Env = append(cmd.Env, crashSeedEnv+"="+seed)
		}
		out.Reset()
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		if kills < wantKills {
			target := su.count() + 5 + rand.IntN(20)
			exited := false
			deadline := time.Now().Add(60 * time.Second)
			for su.count() < target && !exited {
				select {
				case <-done:
					exited = true
				default:
					if time.Now().After(deadline) {
						_ = cmd.Process.Kill()
						<-done
						t.Fatalf("run %d made no progress; output:\n%s", run, out.String())
					}
					time.Sleep(time.Millisecond)
				}
			}
			if exited {
				t.Fatalf("the crank finished after only %d kills (%d items); output:\n%s", kills, su.count(), out.String())
			}
			if err := cmd.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			<-done
			kills++
			continue
		}
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("final run: %v; output:\n%s", err, out.String())
			}
		case <-time.After(120 * time.Second):
			_ = cmd.Process.Kill()
			<-done
			t.Fatalf("final run did not finish; output:\n%s", out.String())
		}
		break
	}
	if !strings.Contains(out.String(), "dead=0\n") {
		t.Fatalf("final run output:\n%s", out.String())
	}

	accepted, order := su.snapshot()
	for id, n := range accepted {
		if n != 1 {
			t.Errorf("item %s scheduled %d times", id, n)
		}
	}
	if len(order) != wantAccepted {
		t.Errorf("SU scheduled %d items, want %d", len(order), wantAccepted)
	}
	// Every logical outbox message (its sender's anchor and target) arrived once: a re-built
	// item with a new id would show up here as a repeat.
	seen := map[string]bool{}
	su.mu.Lock()
	for _, id := range order {
		it := su.items[id]
		if a, _ := it.Tag("Action"); a == "Tree" && len(it.Anchor) > 0 {
			k := dataitem.EncodeID(it.Target) + "/" + string(it.Anchor)
			if seen[k] {
				t.Errorf("outbox message %s delivered twice", k)
			}
			seen[k] = true
		}
	}
	assigned := su.assigns[procs[1]+"|"+root.ID()]
	posts, dups := su.posts, su.dups
	su.mu.Unlock()
	if len(seen) != tree {
		t.Errorf("%d distinct tree messages delivered, want %d", len(seen), tree)
	}
	if assigned != 1 {
		t.Errorf("root assigned %d times, want 1", assigned)
	}
	t.Logf("%d kills; %d items scheduled once each; %d POSTs (%d refused as duplicates after restarts)",
		kills, len(order), posts, dups)
}
