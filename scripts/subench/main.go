// Command subench measures durable assignments per second through the SU HTTP API of a real
// `aonode run --roles su` child: for an ed25519 and an Arweave RSA SU key, items signed with
// ed25519 or with Arweave RSA-4096 (type 1, what aoconnect users send), with 1, 8 and 64
// concurrent clients, each client on its own process ("procs") and all on one ("oneproc").
// The load generator is this process, the node its child. Messages are signed before the
// clock starts, so the figures are the node's: read, verify, assign, sign, fsync, answer. A
// 200 answer means the slot is on disk. With -base OTHER_AONODE every configuration runs on
// that binary and then on -aonode, alternately, and the table shows both and their ratio.
//
//	go run ./scripts/subench [-n 20000] [-duration 10s] [-keys ed25519,rsa] [-items ed25519,rsa] [-clients 1,8,64] [-base BIN]
package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/aonode/aonode/dataitem"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "subench:", err)
		os.Exit(1)
	}
}

type result struct {
	bin, key, items  string
	mode             string
	clients, n       int
	perSec, p50, p99 float64
	cpuPerOp         float64 // the node's user+system CPU µs per acknowledged message; 0 if unknown
	clientCPUPerOp   float64 // the load generator's (this process's) CPU µs per message
}

func run(ctx context.Context) error {
	n := flag.Int("n", 20000, "messages per configuration (at most)")
	dur := flag.Duration("duration", 10*time.Second, "time budget per configuration")
	keys := flag.String("keys", "ed25519,rsa", "SU key types to measure")
	clientList := flag.String("clients", "1,8,64", "concurrent client counts")
	modes := flag.String("modes", "procs,oneproc", "procs: one process per client; oneproc: all clients on one process")
	bin := flag.String("aonode", "", "aonode binary (default: build ./cmd/aonode)")
	baseBin := flag.String("base", "", "a second aonode binary measured alternately with -aonode (A/B)")
	itemList := flag.String("items", "ed25519", "key types the messages are signed with: ed25519, rsa (RSA items are signed up front at ~5 ms each: -n bounds that)")
	flag.Parse()

	tmp, err := os.MkdirTemp("", "subench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if *bin == "" {
		*bin = filepath.Join(tmp, "aonode")
		gobin := "go" // the go on PATH, the one that runs this script
		if out, err := exec.CommandContext(ctx, gobin, "build", "-o", *bin, "github.com/aonode/aonode/cmd/aonode").CombinedOutput(); err != nil {
			return fmt.Errorf("building aonode: %v\n%s", err, out)
		}
	}
	var clients []int
	for _, s := range strings.Split(*clientList, ",") {
		c, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || c < 1 {
			return fmt.Errorf("-clients: %q", s)
		}
		clients = append(clients, c)
	}
	keyType := func(flagName, name string) (dataitem.SignatureType, error) {
		switch name {
		case "ed25519":
			return dataitem.ED25519, nil
		case "rsa":
			return dataitem.Arweave, nil
		}
		return 0, fmt.Errorf("-%s: unknown key type %q", flagName, name)
	}
	bins := []struct{ name, path string }{{"new", *bin}}
	if *baseBin != "" {
		bins = []struct{ name, path string }{{"base", *baseBin}, {"new", *bin}}
	}
	var results []result
	for _, key := range strings.Split(*keys, ",") {
		t, err := keyType("keys", key)
		if err != nil {
			return err
		}
		signer, err := dataitem.GenerateKey(t)
		if err != nil {
			return err
		}
		for _, items := range strings.Split(*itemList, ",") {
			it, err := keyType("items", items)
			if err != nil {
				return err
			}
			client, err := dataitem.GenerateKey(it)
			if err != nil {
				return err
			}
			for _, mode := range strings.Split(*modes, ",") {
				if mode != "procs" && mode != "oneproc" {
					return fmt.Errorf("-modes: unknown mode %q", mode)
				}
				for _, c := range clients {
					// Signed once per configuration and sent to every binary: the same bytes.
					w, err := newWorkload(signer, client, mode == "oneproc", c, *n)
					if err != nil {
						return err
					}
					for _, b := range bins {
						r, err := measure(ctx, b.path, filepath.Join(tmp, fmt.Sprintf("%s-%s-%s-%s-%d", b.name, key, items, mode, c)), signer, w, c, *dur)
						if err != nil {
							return fmt.Errorf("%s: %s %s items %s %d clients: %w", b.name, key, items, mode, c, err)
						}
						r.bin, r.key, r.items, r.mode = b.name, key, items, mode
						results = append(results, r)
						fmt.Fprintf(os.Stderr, "done: %s %s items=%s %s clients=%d: %.0f/s\n", b.name, key, items, mode, c, r.perSec)
					}
				}
			}
		}
	}
	// node cpu-µs/op is what the node process spent per message (HTTP, verification, the
	// assignment, the store): 2 cores / that figure is the node's CPU-bound ceiling, whatever
	// else shares the machine (the client here included).
	load, _ := os.ReadFile("/proc/loadavg")
	fmt.Printf("SU over HTTP (aonode run --roles su), load generator in its own process; load at the end %s\n", strings.Join(strings.Fields(string(load))[:3], " "))
	fmt.Printf("%-5s %-8s %-8s %-8s %-8s %10s %14s %9s %9s %15s %17s %9s\n", "bin", "clients", "SU key", "items", "mode", "messages", "assignments/s", "p50 ms", "p99 ms", "node cpu-µs/op", "client cpu-µs/op", "new/base")
	for i, r := range results {
		ratio := ""
		if r.bin == "new" && i > 0 && results[i-1].bin == "base" {
			ratio = fmt.Sprintf("%.2f", r.perSec/results[i-1].perSec)
		}
		fmt.Printf("%-5s %-8d %-8s %-8s %-8s %10d %14.0f %9.2f %9.2f %15.1f %17.1f %9s\n", r.bin, r.clients, r.key, r.items, r.mode, r.n, r.perSec, r.p50, r.p99, r.cpuPerOp, r.clientCPUPerOp, ratio)
	}
	return nil
}

