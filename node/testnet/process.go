package testnet

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// ProcessOptions describe a testnet of child processes on 127.0.0.1.
type ProcessOptions struct {
	Nodes    int
	Dir      string
	BasePort int    // node i: HTTP on BasePort+2i, p2p on BasePort+2i+1
	Roles    string // RolesFor's syntax
	// Binary is the aonode executable the nodes run.
	Binary   string
	LogLevel string
	// Schedulers > 0: once ready, spawn the demo process naming that many su nodes (Demo).
	Schedulers   int
	ReadyTimeout time.Duration
	StopTimeout  time.Duration
	// Log gets the testnet's own messages (a node that exits, stopping).
	Log *slog.Logger
}

// MaxNodes bounds a testnet: more would not fit a workstation anyway.
const MaxNodes = 64

func (o ProcessOptions) check() error {
	switch {
	case o.Nodes < 1 || o.Nodes > MaxNodes:
		return fmt.Errorf("--nodes must be 1..%d", MaxNodes)
	case o.Dir == "":
		return errors.New("--dir is required")
	case o.BasePort < 1024 || o.BasePort+2*o.Nodes > 65535:
		return fmt.Errorf("--base-port %d does not leave room for %d nodes", o.BasePort, o.Nodes)
	case o.Binary == "":
		return errors.New("no aonode binary")
	}
	return nil
}

// ErrOptions wraps a mistake in the options, which the CLI reports as a usage error.
var ErrOptions = errors.New("testnet")

// child is one node process this testnet started.
type child struct {
	line   Line
	dir    string
	cmd    *exec.Cmd
	exited chan struct{}
	err    error // after exited
}

// RunProcess starts the nodes, prints one Line per node on out once all are connected, writes
// DIR/testnet.json and runs until ctx ends; then it stops every node, including those a chaos
// run restarted. A node that exits after the start is logged and the others keep running; it
// can be restarted with `aonode run --config` its Line's config.
func RunProcess(ctx context.Context, o ProcessOptions, out io.Writer) error {
	if err := o.check(); err != nil {
		return fmt.Errorf("%w: %v", ErrOptions, err)
	}
	log := o.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	abs, err := filepath.Abs(o.Dir)
	if err != nil {
		return err
	}
	// One mDNS service per testnet directory: two testnets on a machine do not merge.
	sum := sha256.Sum256([]byte(abs))
	service := "aonode-testnet-" + hex.EncodeToString(sum[:6])
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return err
	}
	_ = os.Remove(filepath.Join(abs, StateFile)) // a stale one would point chaos at old pids

	kids := make([]*child, o.Nodes)
	p2pAddr := make([]string, o.Nodes)
	for i := range kids {
		c := &child{dir: filepath.Join(abs, fmt.Sprintf("node-%d", i)), exited: make(chan struct{})}
		httpPort, p2pPort := o.BasePort+2*i, o.BasePort+2*i+1
		peerID, address, err := nodeKey(c.dir)
		if err != nil {
			return err
		}
		c.line = Line{
			Index: i, PeerID: peerID, Roles: RolesFor(o.Roles, i), Address: address,
			HTTP:   "http://127.0.0.1:" + strconv.Itoa(httpPort),
			Key:    filepath.Join(c.dir, "key.json"),
			Config: filepath.Join(c.dir, "config.yaml"),
		}
		p2pAddr[i] = fmt.Sprintf("/ip4/127.0.0.1/tcp/%d/p2p/%s", p2pPort, peerID)
		kids[i] = c
	}
	for i, c := range kids {
		f := nodeFile(c.line.Roles, o.LogLevel, service)
		f.HTTP = "127.0.0.1:" + strconv.Itoa(o.BasePort+2*i)
		f.P2P.Listen = []string{fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", o.BasePort+2*i+1)}
		f.P2P.Bootstrap = bootstrapFor(i, p2pAddr)
		if err := writeConfig(c.line.Config, "Written by aonode testnet; rewritten on every start.", f); err != nil {
			return err
		}
	}

	var wg sync.WaitGroup
	defer wg.Wait()
	exited := make(chan int, len(kids))
	started := kids[:0:0]
	stopAll := func() {
		stopProcessNodes(abs, started, o.StopTimeout, log)
	}
	for _, c := range kids {
		if err := startChild(o.Binary, c); err != nil {
			stopAll()
			return err
		}
		started = append(started, c)
		c.line.PID = c.cmd.Process.Pid
		wg.Go(func() {
			c.err = c.cmd.Wait()
			close(c.exited)
			exited <- c.line.Index
		})
	}
	defer stopAll()

	client := &http.Client{Timeout: 5 * time.Second}
	defer client.CloseIdleConnections()
	urls := make([]string, len(kids))
	for i, c := range kids {
		urls[i] = c.line.HTTP
	}
	if err := waitReady(ctx, client, urls, o.ReadyTimeout, exited); err != nil {
		if ctx.Err() != nil {
			return nil // interrupted while starting: the deferred stop is all there is to do
		}
		return fmt.Errorf("%w (logs: %s/node-*/node.log)", err, abs)
	}
	st := &State{Kind: KindProcess, Dir: abs, Binary: o.Binary}
	for _, c := range kids {
		st.Nodes = append(st.Nodes, c.line)
	}
	if o.Schedulers > 0 {
		if err := Demo(ctx, st, o.Schedulers, log); err != nil {
			return err
		}
	}
	if err := WriteState(st); err != nil {
		return err
	}
	enc := json.NewEncoder(out)
	for _, c := range kids {
		if err := enc.Encode(c.line); err != nil {
			return err
		}
	}
	for {
		select {
		case <-ctx.Done():
			log.Info("stopping the nodes")
			return nil
		case i := <-exited:
			c := kids[i]
			log.Warn("node exited; the others keep running", "node", i, "err", c.err,
				"log", filepath.Join(c.dir, "node.log"), "restart", o.Binary+" run --config "+c.line.Config)
		}
	}
}

