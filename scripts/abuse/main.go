// Command abuse replays the attacks of issue 10 against real aonode binaries and prints, for
// each, the node's resident memory and how long /health takes while it is abused. Binaries
// are measured alternately (A/B, in rounds), each as `aonode dev` on a fresh data folder.
//
//	go run ./scripts/abuse -bins /tmp/aonode-old,/tmp/aonode-new [-scenario bodies|dryruns] [-rounds 2]
//
// bodies: -conns connections (default 120) POST to /mu, /su and /tx claiming 10 MiB each and
// send two bytes, then hold the connection.
//
// dryruns: an aos process (-aos, default ../shared/fixtures/wasm/aos.wasm) is grown to
// about -mem-mib MiB, then -dryruns concurrent dry-runs Eval "while true do end" on it.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/aonode/aonode/dataitem"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "abuse:", err)
		os.Exit(1)
	}
}

type options struct {
	scenario string
	conns    int
	hold     time.Duration
	aos      string
	memMiB   int
	dryruns  int
}

func run() error {
	bins := flag.String("bins", "", "comma-separated aonode binaries to compare (required)")
	rounds := flag.Int("rounds", 2, "rounds; each measures every binary once, in turn")
	var o options
	flag.StringVar(&o.scenario, "scenario", "bodies", "bodies or dryruns")
	flag.IntVar(&o.conns, "conns", 120, "bodies: connections claiming 10 MiB")
	flag.DurationVar(&o.hold, "hold", 8*time.Second, "how long the abuse is held while memory is sampled")
	flag.StringVar(&o.aos, "aos", filepath.Join("..", "shared", "fixtures", "wasm", "aos.wasm"), "dryruns: the aos module")
	flag.IntVar(&o.memMiB, "mem-mib", 100, "dryruns: MiB the aos process is grown by before the dry-runs")
	flag.IntVar(&o.dryruns, "dryruns", 8, "dryruns: concurrent dry-runs")
	flag.Parse()
	if *bins == "" {
		return errors.New("-bins is required")
	}
	list := strings.Split(*bins, ",")
	fmt.Printf("scenario %s; load average at start %s\n", o.scenario, loadavg())
	fmt.Printf("%-28s %5s %12s %14s %14s %12s\n", "binary", "round", "RSS idle MiB", "RSS peak MiB", "/health max", "node CPU s")
	for r := 1; r <= *rounds; r++ {
		for _, bin := range list {
			res, err := measure(bin, o)
			if err != nil {
				return fmt.Errorf("%s: %w", bin, err)
			}
			fmt.Printf("%-28s %5d %12d %14d %14s %12.1f\n", filepath.Base(bin), r, res.idle>>20, res.peak>>20, res.health.Round(time.Millisecond), res.cpu)
		}
	}
	fmt.Printf("load average at end %s\n", loadavg())
	return nil
}

type result struct {
	idle, peak int64
	health     time.Duration
	cpu        float64
}

func measure(bin string, o options) (result, error) {
	dir, err := os.MkdirTemp("", "abuse-")
	if err != nil {
		return result{}, err
	}
	defer os.RemoveAll(dir)
	addr, err := freeAddr()
	if err != nil {
		return result{}, err
	}
	args := []string{"dev", "--data", dir, "--http", addr}
	if o.scenario == "dryruns" {
		args = append(args, "--module", o.aos, "--module-format", "wasm32-unknown-emscripten2")
	}
	stdout := &lockedBuffer{}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = stdout, io.Discard
	if err := cmd.Start(); err != nil {
		return result{}, err
	}
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGKILL)
		_ = cmd.Wait()
	}()
	base := "http://" + addr
	if err := waitHealthy(base, 2*time.Minute); err != nil {
		return result{}, err
	}
	var start func() (func(), error)
	switch o.scenario {
	case "bodies":
		start = func() (func(), error) { return claimBodies(addr, o.conns) }
	case "dryruns":
		var banner string
		if banner, err = stdout.waitFor("aoconnect:", 2*time.Minute); err == nil {
			start, err = prepareDryRuns(base, banner, o)
		}
	default:
		err = fmt.Errorf("unknown scenario %q", o.scenario)
	}
	if err != nil {
		return result{}, err
	}
	res := result{idle: rss(cmd.Process.Pid)}
	stop, err := start()
	if err != nil {
		return result{}, err
	}
	deadline := time.Now().Add(o.hold)
	for time.Now().Before(deadline) {
		res.peak = max(res.peak, rss(cmd.Process.Pid))
		res.health = max(res.health, healthTime(base))
		time.Sleep(200 * time.Millisecond)
	}
	res.cpu = cpuSeconds(cmd.Process.Pid)
	stop()
	return res, nil
}

func claimBodies(addr string, n int) (func(), error) {
	var conns []net.Conn
	stop := func() {
		for _, c := range conns {
			c.Close()
		}
	}
	paths := []string{"/mu", "/su", "/tx"}
	for i := range n {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			stop()
			return nil, err
		}
		fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\nxx", paths[i%len(paths)], addr, 10<<20)
		conns = append(conns, c)
	}
	time.Sleep(time.Second) // every handler is reading its body
	return stop, nil
}

type client struct {
	base   string
	signer dataitem.Signer
	http   *http.Client
}