// workload is the items one configuration sends: the Process items, then the messages.
type workload struct {
	procs [][]byte
	msgs  [][]byte
}

func newWorkload(suKey, client dataitem.Signer, oneProc bool, clients, n int) (workload, error) {
	var w workload
	ownerHash := sha256.Sum256(suKey.Owner())
	suAddr := dataitem.EncodeID(ownerHash[:])
	nprocs := clients
	if oneProc {
		nprocs = 1
	}
	var pids [][]byte
	for i := range nprocs {
		p, err := dataitem.Sign(client, dataitem.Fields{Tags: []dataitem.Tag{
			{Name: "Data-Protocol", Value: "ao"}, {Name: "Variant", Value: "ao.TN.1"}, {Name: "Type", Value: "Process"},
			{Name: "Module", Value: suAddr}, {Name: "Scheduler", Value: suAddr}, {Name: "N", Value: strconv.Itoa(i)},
		}})
		if err != nil {
			return w, err
		}
		w.procs = append(w.procs, p.Raw())
		id := p.RawID()
		pids = append(pids, id[:])
	}
	w.msgs = make([][]byte, n)
	var wg sync.WaitGroup
	var firstErr error
	var once sync.Once
	workers := runtime.GOMAXPROCS(0)
	for k := range workers {
		wg.Go(func() {
			for i := k; i < n; i += workers {
				m, err := dataitem.Sign(client, dataitem.Fields{Target: pids[i%nprocs], Data: []byte("1 + 1"), Tags: []dataitem.Tag{
					{Name: "Data-Protocol", Value: "ao"}, {Name: "Variant", Value: "ao.TN.1"}, {Name: "Type", Value: "Message"},
					{Name: "Action", Value: "Eval"}, {Name: "N", Value: strconv.Itoa(i)},
				}})
				if err != nil {
					once.Do(func() { firstErr = err })
					return
				}
				w.msgs[i] = m.Raw()
			}
		})
	}
	wg.Wait()
	return w, firstErr
}

