package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/aonode/aonode/mu"
	"github.com/aonode/aonode/node"
)

const runUsage = `run [--roles su,cu,mu,gateway] --data DIR --key FILE [--http ADDR] [flags]
   or: run --config FILE [flags overriding the file]

With --config the node is described by a YAML file (roles, key, data dir,
listen addresses, p2p bootstrap peers, limits; see configs/ and node.File);
a p2p node finds the SUs and CUs it lacks through the node directory.

Runs a node until SIGINT or SIGTERM. One HTTP listener serves every role under
its prefix, each a drop-in base URL for reference clients: the SU at /su, the
CU at /cu, the MU at /mu, and the gateway look-ups (/graphql, /raw/{id}, /{id},
POST /tx) at the root; plus /health and /metrics. Roles default to all four.
The key file is a JWK (aonode keygen): ed25519 by default, or an Arweave RSA
wallet; every role signs with it.

A node without the su role names the SU its CU reads and its MU sends to with
--su URL (e.g. http://host:8734/su); without the cu role its MU needs --cu URL;
without the gateway role its CU loads modules from --gateway URL (optional).

Scheduler-Location: a node with the su role signs one (Url = --public-url's
/su, Time-To-Live --scheduler-location-ttl) at start and re-signs it before
half its Time-To-Live has passed; its gateway, and on a p2p network every
node's gateway, answers the GraphQL look-up of aoconnect and
ao-scheduler-utils with it.

Block-Height: with --arweave URL the node polls URL/info every --arweave-poll
for the current height, as the reference SU does; without it every assignment
carries the fixed --block-height (default 0).`

func runCommand() command {
	return command{name: "run", summary: "run a node (SU, CU, MU, gateway) until interrupted", run: runRun}
}

// nodeFlags are the flags run and dev share.
type nodeFlags struct {
	cfg   node.Config
	roles *string
	level *string
}

// addNodeFlags registers the node flags; withRoles adds --roles (dev always runs all roles).
func addNodeFlags(fs *flag.FlagSet, cfg node.Config, defaultLevel string, withRoles bool) *nodeFlags {
	f := &nodeFlags{cfg: cfg}
	roles := strings.Join(cfg.Roles, ",")
	f.roles = &roles
	if withRoles {
		fs.StringVar(f.roles, "roles", roles, "comma-separated roles to run: su, cu, mu, gateway")
	}
	fs.StringVar(&f.cfg.HTTPAddr, "http", cfg.HTTPAddr, "HTTP listen address host:port")
	fs.StringVar(&f.cfg.SUURL, "su", "", "SU base URL for a node without the su role")
	fs.StringVar(&f.cfg.CUURL, "cu", "", "CU base URL for a node with the mu role and without the cu role")
	fs.StringVar(&f.cfg.GatewayURL, "gateway", "", "gateway URL the CU loads modules from, for a node without the gateway role")
	fs.Int64Var(&f.cfg.MaxItemBytes, "max-item-bytes", cfg.MaxItemBytes, "largest item accepted by POST")
	fs.Uint64Var(&f.cfg.BlockHeight, "block-height", cfg.BlockHeight, "Block-Height stamped on assignments when no gateway answers")
	fs.StringVar(&f.cfg.ArweaveURL, "arweave", "", "Arweave gateway URL polled for the block height (optional)")
	fs.DurationVar(&f.cfg.ArweavePollInterval, "arweave-poll", cfg.ArweavePollInterval, "how often to poll the gateway")
	cronUsage := "how often the MU polls the crons of monitored processes"
	if cfg.CronInterval == 0 {
		// The flag package shows no default for a zero value; zero means the MU's own.
		cronUsage += " (default " + mu.DefaultCronInterval.String() + ")"
	}
	fs.DurationVar(&f.cfg.CronInterval, "cron-interval", cfg.CronInterval, cronUsage)
	fs.StringVar(&f.cfg.PublicURL, "public-url", cfg.PublicURL, "base URL clients and other nodes reach this node at: its /su is the Url of the SU's Scheduler-Location (default: the listener's)")
	fs.DurationVar(&f.cfg.SchedulerLocationTTL, "scheduler-location-ttl", cfg.SchedulerLocationTTL, "Time-To-Live of the SU's Scheduler-Location: how long clients cache it")
	fs.DurationVar(&f.cfg.ShutdownTimeout, "shutdown-timeout", cfg.ShutdownTimeout, "how long in-flight requests get on shutdown")
	fs.DurationVar(&f.cfg.StoreBatchDelay, "store-batch-delay", cfg.StoreBatchDelay, "how long the store may wait to gather more writes into one fsync")
	raft := cfg.Raft.WithDefaults()
	fs.DurationVar(&f.cfg.Raft.Heartbeat, "raft-heartbeat", raft.Heartbeat, "Raft heartbeat timeout of multi-scheduler groups: a follower stands for election after 1-2x this without the leader (raise above WAN round trips)")
	fs.DurationVar(&f.cfg.Raft.Election, "raft-election", raft.Election, "Raft election timeout (at least --raft-heartbeat)")
	fs.DurationVar(&f.cfg.Raft.LeaderLease, "raft-leader-lease", raft.LeaderLease, "Raft leader lease: a leader cut off from its majority steps down after this (at most --raft-heartbeat)")
	fs.DurationVar(&f.cfg.Raft.Commit, "raft-commit", raft.Commit, "how soon followers learn a new commit index when no entries flow")
	fs.StringVar(&f.cfg.CompileCacheDir, "cache-dir", cfg.CompileCacheDir, "where the CU keeps compiled module machine code across restarts, bounded to 1 GiB (default: DATA/wasm-cache)")
	f.level = fs.String("log-level", defaultLevel, "log level: debug, info, warn or error")
	addLimitFlags(fs, &f.cfg.Limits)
	fs.Func("trusted-mu", "comma-separated wallet addresses of other nodes' MUs whose pushes the SU accepts", func(v string) error {
		f.cfg.TrustedMUs = append(f.cfg.TrustedMUs, splitList(v)...)
		return nil
	})
	fs.Func("follow", `comma-separated process ids the CU computes from the start, or "all": every process the node hears of (watchtowers)`, func(v string) error {
		f.cfg.Follow = append(f.cfg.Follow, splitList(v)...)
		return nil
	})
	fs.IntVar(&f.cfg.ResultQuorum, "result-quorum", cfg.ResultQuorum, "distinct CUs that must attest the same result before the MU cranks its outbox (1: the one CU asked)")
	return f
}

