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
	return dispatch(ctx, moduleUsage, args, stdout, stderr,
		subcommand{"publish", runModulePublish},
	)
}

const modulePublishUsage = `module publish FILE.wasm [--format F] [--memory-limit L] [--compute-limit N] [--extension E]... [--tag Name=Value]... [--key FILE] [--node URL] [--quiet]

Signs FILE.wasm as an ao module (ao-protocol.md §5) and uploads it to the
node's gateway (POST {node}/tx), which stores it; prints {"id", ...} as JSON,
or with --quiet the module id alone.
Tags, in order: Data-Protocol ao, Type Module, Module-Format F, Input-Encoding
JSON-1, Output-Encoding JSON-1, Variant ao.TN.1, Content-Type application/wasm,
Memory-Limit, Compute-Limit, Extension (each), then --tag tags.
  --format         e.g. wasm32-unknown-emscripten2, wasm32-unknown-emscripten4,
                   wasm32-wasip1-aonode; the CU refuses formats it cannot run.
                   Default: wasm32-wasip1-aonode when the binary exports
                   aonode_handle, wasm64-unknown-emscripten-draft_2024_02_15
                   when it imports invoke_vjj, else wasm32-unknown-emscripten2
  --memory-limit   e.g. 512-mb (what the dev-cli writes) or a byte count;
                   default ` + defaultMemoryLimit + `, the most memory a process of the module
                   may use; "none" leaves the tag out
  --compute-limit  default ` + defaultComputeLimit + `; "none" leaves the tag out
A process may override both limits with its own tags; the CU needs them on one
of the two, so a module published with "none" runs only under a process that
names them. The key defaults to $AONODE_KEY, else ./.aonode-dev/key.json.`

// Defaults of a module's limits: what 'aonode dev --module' uses, enough for aos (whose
// fixture grows to 500 MiB at most).
const (
	defaultMemoryLimit  = "1-gb"
	defaultComputeLimit = "9000000000000"
)

// moduleLimitFlags are --memory-limit and --compute-limit, shared by module publish and spawn
// --module-file.
type moduleLimitFlags struct{ memory, compute *string }

func addModuleLimitFlags(fs *flag.FlagSet) moduleLimitFlags {
	return moduleLimitFlags{
		memory:  fs.String("memory-limit", defaultMemoryLimit, `Memory-Limit tag, e.g. 512-mb ("none": no tag)`),
		compute: fs.String("compute-limit", defaultComputeLimit, `Compute-Limit tag ("none": no tag)`),
	}
}

// spec checks the limits and returns the module spec with format (which may be empty: the
// caller detects it from the binary).
func (m moduleLimitFlags) spec(format string) (moduleSpec, error) {
	spec := moduleSpec{format: format, memoryLimit: *m.memory, computeLimit: *m.compute}
	switch {
	case spec.memoryLimit == "none":
		spec.memoryLimit = ""
	case !memoryLimitPattern.MatchString(spec.memoryLimit):
		return spec, usageError{fmt.Sprintf("--memory-limit %q is not a size like 512-mb", spec.memoryLimit)}
	}
	if spec.computeLimit == "none" {
		spec.computeLimit = ""
	} else if n, err := strconv.ParseUint(spec.computeLimit, 10, 64); err != nil || n == 0 {
		return spec, usageError{fmt.Sprintf("--compute-limit %q is not a positive integer", spec.computeLimit)}
	}
	return spec, nil
}

// readWasm reads a module binary ("-" for standard input) and checks its header.
func readWasm(name string) ([]byte, error) {
	wasm, err := readInput(name)
	if err != nil {
		return nil, err
	}
	if !bytes.HasPrefix(wasm, []byte("\x00asm")) {
		return nil, fmt.Errorf("%s is not a WebAssembly binary (no \\0asm header)", name)
	}
	return wasm, nil
}

// memoryLimitPattern accepts what the reference CU parses: a number and an optional unit,
// with at most one '-' between them ("512-mb", "1gb", "65536").
var memoryLimitPattern = regexp.MustCompile(`^[0-9]+(\.[0-9]+)?-?([kKmMgGtTpP]?[bB])?$`)

func runModulePublish(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("module publish", modulePublishUsage, stderr)
	cf := addClientFlags(fs)
	keyFile := addKeyFlag(fs, "the module")
	format := fs.String("format", "", "Module-Format (default: detected)")
	limits := addModuleLimitFlags(fs)
	quiet := fs.Bool("quiet", false, "print the module id only")
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
	spec, err := limits.spec(*format)
	if err != nil {
		return err
	}
	spec.extra = append(exts, tags...)
	nc, err := cf.client()
	if err != nil {
		return err
	}
	wasm, err := readWasm(files[0])
	if err != nil {
		return err
	}
	if spec.format == "" {
		spec.format = detectFormat(wasm)
	}
	signer, err := clientSigner(*keyFile)
	if err != nil {
		return err
	}
	it, err := uploadModule(ctx, nc, signer, wasm, spec)
	if err != nil {
		return err
	}
	if *quiet {
		return printID(stdout, it.ID())
	}
	return printJSON(stdout, struct {
		ID           string `json:"id"`
		Owner        string `json:"owner"`
		Format       string `json:"format"`
		Size         int    `json:"size"`
		MemoryLimit  string `json:"memoryLimit,omitempty"`
		ComputeLimit string `json:"computeLimit,omitempty"`
	}{it.ID(), it.Address(), spec.format, len(wasm), spec.memoryLimit, spec.computeLimit})
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
