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
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// DockerOptions describe a testnet of containers of one image on a private Docker network.
type DockerOptions struct {
	Nodes int
	Dir   string
	// BasePort > 0 maps node i's HTTP to 127.0.0.1:BasePort+i; 0 picks a free run of ports.
	// Fixed ports, not Docker's ephemeral ones: those change when a container is reconnected
	// to its network, and the printed lines would go stale.
	BasePort int
	Roles    string // RolesFor's syntax
	Image    string
	// Keep leaves the containers and the network when the testnet stops.
	Keep bool
	// Schedulers > 0: once ready, spawn the demo process naming that many su nodes (Demo).
	Schedulers int
	// Big allows more than DefaultMaxContainers nodes.
	Big          bool
	LogLevel     string
	ReadyTimeout time.Duration
	StopTimeout  time.Duration
	Log          *slog.Logger
}

// DefaultMaxContainers is the most nodes RunDocker starts without Big: 20 start and connect
// in seconds on two cores; 50 need a machine given over to them.
const DefaultMaxContainers = 20

// Inside every container: one HTTP port, one libp2p TCP port, fixed paths.
const (
	containerHTTP   = 8734
	containerP2P    = 4001
	containerConfig = "/etc/aonode/config.yaml"
	containerKey    = "/etc/aonode/key.json"
	containerData   = "/var/lib/aonode"
	// containerUser owns the files a root-run testnet mounts: the image's user (Dockerfile).
	containerUser = 10001
)

func (o DockerOptions) check() error {
	limit := DefaultMaxContainers
	if o.Big {
		limit = MaxNodes
	}
	switch {
	case o.Nodes < 1 || o.Nodes > limit:
		if !o.Big && o.Nodes <= MaxNodes {
			return fmt.Errorf("--nodes %d above %d needs --big", o.Nodes, DefaultMaxContainers)
		}
		return fmt.Errorf("--nodes must be 1..%d", limit)
	case o.Dir == "":
		return errors.New("--dir is required")
	case o.BasePort != 0 && (o.BasePort < 1024 || o.BasePort+o.Nodes > 65535):
		return fmt.Errorf("--base-port %d does not leave room for %d nodes", o.BasePort, o.Nodes)
	case o.Image == "":
		return errors.New("--image is required")
	}
	return nil
}

// Compose is the subset of a compose file a testnet writes.
type Compose struct {
	Version  string                    `yaml:"version"`
	Services map[string]ComposeService `yaml:"services"`
	Networks map[string]ComposeNetwork `yaml:"networks"`
}

// ComposeService is one node's container.
type ComposeService struct {
	Image         string   `yaml:"image"`
	ContainerName string   `yaml:"container_name"`
	Hostname      string   `yaml:"hostname"`
	User          string   `yaml:"user"`
	Command       []string `yaml:"command"`
	Volumes       []string `yaml:"volumes"`
	Ports         []string `yaml:"ports"`
	Networks      []string `yaml:"networks"`
	StopGrace     string   `yaml:"stop_grace_period"`
	Init          bool     `yaml:"init,omitempty"`
}

// ComposeNetwork is the testnet's private network.
type ComposeNetwork struct {
	Name   string `yaml:"name"`
	Driver string `yaml:"driver"`
}

// composeCmd runs docker-compose (v1) or docker compose (v2), whichever this machine has.
func composeCmd(ctx context.Context, file, project string, args ...string) error {
	base := []string{"-p", project, "-f", file}
	if _, err := dockerOutput(ctx, "compose", "version"); err == nil {
		return runDocker(ctx, append(append([]string{"compose"}, base...), args...)...)
	}
	return runCmd(ctx, "docker-compose", append(base, args...)...)
}

