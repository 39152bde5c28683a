package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/aonode/aonode/dataitem"
	"github.com/aonode/aonode/node"
	"github.com/aonode/aonode/p2p"
)

const testnetUsage = `testnet --nodes N --dir DIR [--base-port P] [--roles LIST] [flags]

Starts N node processes (aonode run --config) on 127.0.0.1, each with its own
directory DIR/node-<i> holding its key (created on first use, reused after),
data and config.yaml. Node i listens for HTTP on P+2i and for p2p on TCP P+2i+1
and bootstraps to every node before it; mDNS is on. Once every node's
directory lists all the others as connected, it prints one JSON line per node:
  {"peerId":"...","roles":["su","cu","mu","gateway"],"http":"http://127.0.0.1:P"}
and runs until SIGINT or SIGTERM, then stops the nodes (SIGTERM, then SIGKILL
after --stop-timeout). A node that exits early stops the whole testnet.
Each node's log is DIR/node-<i>/node.log.

--roles gives the roles of each node, nodes separated by ';' and cycled: e.g.
"mu,gateway;su;cu" makes node 0 an MU with a gateway, node 1 an SU, node 2 a CU.`

func testnetCommand() command {
	return command{name: "testnet", summary: "run N local nodes that find each other over p2p", run: runTestnet}
}

// testnetNode is one child node.
type testnetNode struct {
	index  int
	dir    string
	peerID string
	roles  []string
	http   string // base URL
	p2p    string // multiaddr with /p2p/<peer id>
	cmd    *exec.Cmd
	exited chan struct{}
	err    error // after exited
}

// testnetLine is what testnet prints for a node.
type testnetLine struct {
	PeerID string   `json:"peerId"`
	Roles  []string `json:"roles"`
	HTTP   string   `json:"http"`
}

const maxTestnetNodes = 64

func runTestnet(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("testnet", testnetUsage, stderr)
	n := fs.Int("nodes", 3, "number of nodes")
	dir := fs.String("dir", "", "directory for the nodes' keys, data, configs and logs")
	basePort := fs.Int("base-port", 8800, "first port; node i uses P+2i (HTTP) and P+2i+1 (p2p)")
	roles := fs.String("roles", strings.Join(node.AllRoles, ","), "roles per node, ';' between nodes, cycled")
	ready := fs.Duration("ready-timeout", 2*time.Minute, "how long to wait for the nodes to connect")
	stopTimeout := fs.Duration("stop-timeout", 15*time.Second, "how long a node gets to stop before SIGKILL")
	level := fs.String("log-level", "info", "the nodes' log level")
	if err := parseFlagsNoArgs(fs, args); err != nil {
		return err
	}
	switch {
	case *n < 1 || *n > maxTestnetNodes:
		return usageError{fmt.Sprintf("--nodes must be 1..%d", maxTestnetNodes)}
	case *dir == "":
		return usageError{"--dir is required"}
	case *basePort < 1024 || *basePort+2**n > 65535:
		return usageError{fmt.Sprintf("--base-port %d does not leave room for %d nodes", *basePort, *n)}
	}
	perNode := strings.Split(*roles, ";")
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("finding the aonode binary: %w", err)
	}
	abs, err := filepath.Abs(*dir)
	if err != nil {
		return err
	}
	// One mDNS service per testnet directory: two testnets on a machine do not merge.
	sum := sha256.Sum256([]byte(abs))
	service := "aonode-testnet-" + hex.EncodeToString(sum[:6])

	nodes := make([]*testnetNode, *n)
	for i := range nodes {
		nd := &testnetNode{index: i, dir: filepath.Join(abs, fmt.Sprintf("node-%d", i)), exited: make(chan struct{})}
		nd.roles = splitList(perNode[i%len(perNode)])
		httpPort, p2pPort := *basePort+2*i, *basePort+2*i+1
		nd.http = "http://127.0.0.1:" + strconv.Itoa(httpPort)
		if nd.peerID, err = prepareNodeDir(nd.dir); err != nil {
			return err
		}
		nd.p2p = fmt.Sprintf("/ip4/127.0.0.1/tcp/%d/p2p/%s", p2pPort, nd.peerID)
		var boot []string
		for _, prev := range nodes[:i] {
			boot = append(boot, prev.p2p)
		}
		if err := writeNodeConfig(nd, httpPort, p2pPort, boot, service, *level); err != nil {
			return err
		}
		nodes[i] = nd
	}

	var wg sync.WaitGroup
	defer wg.Wait()
	stopAll := func() {
		for _, nd := range nodes {
			if nd.cmd != nil {
				stopNode(nd, *stopTimeout)
			}
		}
	}
	anyExit := make(chan *testnetNode, len(nodes))
	for _, nd := range nodes {
		if err := startNode(self, nd); err != nil {
			stopAll()
			return err
		}
		wg.Go(func() {
			nd.err = nd.cmd.Wait()
			close(nd.exited)
			anyExit <- nd
		})
	}
	defer stopAll()

	client := &http.Client{Timeout: 5 * time.Second}
	defer client.CloseIdleConnections()
	if err := waitConnected(ctx, client, nodes, *ready, anyExit); err != nil {
		if ctx.Err() != nil {
			return nil // interrupted while starting: the deferred stop is all there is to do
		}
		return err
	}
	enc := json.NewEncoder(stdout)
	for _, nd := range nodes {
		if err := enc.Encode(testnetLine{PeerID: nd.peerID, Roles: nd.roles, HTTP: nd.http}); err != nil {
			return err
		}
	}
	select {
	case <-ctx.Done():
		fmt.Fprintln(stderr, "aonode testnet: stopping the nodes")
		return nil
	case nd := <-anyExit:
		return fmt.Errorf("node %d exited (%v); see %s", nd.index, nd.err, filepath.Join(nd.dir, "node.log"))
	}
}

