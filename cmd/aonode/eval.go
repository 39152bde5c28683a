package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"

	"github.com/aonode/aonode/cu/emscripten"
	"github.com/aonode/aonode/cu/emscripten/jsjson"
	"github.com/aonode/aonode/cu/module"
)

const evalUsage = `eval --module FILE.wasm --format FORMAT [--compute-limit N] [--memory-limit N]
            [--memory IN] [--save-memory OUT] [--cache-dir DIR] SESSION.json

Runs a process module offline, as the reference CU would. FORMAT is the
Module-Format: wasm32-unknown-emscripten, ...emscripten2, ...emscripten3,
...emscripten4, or wasm64-unknown-emscripten-draft_2024_02_15 (aos built for
a 64-bit memory). SESSION.json is {"env": {...}, "messages": [{...}, ...]}
(the env and msg objects the loader receives). Messages are evaluated in order, each from the memory the last
successful one left; a message whose result has an Error keeps the previous
memory and the next one runs on a fresh instance. One JSON line is printed per
message: {"Output","Messages","Spawns","Assignments","Error","GasUsed",
"MemorySize","MemorySha256"} (absent keys were undefined; "Threw":true marks a
trap, "out of gas!" or {ok:false}; MemorySha256 is the hex SHA-256 of the
whole linear memory kept after the message, null before any exists).
The machine code of the module is kept in --cache-dir (default: the user's
cache directory, e.g. ~/.cache/aonode/wasm-cache; --cache-dir "" for none), so
the next eval of the same module does not compile it again.`

// Input bounds: a module or memory image beyond these is not a process a CU would run.
const (
	maxModuleBytes  = 256 << 20
	maxSessionBytes = 256 << 20
	maxMemoryBytes  = 4 << 30
)

func evalCommand() command {
	return command{name: "eval", summary: "run a process module over a message session offline", run: runEval}
}

type evalSession struct {
	Env      json.RawMessage   `json:"env"`
	Messages []json.RawMessage `json:"messages"`
}

func runEval(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("eval", evalUsage, stderr)
	modPath := fs.String("module", "", "process module (.wasm)")
	format := fs.String("format", "", "Module-Format, e.g. wasm32-unknown-emscripten2")
	computeLimit := fs.Uint64("compute-limit", 0, "gas limit per message (0: the loader's default, 9e15)")
	memoryLimit := fs.Uint64("memory-limit", 0, "linear memory limit in bytes (0: the module's own maximum)")
	memIn := fs.String("memory", "", "start from this memory image instead of a new process")
	memOut := fs.String("save-memory", "", "write the memory kept after the last message here")
	cacheDir := fs.String("cache-dir", defaultEvalCacheDir(), "keep compiled machine code here across runs (empty: none)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	switch {
	case *modPath == "":
		return usageError{"--module FILE.wasm is required"}
	case *format == "":
		return usageError{"--format FORMAT is required"}
	case fs.NArg() != 1:
		return usageError{"exactly one SESSION.json argument is required"}
	}
	wasm, err := readBounded(*modPath, maxModuleBytes)
	if err != nil {
		return err
	}
	sess, err := readSession(fs.Arg(0))
	if err != nil {
		return err
	}
	var memory []byte
	if *memIn != "" {
		if memory, err = readBounded(*memIn, maxMemoryBytes); err != nil {
			return err
		}
	}

	eng, err := emscripten.NewEngine(ctx, emscripten.EngineConfig{CacheDir: *cacheDir})
	if err != nil {
		return err
	}
	defer eng.Close(context.WithoutCancel(ctx))
	mod, err := eng.Compile(ctx, wasm, emscripten.Options{Format: module.Format(*format), ComputeLimit: *computeLimit, MemoryLimit: *memoryLimit})
	if err != nil {
		return err
	}
	proc := mod.NewProcess(memory)
	defer proc.Close(context.WithoutCancel(ctx))

	env, err := jsjson.Stringify(sess.Env)
	if err != nil {
		return fmt.Errorf("%s: env: %w", fs.Arg(0), err)
	}
	for i, raw := range sess.Messages {
		msg, err := jsjson.Stringify(raw)
		if err != nil {
			return fmt.Errorf("%s: message %d: %w", fs.Arg(0), i, err)
		}
		res, err := proc.Eval(ctx, msg, env)
		if err != nil {
			return fmt.Errorf("message %d: %w", i, err)
		}
		if _, err := stdout.Write(resultLine(res, proc.Memory())); err != nil {
			return err
		}
	}
	if *memOut != "" {
		mem := proc.Memory()
		if mem == nil {
			return errors.New("no memory to save: no message has succeeded")
		}
		return writeFileAtomic(*memOut, mem)
	}
	return nil
}

// defaultEvalCacheDir is aonode's folder in the user's cache directory, or none when the
// environment names no home.
func defaultEvalCacheDir() string {
	dir, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	return filepath.Join(dir, "aonode", "wasm-cache")
}

func readBounded(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, limit)
	}
	return b, nil
}

func readSession(path string) (evalSession, error) {
	b, err := readBounded(path, maxSessionBytes)
	if err != nil {
		return evalSession{}, err
	}
	var s evalSession
	if err := json.Unmarshal(b, &s); err != nil {
		return evalSession{}, fmt.Errorf("%s: %w", path, err)
	}
	if s.Env == nil {
		s.Env = json.RawMessage("{}")
	}
	return s, nil
}

// resultLine writes the result keys in a fixed order, leaving out those the loader left undefined.
func resultLine(res module.Result, mem []byte) []byte {
	var b bytes.Buffer
	b.WriteByte('{')
	field := func(name string, v []byte) {
		if v == nil {
			return
		}
		if b.Len() > 1 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Quote(name))
		b.WriteByte(':')
		b.Write(v)
	}
	field("Output", res.Output)
	field("Messages", res.Messages)
	field("Spawns", res.Spawns)
	field("Assignments", res.Assignments)
	field("Error", res.Error)
	if res.Threw {
		field("Threw", []byte("true"))
	} else {
		field("GasUsed", []byte(strconv.FormatUint(res.GasUsed, 10)))
	}
	if mem == nil {
		field("MemorySize", []byte("null"))
		field("MemorySha256", []byte("null"))
	} else {
		sum := sha256.Sum256(mem)
		field("MemorySize", []byte(strconv.Itoa(len(mem))))
		field("MemorySha256", []byte(`"`+hex.EncodeToString(sum[:])+`"`))
	}
	b.WriteString("}\n")
	return b.Bytes()
}

// writeFileAtomic writes via a temporary file in the same directory, so a crash never
// leaves a truncated memory image under the final name.
func writeFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".aonode-memory-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
