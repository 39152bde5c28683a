// Command e2ebench measures the whole AO loop on one node: messages per second and the
// latency from POST {node}/mu to the result read from GET {node}/cu/result, with the example
// token process (examples/token, the WASI format) as the small module, or the real aos
// module (-module aos: ../shared/fixtures/wasm/aos.wasm, Module-Format
// wasm32-unknown-emscripten2, metered; each message an owner's Eval). By default it starts
// an in-process node with every role on a temporary data directory; -node URL measures a
// running node instead (aonode dev). Messages (Mint by the owner) are signed before the clock
// starts; each client sends one message, waits for its result, then sends the next.
//
//	go run ./scripts/e2ebench [-n 5000] [-clients 1,8,32] [-processes 4] [-module token.wasm|tiny|aos] [-format F]
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/aonode/aonode/dataitem"
	"github.com/aonode/aonode/node"
	"github.com/aonode/aonode/node/testnet"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2ebench:", err)
		os.Exit(1)
	}
}

type config struct {
	n         int
	clients   []int
	processes int
	warmup    int
}

func run(ctx context.Context) error {
	n := flag.Int("n", 5000, "messages per configuration")
	clientList := flag.String("clients", "1,8,32", "concurrent client counts")
	procs := flag.Int("processes", 4, "token processes the clients spread over")
	warmup := flag.Int("warmup", 200, "messages sent before each measurement")
	modFile := flag.String("module", "", `module file (of -format); "tiny" for a built-in WASI module with a constant result; "aos" for ../shared/fixtures/wasm/aos.wasm (default: build ./examples/token)`)
	format := flag.String("format", "", "Module-Format of -module FILE (default wasm32-wasip1-aonode; wasm32-unknown-emscripten2 for -module aos)")
	nodeURL := flag.String("node", "", "measure this running node (e.g. http://127.0.0.1:8734) instead of an in-process one")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the run (client and in-process node) to this file")
	flag.Parse()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	if *n < 1 || *procs < 1 || *warmup < 0 {
		return errors.New("-n and -processes must be positive, -warmup not negative")
	}
	cfg := config{n: *n, processes: *procs, warmup: *warmup}
	for _, s := range strings.Split(*clientList, ",") {
		c, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || c < 1 {
			return fmt.Errorf("-clients %q", *clientList)
		}
		cfg.clients = append(cfg.clients, c)
	}

	wasm, err := loadModule(*modFile)
	if err != nil {
		return err
	}
	isAos := *modFile == "aos"
	if *format == "" {
		*format = "wasm32-wasip1-aonode"
		if isAos {
			*format = "wasm32-unknown-emscripten2"
		}
	}
	base := strings.TrimRight(*nodeURL, "/")
	if base == "" {
		dir, err := os.MkdirTemp("", "e2ebench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		key, err := dataitem.GenerateKey(dataitem.ED25519)
		if err != nil {
			return err
		}
		ncfg := node.DefaultConfig()
		ncfg.DataDir, ncfg.Signer, ncfg.HTTPAddr = filepath.Join(dir, "store"), key, "127.0.0.1:0"
		ncfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
		n, err := node.New(ncfg)
		if err != nil {
			return err
		}
		defer n.Close()
		base = n.URLs().Node
	}
	b := &bench{base: base, format: *format, aos: isAos, http: &http.Client{Timeout: time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: 256}}}
	defer b.http.CloseIdleConnections()
	if b.signer, err = dataitem.GenerateKey(dataitem.ED25519); err != nil {
		return err
	}
	if err := b.setup(ctx, wasm, cfg.processes); err != nil {
		return err
	}
	what := "examples/token"
	if *modFile != "" {
		what = *modFile + " (" + *format + ")"
	}
	fmt.Printf("node %s, %d processes of %s (%d bytes), GOMAXPROCS %d\n\n", base, cfg.processes, what, len(wasm), runtime.GOMAXPROCS(0))
	fmt.Printf("%8s %8s %9s %10s %9s %9s %9s %9s\n", "clients", "msgs", "seconds", "msgs/s", "p50 ms", "p90 ms", "p99 ms", "max ms")
	for _, c := range cfg.clients {
		if cfg.warmup > 0 {
			if _, _, err := b.measure(ctx, min(c, cfg.warmup), cfg.warmup); err != nil {
				return err
			}
		}
		lat, wall, err := b.measure(ctx, c, cfg.n)
		if err != nil {
			return err
		}
		slices.Sort(lat)
		q := func(p float64) float64 { return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))]) / 1e6 }
		fmt.Printf("%8d %8d %9.2f %10.0f %9.2f %9.2f %9.2f %9.2f\n", c, len(lat), wall.Seconds(),
			float64(len(lat))/wall.Seconds(), q(0.50), q(0.90), q(0.99), float64(lat[len(lat)-1])/1e6)
	}
	return nil
}