// prepareNodeDir makes a node's directory and key (kept across runs, so the peer IDs and
// bootstrap addresses stay the same) and returns its peer ID.
func prepareNodeDir(dir string) (string, error) {
	if err := os.MkdirAll(filepath.Join(dir, "data"), 0o700); err != nil {
		return "", err
	}
	keyPath := filepath.Join(dir, "key.json")
	raw, err := os.ReadFile(keyPath)
	if errors.Is(err, os.ErrNotExist) {
		s, gerr := dataitem.GenerateKey(dataitem.ED25519)
		if gerr != nil {
			return "", gerr
		}
		if raw, err = dataitem.MarshalKey(s); err != nil {
			return "", err
		}
		err = writeNewFile(keyPath, raw, 0o600)
	}
	if err != nil {
		return "", fmt.Errorf("node key %s: %w", keyPath, err)
	}
	signer, err := dataitem.ParseKey(raw)
	if err != nil {
		return "", fmt.Errorf("node key %s: %w", keyPath, err)
	}
	id, err := p2p.NewIdentity(signer, nil)
	if err != nil {
		return "", fmt.Errorf("node key %s: %w", keyPath, err)
	}
	return id.PeerID.String(), nil
}

func writeNodeConfig(nd *testnetNode, httpPort, p2pPort int, boot []string, service, level string) error {
	f := node.FileDefaults()
	f.Roles = nd.roles
	f.Key = "key.json"
	f.Data = "data"
	f.HTTP = "127.0.0.1:" + strconv.Itoa(httpPort)
	f.LogLevel = level
	f.P2P.Enabled = true
	f.P2P.Listen = []string{fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", p2pPort)}
	f.P2P.Bootstrap = boot
	f.P2P.MDNS = true
	f.P2P.MDNSService = service
	f.P2P.DHT = false
	f.P2P.DiscoveryInterval = 2 * time.Second
	f.P2P.RecordInterval = 5 * time.Second
	f.Limits.P2PMemoryBytes = 128 << 20
	f.Limits.P2PMaxConns = 128
	f.Limits.P2PConnLowWater, f.Limits.P2PConnHigh = 32, 96
	b, err := yaml.Marshal(f)
	if err != nil {
		return err
	}
	b = append([]byte("# Written by aonode testnet; rewritten on every start.\n"), b...)
	return os.WriteFile(filepath.Join(nd.dir, "config.yaml"), b, 0o600)
}

func startNode(self string, nd *testnetNode) error {
	logf, err := os.OpenFile(filepath.Join(nd.dir, "node.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	cmd := exec.Command(self, "run", "--config", filepath.Join(nd.dir, "config.yaml"))
	cmd.Stdout, cmd.Stderr = logf, logf
	// Its own process group: a terminal's SIGINT reaches testnet, which stops the nodes in
	// order, instead of every node at once.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	err = cmd.Start()
	_ = logf.Close() // the child holds its own descriptor
	if err != nil {
		return fmt.Errorf("starting node %d: %w", nd.index, err)
	}
	nd.cmd = cmd
	return nil
}

// stopNode sends SIGTERM and waits; after timeout it kills the node.
func stopNode(nd *testnetNode, timeout time.Duration) {
	select {
	case <-nd.exited:
		return
	default:
	}
	_ = nd.cmd.Process.Signal(syscall.SIGTERM)
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-nd.exited:
	case <-t.C:
		_ = nd.cmd.Process.Kill()
		<-nd.exited
	}
}

// waitConnected polls every node's GET /peers until each lists all the others as connected.
func waitConnected(ctx context.Context, client *http.Client, nodes []*testnetNode, timeout time.Duration, anyExit <-chan *testnetNode) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		done := true
		for _, nd := range nodes {
			if !nodeConnected(ctx, client, nd, len(nodes)) {
				done = false
				break
			}
		}
		if done {
			return nil
		}
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return fmt.Errorf("the nodes did not connect within %v (logs: node-*/node.log)", timeout)
			}
			return ctx.Err()
		case nd := <-anyExit:
			return fmt.Errorf("node %d exited while starting (%v); see %s", nd.index, nd.err, filepath.Join(nd.dir, "node.log"))
		case <-tick.C:
		}
	}
}

func nodeConnected(ctx context.Context, client *http.Client, nd *testnetNode, n int) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, nd.http+"/peers", nil)
	if err != nil {
		return false
	}
	resp, err := client.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return false
	}
	var pr node.PeersReply
	if err := json.NewDecoder(io.LimitReader(resp.Body, 4<<20)).Decode(&pr); err != nil {
		return false
	}
	connected := 0
	for _, p := range pr.Peers {
		if p.Connected && p.URL != "" {
			connected++
		}
	}
	return connected >= n-1
}
