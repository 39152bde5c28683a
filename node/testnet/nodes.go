package testnet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/aonode/aonode/dataitem"
	"github.com/aonode/aonode/node"
	"github.com/aonode/aonode/p2p"
)

// Line is what a testnet prints for each node, one JSON object a line, once every node is
// connected. Process testnets fill PID and Config; container testnets Container.
type Line struct {
	Index     int      `json:"index"`
	PeerID    string   `json:"peerId"`
	Roles     []string `json:"roles"`
	HTTP      string   `json:"http"`
	Address   string   `json:"address"`
	Key       string   `json:"key"`
	Config    string   `json:"config"`
	PID       int      `json:"pid,omitempty"`
	Container string   `json:"container,omitempty"`
}

// Kinds of testnet a State describes.
const (
	KindProcess = "process"
	KindDocker  = "docker"
)

// StateFile is the name of the State a testnet writes in its directory.
const StateFile = "testnet.json"

// State describes a running testnet for chaos runs: how to reach, kill and restart each node.
type State struct {
	Kind string `json:"kind"`
	Dir  string `json:"dir"`
	// Binary is the aonode a process testnet runs (restarts use it too).
	Binary string `json:"binary,omitempty"`
	// Project, Network and Compose name a container testnet's compose project, its private
	// network and its compose file.
	Project string `json:"project,omitempty"`
	Network string `json:"network,omitempty"`
	Compose string `json:"compose,omitempty"`
	// Schedulers are the SU addresses the demo process names together (--schedulers), and
	// Module the tiny module it runs; DemoProcess is its id once spawned.
	Schedulers  []string `json:"schedulers,omitempty"`
	Module      string   `json:"module,omitempty"`
	DemoProcess string   `json:"demoProcess,omitempty"`
	// StartSeconds is how long the nodes took from start to all connected.
	StartSeconds float64 `json:"startSeconds,omitempty"`
	Nodes        []Line  `json:"nodes"`
}

// maxStateBytes bounds a state file: 64 nodes of a few hundred bytes each, with room.
const maxStateBytes = 4 << 20

// ReadState reads DIR/testnet.json.
func ReadState(dir string) (*State, error) {
	path := filepath.Join(dir, StateFile)
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("no running testnet in %s: %w", dir, err)
	}
	defer f.Close()
	var s State
	dec := json.NewDecoder(io.LimitReader(f, maxStateBytes))
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if s.Kind != KindProcess && s.Kind != KindDocker {
		return nil, fmt.Errorf("%s: unknown kind %q", path, s.Kind)
	}
	return &s, nil
}

// WriteState replaces DIR/testnet.json atomically (a reader sees the old or the new file).
func WriteState(s *State) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(s.Dir, ".testnet-*.json")
	if err != nil {
		return err
	}
	_, err = tmp.Write(append(b, '\n'))
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), filepath.Join(s.Dir, StateFile))
	}
	if err != nil {
		_ = os.Remove(tmp.Name())
	}
	return err
}

// nodeKey makes a node's directory and key (kept across runs, so peer IDs, addresses and
// bootstrap addresses stay the same) and returns its peer ID and wallet address.
func nodeKey(dir string) (peerID, address string, err error) {
	if err := os.MkdirAll(filepath.Join(dir, "data"), 0o700); err != nil {
		return "", "", err
	}
	keyPath := filepath.Join(dir, "key.json")
	raw, err := os.ReadFile(keyPath)
	if errors.Is(err, fs.ErrNotExist) {
		s, gerr := dataitem.GenerateKey(dataitem.ED25519)
		if gerr != nil {
			return "", "", gerr
		}
		if raw, err = dataitem.MarshalKey(s); err != nil {
			return "", "", err
		}
		err = writeNew(keyPath, raw)
	}
	if err != nil {
		return "", "", fmt.Errorf("node key %s: %w", keyPath, err)
	}
	signer, err := dataitem.ParseKey(raw)
	if err != nil {
		return "", "", fmt.Errorf("node key %s: %w", keyPath, err)
	}
	id, err := p2p.NewIdentity(signer, nil)
	if err != nil {
		return "", "", fmt.Errorf("node key %s: %w", keyPath, err)
	}
	return id.PeerID.String(), id.Address, nil
}

// writeNew creates path (which must not exist), writes b and syncs it.
func writeNew(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(path)
	}
	return err
}

// nodeFile is the config every testnet node starts from: quick discovery and records, so a
// testnet connects in seconds, and p2p limits sized for a few dozen peers on one machine.
func nodeFile(roles []string, level, service string) node.File {
	f := node.FileDefaults()
	f.Roles = roles
	f.Key = "key.json"
	f.Data = "data"
	f.LogLevel = level
	f.P2P.Enabled = true
	f.P2P.MDNS = true
	f.P2P.MDNSService = service
	f.P2P.DHT = false
	f.P2P.DiscoveryInterval = 2 * time.Second
	f.P2P.RecordInterval = 5 * time.Second
	f.Limits.P2PMemoryBytes = 128 << 20
	f.Limits.P2PMaxConns = 128
	f.Limits.P2PConnLowWater, f.Limits.P2PConnHigh = 32, 96
	return f
}

func writeConfig(path, comment string, f node.File) error {
	b, err := yaml.Marshal(f)
	if err != nil {
		return err
	}
	b = append([]byte("# "+comment+"\n"), b...)
	return os.WriteFile(path, b, 0o600)
}

// RolesFor splits a --roles value: nodes separated by ';' (cycled), roles by ','.
func RolesFor(spec string, i int) []string {
	per := strings.Split(spec, ";")
	var out []string
	for _, r := range strings.Split(per[i%len(per)], ",") {
		if r = strings.TrimSpace(r); r != "" {
			out = append(out, r)
		}
	}
	return out
}

// ready reports whether a node's directory lists every other node with its URL and it is
// connected to enough of them: all of them in a small testnet, 8 in a large one (GossipSub
// needs a mesh, not a clique).
func ready(ctx context.Context, client *http.Client, base string, n int) bool {
	pr, err := peersOf(ctx, client, base)
	if err != nil {
		return false
	}
	known, connected := 0, 0
	for _, p := range pr.Peers {
		if p.URL == "" || p.PeerID == pr.Self.PeerID {
			continue
		}
		known++
		if p.Connected {
			connected++
		}
	}
	return known >= n-1 && connected >= min(n-1, 8)
}

func peersOf(ctx context.Context, client *http.Client, base string) (node.PeersReply, error) {
	var pr node.PeersReply
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/peers", nil)
	if err != nil {
		return pr, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return pr, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return pr, fmt.Errorf("GET %s/peers: %s", base, resp.Status)
	}
	err = json.NewDecoder(io.LimitReader(resp.Body, 4<<20)).Decode(&pr)
	return pr, err
}

// waitReady polls every node until all are ready, a node is reported gone on exited, or the
// timeout passes.
func waitReady(ctx context.Context, client *http.Client, urls []string, timeout time.Duration, exited <-chan int) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	done := make([]bool, len(urls))
	for {
		all := true
		for i, u := range urls {
			if !done[i] {
				done[i] = ready(ctx, client, u, len(urls))
				all = all && done[i]
			}
		}
		if all {
			return nil
		}
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				var late []string
				for i, d := range done {
					if !d {
						late = append(late, fmt.Sprint(i))
					}
				}
				return fmt.Errorf("nodes %s did not connect within %v", strings.Join(late, ","), timeout)
			}
			return ctx.Err()
		case i := <-exited:
			return fmt.Errorf("node %d exited while starting", i)
		case <-tick.C:
		}
	}
}
