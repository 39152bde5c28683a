package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/aonode/aonode/dataitem"
	"github.com/aonode/aonode/dataitem/aoapi"
	"github.com/aonode/aonode/node"
)

// DefaultDevDataDir is where aonode dev keeps its store, key and compiled modules, relative
// to the current directory.
const DefaultDevDataDir = ".aonode-dev"

const devUsage = `dev [--data DIR] [--http ADDR] [--key FILE] [--module FILE.wasm [--module-format F]] [flags]

Runs a whole AO network on one node, until SIGINT or SIGTERM: SU, CU, MU and
gateway on one listener (default ` + "127.0.0.1:8734" + `, the client commands'
default --node), with the store in DIR (default ./` + DefaultDevDataDir + `, created if
missing: DIR/store, DIR/wasm-cache). The node key is DIR/key.json, an ed25519
key made on the first run, unless --key names an existing key (ed25519 or an
Arweave RSA JWK); every role signs with it and its address is the scheduler
address to spawn with.

It prints the units' URLs and the aoconnect connect({...}) settings that use
them. --module FILE publishes a module at start and prints its id; its
Module-Format is --module-format, by default wasm32-wasip1-aonode when the
binary exports aonode_handle and wasm32-unknown-emscripten2 otherwise, with
Memory-Limit --module-memory-limit and Compute-Limit --module-compute-limit.`

func devCommand() command {
	return command{name: "dev", summary: "run all roles on one node for development", run: runDev}
}

func runDev(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fset := newFlagSet("dev", devUsage, stderr)
	def := node.DefaultConfig()
	def.CronInterval = time.Second // crons answer quickly on a dev node
	nf := addNodeFlags(fset, def, "warn", false)
	dataDir := fset.String("data", DefaultDevDataDir, "data directory (created if missing)")
	keyFile := fset.String("key", "", "existing key file (JWK) for every role; default DIR/key.json, made on first run")
	modFile := fset.String("module", "", "module binary to publish at start (optional)")
	modFormat := fset.String("module-format", "", "Module-Format of --module (default: detected)")
	modMem := fset.String("module-memory-limit", defaultMemoryLimit, "Memory-Limit tag of --module")
	modCompute := fset.String("module-compute-limit", defaultComputeLimit, "Compute-Limit tag of --module")
	if err := parseFlagsNoArgs(fset, args); err != nil {
		return err
	}
	if *dataDir == "" {
		return usageError{"--data must not be empty"}
	}
	if !memoryLimitPattern.MatchString(*modMem) {
		return usageError{fmt.Sprintf("--module-memory-limit %q is not a size like 512-mb", *modMem)}
	}
	cfg, err := nf.config(stderr)
	if err != nil {
		return err
	}
	var wasm []byte
	if *modFile != "" {
		if wasm, err = os.ReadFile(*modFile); err != nil {
			return fmt.Errorf("--module: %w", err)
		}
		if !bytes.HasPrefix(wasm, []byte("\x00asm")) {
			return fmt.Errorf("--module %s is not a WebAssembly binary (no \\0asm header)", *modFile)
		}
		if *modFormat == "" {
			*modFormat = detectFormat(wasm)
		}
	}
	if err := os.MkdirAll(*dataDir, 0o700); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	keyNote := "given with --key"
	cfg.KeyFile = *keyFile
	if cfg.KeyFile == "" {
		cfg.KeyFile = filepath.Join(*dataDir, "key.json")
		made, err := ensureKey(cfg.KeyFile)
		if err != nil {
			return err
		}
		keyNote = "made on an earlier run"
		if made {
			keyNote = "made now"
		}
	}
	cfg.DataDir = filepath.Join(*dataDir, "store")
	if cfg.CompileCacheDir == "" {
		cfg.CompileCacheDir = filepath.Join(*dataDir, "wasm-cache")
	}
	cfg.Roles = node.AllRoles
	if err := cfg.Validate(); err != nil {
		return usageError{err.Error()}
	}
	n, err := node.New(cfg)
	if err != nil {
		return err
	}
	stop := func(err error) error { return errors.Join(err, n.Close()) }

	var modID string
	if wasm != nil {
		signer, err := loadSigner(cfg.KeyFile)
		if err != nil {
			return stop(err)
		}
		nc := &nodeClient{base: n.URLs().Node, api: &aoapi.Client{HTTP: n.HTTPClient(), MaxResponseBytes: maxReplyBytes}}
		it, err := uploadModule(ctx, nc, signer, wasm, moduleSpec{format: *modFormat, memoryLimit: *modMem, computeLimit: *modCompute})
		if err != nil {
			return stop(fmt.Errorf("--module: %w", err))
		}
		modID = it.ID()
	}
	printBanner(stdout, n, *dataDir, cfg.KeyFile, keyNote, modID, *modFormat, *modFile)

	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-n.Err():
	}
	err = stop(serveErr)
	if err == nil {
		fmt.Fprintln(stdout, "aonode dev: stopped")
	}
	return err
}

