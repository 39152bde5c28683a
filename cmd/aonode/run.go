package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/aonode/aonode/node"
)

const runUsage = `run --roles su --data DIR --http ADDR --key FILE [flags]

Runs a node until SIGINT or SIGTERM. One HTTP listener serves every role under
its prefix (the SU API at /su, a drop-in SU base URL) plus /health and /metrics.
The key file is a JWK (aonode keygen): ed25519 by default, or an Arweave RSA
wallet; the SU signs its assignments with it.

Block-Height: with --arweave URL the node polls URL/info every --arweave-poll
for the current height, as the reference SU does; without it every assignment
carries the fixed --block-height (default 0).`

func runCommand() command {
	return command{name: "run", summary: "run a node (scheduler unit) until interrupted", run: runRun}
}

func runRun(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg := node.DefaultConfig()
	fs := newFlagSet("run", runUsage, stderr)
	roles := fs.String("roles", strings.Join(cfg.Roles, ","), "comma-separated roles to run (su)")
	fs.StringVar(&cfg.DataDir, "data", "", "data directory (created if missing)")
	fs.StringVar(&cfg.HTTPAddr, "http", cfg.HTTPAddr, "HTTP listen address host:port")
	fs.StringVar(&cfg.KeyFile, "key", "", "node key file (JWK)")
	fs.Int64Var(&cfg.MaxItemBytes, "max-item-bytes", cfg.MaxItemBytes, "largest item accepted by POST")
	fs.Uint64Var(&cfg.BlockHeight, "block-height", cfg.BlockHeight, "Block-Height stamped on assignments when no gateway answers")
	fs.StringVar(&cfg.ArweaveURL, "arweave", "", "Arweave gateway URL polled for the block height (optional)")
	fs.DurationVar(&cfg.ArweavePollInterval, "arweave-poll", cfg.ArweavePollInterval, "how often to poll the gateway")
	fs.DurationVar(&cfg.ShutdownTimeout, "shutdown-timeout", cfg.ShutdownTimeout, "how long in-flight requests get on shutdown")
	fs.DurationVar(&cfg.StoreBatchDelay, "store-batch-delay", cfg.StoreBatchDelay, "how long the store may wait to gather more writes into one fsync")
	level := fs.String("log-level", "info", "log level: debug, info, warn or error")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("unexpected argument %q", fs.Arg(0))}
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(*level)); err != nil {
		return usageError{fmt.Sprintf("--log-level: %v", err)}
	}
	cfg.Roles = nil
	for _, r := range strings.Split(*roles, ",") {
		if r = strings.TrimSpace(r); r != "" {
			cfg.Roles = append(cfg.Roles, r)
		}
	}
	cfg.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: lvl}))
	if err := cfg.Validate(); err != nil {
		return usageError{err.Error()}
	}
	return node.Run(ctx, cfg)
}