// addLimitFlags registers a flag for every node.Limits field; the README's operator section
// lists them.
func addLimitFlags(fs *flag.FlagSet, l *node.Limits) {
	fs.DurationVar(&l.ReadHeaderTimeout, "read-header-timeout", l.ReadHeaderTimeout, "how long a client may take to send its request headers")
	fs.IntVar(&l.UploadsPerAddr, "uploads-per-addr", l.UploadsPerAddr, "request bodies one client address may have in flight (-1: no limit)")
	fs.Int64Var(&l.BodyMinRate, "body-min-rate", l.BodyMinRate, "bytes/s a request body must keep arriving at after --body-grace (-1: no minimum)")
	fs.DurationVar(&l.BodyGrace, "body-grace", l.BodyGrace, "how long a request body may take before --body-min-rate applies")
	fs.IntVar(&l.DryRunConcurrency, "dry-run-concurrency", l.DryRunConcurrency, "dry-runs evaluating at once (default: the number of CPUs)")
	fs.IntVar(&l.DryRunPerProcess, "dry-run-per-process", l.DryRunPerProcess, "dry-runs of one process running or queued at once")
	fs.IntVar(&l.DryRunQueue, "dry-run-queue", l.DryRunQueue, "dry-runs waiting for a slot before 503 (-1: none)")
	fs.DurationVar(&l.DryRunTimeout, "dry-run-timeout", l.DryRunTimeout, "wall-clock cap of one dry-run (it waits at most twice that for a slot)")
	fs.Float64Var(&l.DryRunRate, "dry-run-rate", l.DryRunRate, "dry-runs per second one client address may start (-1: no limit)")
	fs.IntVar(&l.DryRunBurst, "dry-run-burst", l.DryRunBurst, "burst of dry-runs one client address may start at once")
	fs.DurationVar(&l.EvalTimeout, "eval-timeout", l.EvalTimeout, "wall-clock cap of one message's evaluation: past it nothing is recorded and the process pauses (negative, e.g. -1s: no cap)")
	fs.Uint64Var(&l.CUMaxMemoryBytes, "cu-max-memory", l.CUMaxMemoryBytes, "largest Memory-Limit (bytes) the CU runs")
	fs.Uint64Var(&l.CUMaxCompute, "cu-max-compute", l.CUMaxCompute, "largest Compute-Limit the CU runs")
	fs.Int64Var(&l.CUMemoryBudgetBytes, "cu-memory-budget", l.CUMemoryBudgetBytes, "bytes of memory live processes and dry-runs may hold in the CU")
}

// config completes the Config from the parsed flags; logs go to stderr.
func (f *nodeFlags) config(stderr io.Writer) (node.Config, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(*f.level)); err != nil {
		return node.Config{}, usageError{fmt.Sprintf("--log-level: %v", err)}
	}
	cfg := f.cfg
	cfg.Roles = nil
	for _, r := range strings.Split(*f.roles, ",") {
		if r = strings.TrimSpace(r); r != "" {
			cfg.Roles = append(cfg.Roles, r)
		}
	}
	cfg.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: lvl}))
	return cfg, nil
}

func runRun(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if path, ok := configArg(args); ok {
		return runWithConfig(ctx, path, args, stderr)
	}
	fs := newFlagSet("run", runUsage, stderr)
	nf := addNodeFlags(fs, node.DefaultConfig(), "info", true)
	dataDir := fs.String("data", "", "data directory (created if missing)")
	keyFile := fs.String("key", "", "node key file (JWK)")
	if err := parseFlagsNoArgs(fs, args); err != nil {
		return err
	}
	cfg, err := nf.config(stderr)
	if err != nil {
		return err
	}
	cfg.DataDir, cfg.KeyFile = *dataDir, *keyFile
	if err := cfg.Validate(); err != nil {
		return usageError{err.Error()}
	}
	return node.Run(ctx, cfg)
}
