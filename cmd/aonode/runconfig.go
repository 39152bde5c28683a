package main

import (
	"context"
	"flag"
	"io"
	"strings"

	"github.com/aonode/aonode/node"
)

// configArg finds --config FILE (or -config, or the =FILE forms) in run's arguments.
func configArg(args []string) (string, bool) {
	for i, a := range args {
		if a == "--" {
			break
		}
		name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") || name != "config" {
			continue
		}
		if hasValue {
			return value, true
		}
		if i+1 < len(args) {
			return args[i+1], true
		}
		return "", true
	}
	return "", false
}

// runWithConfig is aonode run --config FILE: the file fills the Config and every flag given
// on the command line overrides it.
func runWithConfig(ctx context.Context, path string, args []string, stderr io.Writer) error {
	if path == "" {
		return usageError{"--config needs a file"}
	}
	file, err := node.LoadFile(path)
	if err != nil {
		return usageError{err.Error()}
	}
	base := file.Config()
	fs := newFlagSet("run", runUsage, stderr)
	fs.String("config", path, "YAML config file (see configs/)")
	nf := addNodeFlags(fs, base, file.LogLevel, true)
	dataDir := fs.String("data", base.DataDir, "data directory (created if missing)")
	keyFile := fs.String("key", base.KeyFile, "node key file (JWK)")
	listen := fs.String("p2p-listen", "", "comma-separated p2p listen multiaddrs (overrides the file's)")
	bootstrap := fs.String("bootstrap", "", "comma-separated bootstrap multiaddrs ending in /p2p/<peer id> (overrides the file's)")
	if err := parseFlagsNoArgs(fs, args); err != nil {
		return err
	}
	cfg, err := nf.config(stderr)
	if err != nil {
		return err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	// Some node flags default to empty rather than to the Config they were given.
	for name, keep := range map[string]func(){
		"su":      func() { cfg.SUURL = base.SUURL },
		"cu":      func() { cfg.CUURL = base.CUURL },
		"gateway": func() { cfg.GatewayURL = base.GatewayURL },
		"arweave": func() { cfg.ArweaveURL = base.ArweaveURL },
	} {
		if !set[name] {
			keep()
		}
	}
	cfg.DataDir, cfg.KeyFile = *dataDir, *keyFile
	if set["p2p-listen"] || set["bootstrap"] {
		if cfg.P2P == nil {
			return usageError{"--p2p-listen and --bootstrap need p2p enabled in the config file"}
		}
		p := *cfg.P2P
		if set["p2p-listen"] {
			p.ListenAddrs = splitList(*listen)
		}
		if set["bootstrap"] {
			p.Bootstrap = splitList(*bootstrap)
		}
		cfg.P2P = &p
	}
	if err := cfg.Validate(); err != nil {
		return usageError{err.Error()}
	}
	return node.Run(ctx, cfg)
}

func splitList(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}