// bootstrapFor gives node i one or two bootstrap peers, never the whole list: node 0 and 1
// bootstrap to each other, the others to both. mDNS finds the rest.
func bootstrapFor(i int, addrs []string) []string {
	var out []string
	for j := range min(2, len(addrs)) {
		if j != i {
			out = append(out, addrs[j])
		}
	}
	return out
}

func startChild(bin string, c *child) error {
	cmd, err := startNode(bin, c.dir, c.line.Config)
	if err != nil {
		return fmt.Errorf("starting node %d: %w", c.line.Index, err)
	}
	c.cmd = cmd
	return nil
}

// startNode starts `aonode run --config` with its output appended to the node's log.
func startNode(bin, dir, config string) (*exec.Cmd, error) {
	logf, err := os.OpenFile(filepath.Join(dir, "node.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "run", "--config", config)
	cmd.Stdout, cmd.Stderr = logf, logf
	// Its own process group: a terminal's SIGINT reaches testnet, which stops the nodes in
	// order, instead of every node at once.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	err = cmd.Start()
	_ = logf.Close() // the child holds its own descriptor
	if err != nil {
		return nil, err
	}
	return cmd, nil
}

// stopProcessNodes stops this testnet's children, and the nodes a chaos run restarted (their
// pids are in the state file), with SIGTERM, then SIGKILL after timeout.
func stopProcessNodes(dir string, kids []*child, timeout time.Duration, log *slog.Logger) {
	var wg sync.WaitGroup
	ours := map[int]bool{}
	for _, c := range kids {
		ours[c.line.PID] = true
		wg.Go(func() {
			select {
			case <-c.exited:
				return
			default:
			}
			_ = c.cmd.Process.Signal(syscall.SIGTERM)
			t := time.NewTimer(timeout)
			defer t.Stop()
			select {
			case <-c.exited:
			case <-t.C:
				_ = c.cmd.Process.Kill()
				<-c.exited
			}
		})
	}
	if st, err := ReadState(dir); err == nil {
		for _, l := range st.Nodes {
			if l.PID > 0 && !ours[l.PID] {
				wg.Go(func() {
					if err := stopPID(l.PID, timeout); err != nil {
						log.Warn("stopping a restarted node", "node", l.Index, "pid", l.PID, "err", err)
					}
				})
			}
		}
	}
	wg.Wait()
}

// stopPID stops a process that is not our child: SIGTERM, polled until gone, then SIGKILL.
func stopPID(pid int, timeout time.Duration) error {
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		if errors.Is(err, syscall.ESRCH) {
			return nil
		}
		return err
	}
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if syscall.Kill(pid, 0) != nil {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return syscall.Kill(pid, syscall.SIGKILL)
}
