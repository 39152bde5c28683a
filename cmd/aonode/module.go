package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"

	"github.com/aonode/aonode/dataitem"
)

const moduleUsage = `module <subcommand> [flags]

subcommands:
  publish   sign a WebAssembly module as a Type Module item and store it in a node

Run 'aonode module <subcommand> --help' for its flags.`

func moduleCommand() command {
	return command{name: "module", summary: "publish ao process modules to a node", run: runModule}
}

func runModule(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprintf(stderr, "usage: aonode %s\n", moduleUsage)
		return usageError{"a subcommand is required"}
	}
	switch args[0] {
	case "publish":
		return runModulePublish(ctx, args[1:], stdout, stderr)
	case "-h", "-help", "--help", "help":
		fmt.Fprintf(stderr, "usage: aonode %s\n", moduleUsage)
		return flag.ErrHelp
	}
	return usageError{fmt.Sprintf("unknown subcommand %q (want publish)", args[0])}
}

const modulePublishUsage = `module publish FILE.wasm --format F [--memory-limit L] [--compute-limit N] [--extension E]... [--tag Name=Value]... --key FILE [--node URL]

Signs FILE.wasm as an ao module (ao-protocol.md §5) and uploads it to the
node's gateway (POST {node}/tx), which stores it; prints {"id", ...} as JSON.
Tags, in order: Data-Protocol ao, Type Module, Module-Format F, Input-Encoding
JSON-1, Output-Encoding JSON-1, Variant ao.TN.1, Content-Type application/wasm,
Memory-Limit, Compute-Limit (when given), Extension (each), then --tag tags.
  --format         e.g. wasm32-unknown-emscripten2, wasm32-unknown-emscripten4,
                   wasm32-wasip1-aonode; the CU refuses formats it cannot run
  --memory-limit   e.g. 512-mb (what the dev-cli writes) or a byte count
  --compute-limit  e.g. 9000000000000
A process may override both limits with its own tags; the reference CU needs
them on one of the two.`

// memoryLimitPattern accepts what the reference CU parses: a number and an optional unit,
// with at most one '-' between them ("512-mb", "1gb", "65536").
var memoryLimitPattern = regexp.MustCompile(`^[0-9]+(\.[0-9]+)?-?([kKmMgGtTpP]?[bB])?$`)

func runModulePublish(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("module publish", modulePublishUsage, stderr)
	cf := addClientFlags(fs)
	keyFile := fs.String("key", "", "key file (JWK) that signs the module")
	format := fs.String("format", "", "Module-Format (required)")
	memLimit := fs.String("memory-limit", "", "Memory-Limit tag, e.g. 512-mb")
	computeLimit := fs.String("compute-limit", "", "Compute-Limit tag, e.g. 9000000000000")
	var exts, tags tagFlags
	fs.Func("extension", "Extension tag (repeatable), e.g. WeaveDrive", func(s string) error {
		if s == "" {
			return fmt.Errorf("empty extension")
		}
		exts = append(exts, dataitem.Tag{Name: "Extension", Value: s})
		return nil
	})
	fs.Var(&tags, "tag", "extra tag as Name=Value (repeatable)")
	files, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(files) != 1 {
		return usageError{"exactly one FILE.wasm is required"}
	}
	if *format == "" {
		return usageError{"--format is required (e.g. wasm32-unknown-emscripten2)"}
	}
	if *memLimit != "" && !memoryLimitPattern.MatchString(*memLimit) {
		return usageError{fmt.Sprintf("--memory-limit %q is not a size like 512-mb", *memLimit)}
	}
	if *computeLimit != "" {
		if n, err := strconv.ParseUint(*computeLimit, 10, 64); err != nil || n == 0 {
			return usageError{fmt.Sprintf("--compute-limit %q is not a positive integer", *computeLimit)}
		}
	}
	nc, err := cf.client()
	if err != nil {
		return err
	}
	wasm, err := readInput(files[0])
	if err != nil {
		return err
	}
	if !bytes.HasPrefix(wasm, []byte("\x00asm")) {
		return fmt.Errorf("%s is not a WebAssembly binary (no \\0asm header)", files[0])
	}
	signer, err := loadSigner(*keyFile)
	if err != nil {
		return err
	}
	spec := moduleSpec{format: *format, memoryLimit: *memLimit, computeLimit: *computeLimit, extra: append(exts, tags...)}
	it, err := uploadModule(ctx, nc, signer, wasm, spec)
	if err != nil {
		return err
	}
	return printJSON(stdout, map[string]any{"id": it.ID(), "format": *format, "size": len(wasm), "owner": it.Address()})
}

// moduleSpec is what a module item says besides its binary.
type moduleSpec struct {
	format       string
	memoryLimit  string // Memory-Limit tag, omitted when empty
	computeLimit string // Compute-Limit tag, omitted when empty
	extra        []dataitem.Tag
}

// uploadModule signs wasm as an ao module (ao-protocol.md §5) and uploads it to the node's
// gateway (POST {node}/tx), which stores it.
func uploadModule(ctx context.Context, nc *nodeClient, signer dataitem.Signer, wasm []byte, spec moduleSpec) (*dataitem.Item, error) {
	t := []dataitem.Tag{
		{Name: "Data-Protocol", Value: "ao"},
		{Name: "Type", Value: "Module"},
		{Name: "Module-Format", Value: spec.format},
		{Name: "Input-Encoding", Value: "JSON-1"},
		{Name: "Output-Encoding", Value: "JSON-1"},
		{Name: "Variant", Value: "ao.TN.1"},
		{Name: "Content-Type", Value: "application/wasm"},
	}
	if spec.memoryLimit != "" {
		t = append(t, dataitem.Tag{Name: "Memory-Limit", Value: spec.memoryLimit})
	}
	if spec.computeLimit != "" {
		t = append(t, dataitem.Tag{Name: "Compute-Limit", Value: spec.computeLimit})
	}
	it, err := dataitem.Sign(signer, dataitem.Fields{Tags: append(t, spec.extra...), Data: wasm})
	if err != nil {
		return nil, err
	}
	b, err := nc.api.Do(ctx, http.MethodPost, nc.base, "/tx", nil, "application/octet-stream", it.Raw())
	if err != nil {
		return nil, fmt.Errorf("uploading module %s: %w", it.ID(), replyError(err))
	}
	var reply struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(b, &reply); err != nil || reply.ID != it.ID() {
		return nil, fmt.Errorf("uploading module %s: the node answered %.200s", it.ID(), b)
	}
	return it, nil
}

// parseInterleaved parses flags that may come before or after positional arguments
// ("publish FILE --format F"), which the flag package alone stops at.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := parseFlags(fs, args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		rest := fs.Args()
		if len(args) > len(rest) && args[len(args)-len(rest)-1] == "--" {
			return append(pos, rest...), nil // everything after "--" is positional
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}
