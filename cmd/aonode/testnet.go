package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/aonode/aonode/node"
	"github.com/aonode/aonode/node/testnet"
)

const testnetUsage = `testnet --nodes N --dir DIR [--base-port P] [--roles LIST] [flags]
   or: testnet --docker --nodes N --dir DIR [--roles LIST] [--schedulers K] [--keep] [flags]
   or: testnet chaos --dir DIR --scenario NAME [flags]   (aonode testnet chaos --help)

Without --docker: starts N node processes (aonode run --config) on 127.0.0.1, each
with its own directory DIR/node-<i> holding its key (created on first use, reused
after), data, config.yaml and node.log. Node i listens for HTTP on P+2i and for p2p
on TCP P+2i+1. With --docker: N containers of the image aonode:local
(scripts/docker-build.sh) on a private Docker network, from a compose file
DIR/compose.yaml; each node's HTTP port is mapped to 127.0.0.1.

Nodes bootstrap to one or two peers and find the rest by mDNS. Once every node knows
all the others, it prints one JSON line per node:
  {"index":0,"peerId":"...","roles":[...],"http":"http://127.0.0.1:P","address":"...",
   "key":"DIR/node-0/key.json","config":"DIR/node-0/config.yaml","pid":1234}
(containers: "container" instead of "pid"), writes DIR/testnet.json for chaos runs,
and runs until SIGINT or SIGTERM. Then it stops the nodes (SIGTERM, SIGKILL after
--stop-timeout) or removes the containers and network (unless --keep). A node that
exits or is killed is logged and the others keep running; restart it with
"aonode run --config" its config (or "docker start" its container).

--roles gives the roles of each node, nodes separated by ';' and cycled: e.g.
"mu,gateway;su;cu" makes node 0 an MU with a gateway, node 1 an SU, node 2 a CU.`

func testnetCommand() command {
	return command{name: "testnet", summary: "run N nodes (processes or containers) that find each other over p2p; inject faults", run: runTestnet}
}

func runTestnet(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "chaos" {
		return runChaos(ctx, args[1:], stdout, stderr)
	}
	fs := newFlagSet("testnet", testnetUsage, stderr)
	n := fs.Int("nodes", 3, "number of nodes")
	dir := fs.String("dir", "", "directory for the nodes' keys, data, configs and logs")
	basePort := fs.Int("base-port", 8800, "first port; node i uses P+2i (HTTP) and P+2i+1 (p2p); with --docker, P+i on 127.0.0.1 maps node i's HTTP")
	roles := fs.String("roles", strings.Join(node.AllRoles, ","), "roles per node, ';' between nodes, cycled")
	ready := fs.Duration("ready-timeout", 2*time.Minute, "how long to wait for the nodes to connect")
	stopTimeout := fs.Duration("stop-timeout", 15*time.Second, "how long a node gets to stop before SIGKILL")
	level := fs.String("log-level", "info", "the nodes' log level")
	docker := fs.Bool("docker", false, "run the nodes as containers of --image on a private Docker network")
	image := fs.String("image", "aonode:local", "with --docker: the image (scripts/docker-build.sh builds aonode:local)")
	keep := fs.Bool("keep", false, "with --docker: leave the containers and network when stopping")
	schedulers := fs.Int("schedulers", 0, "K > 1: K su nodes form the scheduler set of the demo process spawned once ready")
	big := fs.Bool("big", false, "allow more than 20 nodes with --docker (up to 64)")
	if err := parseFlagsNoArgs(fs, args); err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, nil)).With("cmd", "testnet")
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var err error
	if *docker {
		port := 0 // Docker picks free host ports unless told
		if set["base-port"] {
			port = *basePort
		}
		err = testnet.RunDocker(ctx, testnet.DockerOptions{
			Nodes: *n, Dir: *dir, BasePort: port, Roles: *roles, Image: *image, Keep: *keep,
			Schedulers: *schedulers, Big: *big, LogLevel: *level,
			ReadyTimeout: *ready, StopTimeout: *stopTimeout, Log: log,
		}, stdout)
	} else {
		self, serr := os.Executable()
		if serr != nil {
			return fmt.Errorf("finding the aonode binary: %w", serr)
		}
		err = testnet.RunProcess(ctx, testnet.ProcessOptions{
			Nodes: *n, Dir: *dir, BasePort: *basePort, Roles: *roles, Binary: self, LogLevel: *level,
			Schedulers: *schedulers, ReadyTimeout: *ready, StopTimeout: *stopTimeout, Log: log,
		}, stdout)
	}
	if errors.Is(err, testnet.ErrOptions) {
		return usageError{strings.TrimPrefix(err.Error(), "testnet: ")}
	}
	return err
}
