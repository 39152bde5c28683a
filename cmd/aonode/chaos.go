package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/aonode/aonode/node/clock"
	"github.com/aonode/aonode/node/testnet"
)

const chaosUsage = `testnet chaos --dir DIR --scenario NAME [flags]

Runs a workload on the running testnet in DIR (aonode testnet, with or without
--docker): it spawns --processes processes, each on another SU (plus the demo
process of --schedulers when its SUs serve it as a group), and sends --rate
messages a second to random processes through random MUs. After --before it
injects the fault, heals it after --during, goes on for --after, then waits for
every acknowledged message to be scheduled and prints a table: acknowledged,
lost, duplicated, gaps, slots identical on every SU member, results the CUs agree
on, gossip delivery and latency, time to recover, memory per node. Exit status 1
when an invariant fails.

Scenarios:
  none         the workload alone (the baseline; gossip figures at a rate)
  node-kill    SIGKILL the SU of a workload process, restart it
  leader-kill  SIGKILL the Raft leader of the demo group, restart it
  pause        docker pause / SIGSTOP, then resume (a hang, not a crash)
  partition    docker network disconnect of a fifth of the nodes, reconnect
               (containers only)
  latency      not possible: the scratch image has no tc (iproute2)`

func runChaos(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("testnet chaos", chaosUsage, stderr)
	dir := fs.String("dir", "", "the running testnet's directory (holds testnet.json)")
	scenario := fs.String("scenario", "", "one of: "+strings.Join(testnet.Scenarios, ", "))
	procs := fs.Int("processes", 4, "single-SU processes the workload spawns")
	rate := fs.Float64("rate", 20, "messages a second, all processes together")
	before := fs.Duration("before", 5*time.Second, "workload before the fault")
	during := fs.Duration("during", 10*time.Second, "how long the fault lasts")
	after := fs.Duration("after", 5*time.Second, "workload after the heal")
	recoverT := fs.Duration("recover", 90*time.Second, "how long every acknowledged message may take to be scheduled after the heal")
	seed := fs.Uint64("seed", uint64(time.Now().UnixNano()), "seed of the workload's choices")
	if err := parseFlagsNoArgs(fs, args); err != nil {
		return err
	}
	switch {
	case *dir == "":
		return usageError{"--dir is required"}
	case *scenario == "":
		return usageError{"--scenario is required"}
	case *procs < 1 || *procs > 64:
		return usageError{"--processes must be 1..64"}
	case *rate <= 0 || *rate > 1000:
		return usageError{"--rate must be in (0, 1000]"}
	}
	log := slog.New(slog.NewTextHandler(stderr, nil)).With("cmd", "chaos")
	_, err := testnet.Chaos(ctx, testnet.ChaosOptions{
		Dir: *dir, Scenario: *scenario, Processes: *procs, Rate: *rate,
		Before: *before, During: *during, After: *after, Recover: *recoverT, Seed: *seed,
		Clock: clock.Wall{}, Log: log,
	}, stdout)
	switch {
	case errors.Is(err, testnet.ErrOptions):
		return usageError{strings.TrimPrefix(err.Error(), "testnet: ")}
	case errors.Is(err, testnet.ErrUnsupported):
		return fmt.Errorf("scenario %s: %w", *scenario, err)
	}
	return err
}