// ensureKey makes an ed25519 key at path unless a file is there; it reports whether it made
// one. An existing file is read by the node, which reports it if it is not a key.
func ensureKey(path string) (bool, error) {
	if _, err := os.Stat(path); err == nil {
		return false, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return false, fmt.Errorf("node key: %w", err)
	}
	s, err := dataitem.GenerateKey(dataitem.ED25519)
	if err != nil {
		return false, err
	}
	raw, err := dataitem.MarshalKey(s)
	if err != nil {
		return false, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return false, fmt.Errorf("node key: %w", err)
	}
	if _, err := f.Write(raw); err != nil {
		f.Close()
		os.Remove(path)
		return false, fmt.Errorf("node key: %w", err)
	}
	if err := errors.Join(f.Sync(), f.Close()); err != nil {
		os.Remove(path)
		return false, fmt.Errorf("node key: %w", err)
	}
	return true, nil
}

// detectFormat guesses a module's format: aonode's WASI ABI exports aonode_handle, and the
// 64-bit emscripten ABI imports invoke_vjj.
func detectFormat(wasm []byte) string {
	if bytes.Contains(wasm, []byte("aonode_handle")) && bytes.Contains(wasm, []byte("wasi_snapshot_preview1")) {
		return "wasm32-wasip1-aonode"
	}
	if bytes.Contains(wasm, []byte("invoke_vjj")) {
		return "wasm64-unknown-emscripten-draft_2024_02_15"
	}
	return "wasm32-unknown-emscripten2"
}

func printBanner(w io.Writer, n *node.Node, dataDir, keyFile, keyNote, modID, modFormat, modFile string) {
	u := n.URLs()
	sched := n.SU().Address()
	fmt.Fprintf(w, "aonode dev: SU, CU, MU and gateway on %s (data in %s)\n\n", u.Node, dataDir)
	fmt.Fprintf(w, "  key        %s (%s)\n", keyFile, keyNote)
	fmt.Fprintf(w, "  MU         %s\n", u.MU)
	fmt.Fprintf(w, "  CU         %s\n", u.CU)
	fmt.Fprintf(w, "  SU         %s\n", u.SU)
	fmt.Fprintf(w, "  scheduler  %s  (the Scheduler address to spawn with)\n", sched)
	fmt.Fprintf(w, "  gateway    %s  (GraphQL %s/graphql)\n", u.Gateway, u.Gateway)
	fmt.Fprintf(w, "  metrics    %s/metrics\n", u.Node)
	if modID != "" {
		fmt.Fprintf(w, "  module     %s  (%s, from %s)\n", modID, modFormat, modFile)
	}
	module := modID
	if module == "" {
		module = "<module id>"
	}
	fmt.Fprintf(w, `
aoconnect:
  import { connect, createDataItemSigner } from "@permaweb/aoconnect";
  const ao = connect({ MODE: "legacy", MU_URL: %q, CU_URL: %q, GATEWAY_URL: %q, GRAPHQL_URL: %q });
  const pid = await ao.spawn({ module: %q, scheduler: %q, signer });

aonode client, from another terminal:
`, u.MU, u.CU, u.Gateway, u.Gateway+"/graphql", module, sched)
	// The client commands find this node and key themselves when they are the defaults and
	// they run from this folder; otherwise the environment names them once.
	var env []string
	if u.Node != DefaultNodeURL {
		env = append(env, envNode+"="+u.Node)
	}
	if abs, err := filepath.Abs(keyFile); err == nil && filepath.Clean(keyFile) != filepath.Clean(devKeyPath) {
		env = append(env, envKey+"="+abs)
	}
	if len(env) > 0 {
		fmt.Fprintf(w, "  export %s\n", strings.Join(env, " "))
	}
	if modID != "" {
		fmt.Fprintf(w, "  pid=$(aonode spawn --module %s --quiet)\n", modID)
	} else {
		fmt.Fprint(w, "  pid=$(aonode spawn --module-file FILE.wasm --quiet)\n")
	}
	fmt.Fprint(w, "  aonode send --process $pid --tag Action=Eval --data '1 + 1' --wait\n\nCtrl-C stops the node.\n")
}