// RunDocker writes DIR/compose.yaml and a config and key per node, starts the containers on a
// private network, prints one Line per node once all are connected, writes DIR/testnet.json,
// and runs until ctx ends; then it removes the containers and the network unless Keep.
func RunDocker(ctx context.Context, o DockerOptions, out io.Writer) error {
	if err := o.check(); err != nil {
		return fmt.Errorf("%w: %v", ErrOptions, err)
	}
	log := o.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := runDocker(ctx, "image", "inspect", "--format", "{{.Id}}", o.Image); err != nil {
		return fmt.Errorf("image %s not found (build it with scripts/docker-build.sh): %w", o.Image, err)
	}
	abs, err := filepath.Abs(o.Dir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return err
	}
	_ = os.Remove(filepath.Join(abs, StateFile))
	sum := sha256.Sum256([]byte(abs))
	project := "aonode-" + hex.EncodeToString(sum[:4])
	st := &State{Kind: KindDocker, Dir: abs, Project: project, Network: project + "-net",
		Compose: filepath.Join(abs, "compose.yaml")}

	comp := Compose{Version: "3.7", Services: map[string]ComposeService{},
		Networks: map[string]ComposeNetwork{"net": {Name: st.Network, Driver: "bridge"}}}
	user := strconv.Itoa(containerUser) + ":" + strconv.Itoa(containerUser)
	if uid := os.Getuid(); uid != 0 {
		// Not root: the files are this user's and cannot be given away; run as this user.
		user = strconv.Itoa(uid) + ":" + strconv.Itoa(os.Getgid())
	}
	if o.BasePort == 0 {
		if o.BasePort, err = freeRun(o.Nodes); err != nil {
			return err
		}
	}
	boot := make([]string, 0, 2)
	for i := range o.Nodes {
		dir := filepath.Join(abs, fmt.Sprintf("node-%d", i))
		peerID, address, err := nodeKey(dir)
		if err != nil {
			return err
		}
		name := fmt.Sprintf("%s-node-%d", project, i)
		l := Line{Index: i, PeerID: peerID, Roles: RolesFor(o.Roles, i), Address: address,
			Key: filepath.Join(dir, "key.json"), Config: filepath.Join(dir, "config.yaml"), Container: name}
		st.Nodes = append(st.Nodes, l)
		if i < 2 {
			boot = append(boot, fmt.Sprintf("/dns4/%s/tcp/%d/p2p/%s", name, containerP2P, peerID))
		}
		port := fmt.Sprintf("127.0.0.1:%d:%d", o.BasePort+i, containerHTTP)
		stop := o.StopTimeout
		if stop <= 0 {
			stop = 15 * time.Second
		}
		comp.Services[fmt.Sprintf("node-%d", i)] = ComposeService{
			Image: o.Image, ContainerName: name, Hostname: name, User: user,
			Command: []string{"run", "--config", containerConfig},
			Volumes: []string{
				"./" + filepath.Base(dir) + "/config.yaml:" + containerConfig + ":ro",
				"./" + filepath.Base(dir) + "/key.json:" + containerKey + ":ro",
				"./" + filepath.Base(dir) + "/data:" + containerData,
			},
			Ports: []string{port}, Networks: []string{"net"}, StopGrace: stop.String(),
		}
	}
	for i, l := range st.Nodes {
		f := nodeFile(l.Roles, o.LogLevel, project)
		f.Key, f.Data = containerKey, containerData+"/data"
		f.HTTP = "0.0.0.0:" + strconv.Itoa(containerHTTP)
		// Other containers reach this node by its name on the testnet's network.
		f.PublicURL = fmt.Sprintf("http://%s:%d", l.Container, containerHTTP)
		f.P2P.Listen = []string{fmt.Sprintf("/ip4/0.0.0.0/tcp/%d", containerP2P)}
		f.P2P.Bootstrap = nil
		for j, b := range boot {
			if j != i {
				f.P2P.Bootstrap = append(f.P2P.Bootstrap, b)
			}
		}
		f.Limits.ShutdownTimeout = 5 * time.Second
		if err := writeConfig(l.Config, "Written by aonode testnet --docker; paths are inside the container.", f); err != nil {
			return err
		}
		if os.Getuid() == 0 {
			if err := chownTree(dirOf(l), containerUser); err != nil {
				return err
			}
		}
	}
	b, err := yaml.Marshal(comp)
	if err != nil {
		return err
	}
	b = append([]byte("# Written by aonode testnet --docker: "+o.Image+", "+strconv.Itoa(o.Nodes)+" nodes.\n"), b...)
	if err := os.WriteFile(st.Compose, b, 0o644); err != nil {
		return err
	}

	warnNeighbours(o.Nodes, log)
	started := time.Now()
	// The background context: a testnet interrupted while starting still removes what it made.
	teardown := func() {
		if o.Keep {
			log.Info("leaving the containers and network (--keep)", "compose", st.Compose, "project", project)
			return
		}
		tctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if err := composeCmd(tctx, st.Compose, project, "down", "--remove-orphans", "--timeout", strconv.Itoa(int(o.StopTimeout.Seconds()))); err != nil {
			log.Warn("removing the containers", "err", err)
		}
	}
	if err := composeCmd(ctx, st.Compose, project, "up", "-d", "--no-build"); err != nil {
		teardown()
		return err
	}
	defer teardown()
	if err := mappedPorts(ctx, st); err != nil {
		return err
	}
	client := &http.Client{Timeout: 5 * time.Second}
	defer client.CloseIdleConnections()
	urls := make([]string, len(st.Nodes))
	for i, l := range st.Nodes {
		urls[i] = l.HTTP
	}
	if err := waitReady(ctx, client, urls, o.ReadyTimeout, nil); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("%w (logs: docker logs %s-node-<i>)", err, project)
	}
	st.StartSeconds = time.Since(started).Seconds()
	log.Info("testnet connected", "nodes", o.Nodes, "seconds", fmt.Sprintf("%.1f", st.StartSeconds))
	if o.Schedulers > 0 {
		if err := Demo(ctx, st, o.Schedulers, log); err != nil {
			return err
		}
	}
	if err := WriteState(st); err != nil {
		return err
	}
	enc := json.NewEncoder(out)
	for _, l := range st.Nodes {
		if err := enc.Encode(l); err != nil {
			return err
		}
	}
	<-ctx.Done()
	log.Info("stopping the testnet")
	return nil
}