// measure starts a fresh node, spawns the processes, then sends the workload's pre-signed
// messages from `clients` goroutines within dur.
func measure(ctx context.Context, bin, dir string, suKey dataitem.Signer, w workload, clients int, dur time.Duration) (result, error) {
	res := result{clients: clients}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return res, err
	}
	keyJSON, err := dataitem.MarshalKey(suKey)
	if err != nil {
		return res, err
	}
	keyFile := filepath.Join(dir, "key.json")
	if err := os.WriteFile(keyFile, keyJSON, 0o600); err != nil {
		return res, err
	}
	addr, err := freeAddr()
	if err != nil {
		return res, err
	}
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, "run", "--roles", "su", "--data", filepath.Join(dir, "data"), "--http", addr, "--key", keyFile, "--log-level", "warn")
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return res, err
	}
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	}()
	base := "http://" + addr + "/su/"
	hc := &http.Client{Timeout: time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: clients + 4}}
	defer hc.CloseIdleConnections()
	if err := waitReady(ctx, hc, base+"health"); err != nil {
		return res, fmt.Errorf("%w\n%s", err, stderr.String())
	}

	for _, p := range w.procs {
		if err := send(hc, base, p); err != nil {
			return res, fmt.Errorf("spawn: %w", err)
		}
	}
	msgs, n := w.msgs, len(w.msgs)
	lat := make([]time.Duration, n)
	var next atomic.Int64
	var done atomic.Int64
	var firstErr error
	var errOnce sync.Once
	deadline := time.Now().Add(dur)
	var wg sync.WaitGroup
	cpu0, cpuErr := processCPU(cmd.Process.Pid)
	self0 := selfCPU()
	start := time.Now()
	for range clients {
		wg.Go(func() {
			for ctx.Err() == nil && time.Now().Before(deadline) {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				t0 := time.Now()
				if err := send(hc, base, msgs[i]); err != nil {
					errOnce.Do(func() { firstErr = err })
					return
				}
				lat[i] = time.Since(t0)
				done.Add(1)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	cpu1, cpuErr1 := processCPU(cmd.Process.Pid)
	self1 := selfCPU()
	if firstErr != nil {
		return res, firstErr
	}
	var got []time.Duration
	for _, d := range lat {
		if d > 0 {
			got = append(got, d)
		}
	}
	if len(got) == 0 {
		return res, errors.New("no message acknowledged")
	}
	slices.Sort(got)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	res.n = len(got)
	res.perSec = float64(len(got)) / elapsed.Seconds()
	res.p50 = ms(got[len(got)/2])
	res.p99 = ms(got[len(got)*99/100])
	if cpuErr == nil && cpuErr1 == nil {
		res.cpuPerOp = float64((cpu1 - cpu0).Microseconds()) / float64(len(got))
	}
	res.clientCPUPerOp = float64((self1 - self0).Microseconds()) / float64(len(got))
	return res, nil
}

// selfCPU is this process's user+system CPU time so far.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// processCPU is the user+system CPU time of process pid so far, from /proc (Linux only; an
// error elsewhere, and the column then shows 0).
func processCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) is in parentheses and may hold spaces: fields after it
	// start past the last ')'. utime and stime are fields 14 and 15, in clock ticks.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("malformed /proc stat")
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, errors.New("malformed /proc stat")
	}
	ut, err1 := strconv.ParseUint(f[11], 10, 64)
	st, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, errors.New("malformed /proc stat")
	}
	const ticksPerSecond = 100 // USER_HZ, fixed at 100 on Linux for /proc
	return time.Duration(ut+st) * time.Second / ticksPerSecond, nil
}

func send(hc *http.Client, url string, raw []byte) error {
	resp, err := hc.Post(url, "application/octet-stream", bytes.NewReader(raw))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return fmt.Errorf("POST answered %d %s", resp.StatusCode, body)
	}
	return nil
}

func waitReady(ctx context.Context, hc *http.Client, url string) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := hc.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("aonode not ready: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}