func (c *client) do(method, path string, body []byte) (int, []byte, error) {
	req, err := http.NewRequest(method, c.base+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

func tagsOf(kv ...string) []dataitem.Tag {
	var out []dataitem.Tag
	for i := 0; i+1 < len(kv); i += 2 {
		out = append(out, dataitem.Tag{Name: kv[i], Value: kv[i+1]})
	}
	return out
}

var moduleLine = regexp.MustCompile(`module\s+(\S{43})`)

// prepareDryRuns spawns an aos process of the module the node published and grows its
// memory; the function it returns starts the spinning dry-runs, and the one that returns
// abandons them.
func prepareDryRuns(base, banner string, o options) (func() (func(), error), error) {
	m := moduleLine.FindStringSubmatch(banner)
	if m == nil {
		return nil, fmt.Errorf("no module id in the dev banner:\n%s", banner)
	}
	signer, err := dataitem.GenerateKey(dataitem.ED25519)
	if err != nil {
		return nil, err
	}
	c := &client{base: base, signer: signer, http: &http.Client{Timeout: 10 * time.Minute}}
	_, info, err := c.do("GET", "/su", nil)
	if err != nil {
		return nil, err
	}
	var su struct{ Address string }
	if err := json.Unmarshal(info, &su); err != nil {
		return nil, err
	}
	proc, err := dataitem.Sign(signer, dataitem.Fields{Data: []byte("1984"), Tags: tagsOf(
		"Data-Protocol", "ao", "Variant", "ao.TN.1", "Type", "Process", "Module", m[1], "Scheduler", su.Address,
		"Memory-Limit", "1-gb", "Compute-Limit", "9000000000000", "Name", "abuse")})
	if err != nil {
		return nil, err
	}
	pid := proc.ID()
	if code, b, err := c.do("POST", "/mu", proc.Raw()); err != nil || code != 202 {
		return nil, fmt.Errorf("spawn: %d %s %v", code, b, err)
	}
	target, _ := dataitem.DecodeID(pid)
	grow, err := dataitem.Sign(signer, dataitem.Fields{Target: target[:], Data: []byte(fmt.Sprintf("Big = string.rep('x', %d * 1024 * 1024)", o.memMiB)),
		Tags: tagsOf("Data-Protocol", "ao", "Variant", "ao.TN.1", "Type", "Message", "Action", "Eval")})
	if err != nil {
		return nil, err
	}
	if code, b, err := c.do("POST", "/mu", grow.Raw()); err != nil || code != 202 {
		return nil, fmt.Errorf("grow: %d %s %v", code, b, err)
	}
	if code, b, err := c.do("GET", "/cu/result/"+grow.ID()+"?process-id="+pid, nil); err != nil || code != 200 {
		return nil, fmt.Errorf("grow result: %d %.300s %v", code, b, err)
	}
	time.Sleep(time.Second)
	owner := dataitem.OwnerAddress(signer.Owner())
	body, _ := json.Marshal(map[string]any{"Id": "1234", "Owner": owner, "From": owner, "Target": pid, "Data": "while true do end",
		"Tags": []map[string]string{{"name": "Action", "value": "Eval"}, {"name": "Data-Protocol", "value": "ao"}, {"name": "Type", "value": "Message"}, {"name": "Variant", "value": "ao.TN.1"}}})
	return func() (func(), error) { return spin(c, pid, body, o.dryruns), nil }, nil
}

func spin(c *client, pid string, body []byte, n int) func() {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	codes := make(chan int, n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequestWithContext(ctx, "POST", c.base+"/cu/dry-run?process-id="+pid, bytes.NewReader(body))
			resp, err := c.http.Do(req)
			if err != nil {
				return
			}
			resp.Body.Close()
			codes <- resp.StatusCode
		}()
	}
	return func() {
		cancel()
		wg.Wait()
		close(codes)
		got := map[int]int{}
		for code := range codes {
			got[code]++
		}
		fmt.Printf("    dry-run answers within the window: %v\n", got)
	}
}

// lockedBuffer is the child's stdout, read while the child writes it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// waitFor returns what was written once it contains s.
func (b *lockedBuffer) waitFor(s string, d time.Duration) (string, error) {
	deadline := time.Now().Add(d)
	for {
		b.mu.Lock()
		out := b.buf.String()
		b.mu.Unlock()
		if strings.Contains(out, s) {
			return out, nil
		}
		if time.Now().After(deadline) {
			return out, fmt.Errorf("the node did not print %q:\n%s", s, out)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func waitHealthy(base string, d time.Duration) error {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(base + "/health"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return errors.New("the node did not become healthy")
}

func healthTime(base string) time.Duration {
	c := &http.Client{Timeout: 30 * time.Second}
	defer c.CloseIdleConnections()
	start := time.Now()
	resp, err := c.Get(base + "/health")
	if err != nil {
		return 30 * time.Second
	}
	resp.Body.Close()
	return time.Since(start)
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// rss is the resident set of process pid in bytes (VmRSS).
func rss(pid int) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// cpuSeconds is the user and system CPU time process pid has used.
func cpuSeconds(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	if len(fields) < 13 {
		return 0
	}
	ut, _ := strconv.ParseFloat(fields[11], 64)
	st, _ := strconv.ParseFloat(fields[12], 64)
	return (ut + st) / 100 // clock ticks; USER_HZ is 100 on Linux
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.Join(strings.Fields(string(b))[:3], " ")
}