// loadModule reads file, makes the tiny module, or builds examples/token for the WASI format.
func loadModule(file string) ([]byte, error) {
	if file == "tiny" {
		return testnet.TinyModule(), nil
	}
	if file != "" && file != "aos" {
		return os.ReadFile(file)
	}
	root, err := os.Getwd()
	if err != nil {
		return nil, err
	}
	for {
		if _, err := os.Stat(filepath.Join(root, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(root)
		if parent == root {
			return nil, errors.New("not inside the aonode module: give -module")
		}
		root = parent
	}
	if file == "aos" {
		return os.ReadFile(filepath.Join(root, "..", "shared", "fixtures", "wasm", "aos.wasm"))
	}
	out := filepath.Join(os.TempDir(), fmt.Sprintf("e2ebench-token-%d.wasm", os.Getpid()))
	defer os.Remove(out)
	cmd := exec.Command("go", "build", "-buildmode=c-shared", "-o", out, "./examples/token")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("building examples/token: %v\n%s", err, b)
	}
	return os.ReadFile(out)
}

type bench struct {
	base   string
	format string
	aos    bool // messages are Evals of the process owner
	http   *http.Client
	signer dataitem.Signer
	pids   []string
	seq    atomic.Int64
}

func (b *bench) do(ctx context.Context, method, path, ctype string, body []byte) (int, []byte, error) {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, b.base+path, r)
	if err != nil {
		return 0, nil, err
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := b.http.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	return resp.StatusCode, out, err
}

func tags(kv ...string) []dataitem.Tag {
	var t []dataitem.Tag
	for i := 0; i+1 < len(kv); i += 2 {
		t = append(t, dataitem.Tag{Name: kv[i], Value: kv[i+1]})
	}
	return t
}

// setup publishes the module and spawns the processes, waiting for their boot results.
func (b *bench) setup(ctx context.Context, wasm []byte, procs int) error {
	code, body, err := b.do(ctx, "GET", "/su/", "", nil)
	if err != nil || code != 200 {
		return fmt.Errorf("GET /su/: %d %s %v", code, body, err)
	}
	var info struct{ Address string }
	if err := json.Unmarshal(body, &info); err != nil || info.Address == "" {
		return fmt.Errorf("GET /su/: %s", body)
	}
	mod, err := dataitem.Sign(b.signer, dataitem.Fields{Data: wasm, Tags: tags(
		"Data-Protocol", "ao", "Type", "Module", "Module-Format", b.format,
		"Input-Encoding", "JSON-1", "Output-Encoding", "JSON-1", "Variant", "ao.TN.1",
		"Content-Type", "application/wasm", "Memory-Limit", "1-gb", "Compute-Limit", "9000000000000")})
	if err != nil {
		return err
	}
	if code, body, err := b.do(ctx, "POST", "/tx", "application/octet-stream", mod.Raw()); err != nil || code != 200 {
		return fmt.Errorf("publishing the module: %d %s %v", code, body, err)
	}
	for i := range procs {
		p, err := dataitem.Sign(b.signer, dataitem.Fields{Data: []byte(" "), Tags: tags(
			"Data-Protocol", "ao", "Variant", "ao.TN.1", "Type", "Process", "Module", mod.ID(),
			"Scheduler", info.Address, "Name", fmt.Sprint("bench-", i))})
		if err != nil {
			return err
		}
		if err := b.post(ctx, p); err != nil {
			return err
		}
		// The token has no boot action: its first result is an Error, which is fine here.
		if err := b.result(ctx, p.ID(), p.ID(), false); err != nil {
			return err
		}
		b.pids = append(b.pids, p.ID())
	}
	return nil
}

func (b *bench) post(ctx context.Context, it *dataitem.Item) error {
	code, body, err := b.do(ctx, "POST", "/mu", "application/octet-stream", it.Raw())
	if err != nil {
		return err
	}
	if code != 202 {
		return fmt.Errorf("POST /mu: %d %s", code, body)
	}
	return nil
}

// result reads the result of id; with wantOK an Error result is an error.
func (b *bench) result(ctx context.Context, pid, id string, wantOK bool) error {
	code, body, err := b.do(ctx, "GET", "/cu/result/"+id+"?process-id="+pid, "", nil)
	if err != nil {
		return err
	}
	if code != 200 {
		return fmt.Errorf("result of %s: %d %s", id, code, body)
	}
	var res struct{ Error any }
	if err := json.Unmarshal(body, &res); err != nil || (wantOK && res.Error != nil) {
		return fmt.Errorf("result of %s: %s", id, body)
	}
	return nil
}

// measure sends n Mint (aos: Eval) messages from c clients and returns each POST→result latency.
func (b *bench) measure(ctx context.Context, c, n int) ([]time.Duration, time.Duration, error) {
	type msg struct {
		pid string
		it  *dataitem.Item
	}
	msgs := make([]msg, n)
	for i := range msgs {
		pid := b.pids[i%len(b.pids)]
		target, err := dataitem.DecodeID(pid)
		if err != nil {
			return nil, 0, err
		}
		data, action := " ", "Mint"
		if b.aos {
			data, action = "Counter = (Counter or 0) + 1", "Eval"
		}
		it, err := dataitem.Sign(b.signer, dataitem.Fields{Target: target[:], Data: []byte(data), Tags: tags(
			"Action", action, "Quantity", "1", "Seq", strconv.FormatInt(b.seq.Add(1), 10),
			"Data-Protocol", "ao", "Variant", "ao.TN.1", "Type", "Message")})
		if err != nil {
			return nil, 0, err
		}
		msgs[i] = msg{pid, it}
	}
	lat := make([]time.Duration, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, c)
	start := time.Now()
	for range c {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n || ctx.Err() != nil {
					return
				}
				t0 := time.Now()
				if err := b.post(ctx, msgs[i].it); err != nil {
					errs <- err
					return
				}
				if err := b.result(ctx, msgs[i].pid, msgs[i].it.ID(), true); err != nil {
					errs <- err
					return
				}
				lat[i] = time.Since(t0)
			}
		})
	}
	wg.Wait()
	wall := time.Since(start)
	select {
	case err := <-errs:
		return nil, 0, err
	default:
	}
	if err := ctx.Err(); err != nil {
		return nil, 0, err
	}
	return lat, wall, nil
}