// mappedPorts reads the host port Docker gave each node's HTTP port.
func mappedPorts(ctx context.Context, st *State) error {
	args := []string{"inspect", "--format", `{{.Name}} {{(index (index .NetworkSettings.Ports "8734/tcp") 0).HostPort}}`}
	for _, l := range st.Nodes {
		args = append(args, l.Container)
	}
	outp, err := dockerOutput(ctx, args...)
	if err != nil {
		return err
	}
	ports := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(outp), "\n") {
		name, port, ok := strings.Cut(strings.TrimSpace(line), " ")
		if ok {
			ports[strings.TrimPrefix(name, "/")] = port
		}
	}
	for i, l := range st.Nodes {
		p := ports[l.Container]
		if p == "" {
			return fmt.Errorf("no host port for %s", l.Container)
		}
		st.Nodes[i].HTTP = "http://127.0.0.1:" + p
	}
	return nil
}

// warnNeighbours warns when the kernel's neighbour (ARP) table is too small for the testnet:
// Linux counts the entries of every network namespace against one gc_thresh3, and a mesh of
// n containers holds about n*n of them. Past it, new addresses stop resolving and the host's
// requests to the containers hang (dmesg: "neighbor table overflow").
func warnNeighbours(n int, log *slog.Logger) {
	b, err := os.ReadFile("/proc/sys/net/ipv4/neigh/default/gc_thresh3")
	if err != nil {
		return
	}
	limit, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err == nil && limit < n*n {
		log.Warn("the kernel's neighbour table may overflow with this many containers; raise it",
			"gc_thresh3", limit, "want", n*n, "fix", fmt.Sprintf("sysctl -w net.ipv4.neigh.default.gc_thresh2=%d net.ipv4.neigh.default.gc_thresh3=%d", n*n, 2*n*n))
	}
}

// freeRun finds n consecutive ports free on 127.0.0.1, from 18000 up, as far as can be told
// without holding them.
func freeRun(n int) (int, error) {
	for base := 18000; base+n < 60000; base += n {
		ok := true
		for p := base; p < base+n && ok; p++ {
			l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
			if err != nil {
				ok = false
				continue
			}
			_ = l.Close()
		}
		if ok {
			return base, nil
		}
	}
	return 0, errors.New("no run of free ports on 127.0.0.1")
}

func chownTree(dir string, id int) error {
	return filepath.WalkDir(dir, func(p string, _ os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, id, id)
	})
}
