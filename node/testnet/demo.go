package testnet

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/aonode/aonode/dataitem"
	"github.com/aonode/aonode/dataitem/aoapi"
	"github.com/aonode/aonode/node"
)

// actor signs and sends the testnet's own items (module, processes, workload messages) with
// a key kept in DIR/client.json, through the one aoapi client.
type actor struct {
	st     *State
	signer dataitem.Signer
	api    *aoapi.Client
}

func newActor(st *State) (*actor, error) {
	path := filepath.Join(st.Dir, "client.json")
	raw, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		s, gerr := dataitem.GenerateKey(dataitem.ED25519)
		if gerr != nil {
			return nil, gerr
		}
		if raw, err = dataitem.MarshalKey(s); err != nil {
			return nil, err
		}
		if err = writeNew(path, raw); errors.Is(err, fs.ErrExist) {
			raw, err = os.ReadFile(path) // another run made it first
		}
	}
	if err != nil {
		return nil, fmt.Errorf("client key %s: %w", path, err)
	}
	signer, err := dataitem.ParseKey(raw)
	if err != nil {
		return nil, fmt.Errorf("client key %s: %w", path, err)
	}
	return &actor{st: st, signer: signer, api: &aoapi.Client{HTTP: &http.Client{Timeout: 20 * time.Second}}}, nil
}

func (a *actor) close() { a.api.HTTP.CloseIdleConnections() }

// withRole lists the nodes that run role.
func (st *State) withRole(role string) []Line {
	var out []Line
	for _, l := range st.Nodes {
		if slices.Contains(l.Roles, role) {
			out = append(out, l)
		}
	}
	return out
}

// nodeOf finds the node whose wallet address is addr.
func (st *State) nodeOf(addr string) (Line, bool) {
	for _, l := range st.Nodes {
		if l.Address == addr {
			return l, true
		}
	}
	return Line{}, false
}

func aoTags(kv ...string) []dataitem.Tag {
	t := []dataitem.Tag{{Name: "Data-Protocol", Value: "ao"}, {Name: "Variant", Value: "ao.TN.1"}}
	for i := 0; i+1 < len(kv); i += 2 {
		t = append(t, dataitem.Tag{Name: kv[i], Value: kv[i+1]})
	}
	return t
}

// publishModule uploads TinyModule to every gateway (so no CU waits on a peer look-up) and
// returns its id.
func (a *actor) publishModule(ctx context.Context) (string, error) {
	if a.st.Module != "" {
		return a.st.Module, nil
	}
	tags := aoTags("Type", "Module", "Module-Format", "wasm32-wasip1-aonode",
		"Input-Encoding", "JSON-1", "Output-Encoding", "JSON-1", "Content-Type", "application/wasm",
		"Memory-Limit", "1-gb", "Compute-Limit", "9000000000000")
	mod, err := dataitem.Sign(a.signer, dataitem.Fields{Data: TinyModule(), Tags: tags})
	if err != nil {
		return "", err
	}
	gws := a.st.withRole(node.RoleGateway)
	if len(gws) == 0 {
		return "", errors.New("no node runs the gateway role: nowhere to publish the module")
	}
	published := 0
	var lastErr error
	for _, g := range gws {
		if _, err := a.api.Do(ctx, http.MethodPost, g.HTTP, "/tx", nil, "application/octet-stream", mod.Raw()); err != nil {
			lastErr = err
			continue
		}
		published++
	}
	if published == 0 {
		return "", fmt.Errorf("publishing the module: %w", lastErr)
	}
	a.st.Module = mod.ID()
	return mod.ID(), nil
}

// spawn sends a Process naming schedulers through an MU and waits until the first scheduler
// serves it. The MU answers 202 once it has queued the process durably.
func (a *actor) spawn(ctx context.Context, mu Line, name string, schedulers []string, wait time.Duration) (string, error) {
	kv := []string{"Type", "Process", "Module", a.st.Module, "Name", name}
	for _, s := range schedulers {
		kv = append(kv, "Scheduler", s)
	}
	p, err := dataitem.Sign(a.signer, dataitem.Fields{Data: []byte(" "), Tags: aoTags(kv...)})
	if err != nil {
		return "", err
	}
	if _, err := a.api.MU(mu.HTTP+"/mu").Post(ctx, p.Raw()); err != nil {
		return "", fmt.Errorf("spawning %s through node %d: %w", name, mu.Index, err)
	}
	su, ok := a.st.nodeOf(schedulers[0])
	if !ok {
		return p.ID(), nil
	}
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	for {
		if _, err := a.api.SU(su.HTTP+"/su").Process(ctx, p.ID()); err == nil {
			return p.ID(), nil
		}
		select {
		case <-ctx.Done():
			return p.ID(), fmt.Errorf("process %s did not reach its SU (node %d): %w", p.ID(), su.Index, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// Demo publishes the tiny module and spawns the testnet's demo process, naming the first k
// su nodes together as its schedulers (one Scheduler tag each), and records both in st.
func Demo(ctx context.Context, st *State, k int, log *slog.Logger) error {
	sus := st.withRole(node.RoleSU)
	mus := st.withRole(node.RoleMU)
	if k > len(sus) {
		return fmt.Errorf("%w: --schedulers %d but only %d nodes run the su role", ErrOptions, k, len(sus))
	}
	if len(mus) == 0 {
		return fmt.Errorf("%w: --schedulers needs a node with the mu role", ErrOptions)
	}
	a, err := newActor(st)
	if err != nil {
		return err
	}
	defer a.close()
	if _, err := a.publishModule(ctx); err != nil {
		return err
	}
	st.Schedulers = nil
	for _, s := range sus[:k] {
		st.Schedulers = append(st.Schedulers, s.Address)
	}
	pid, err := a.spawn(ctx, mus[0], "testnet-demo", st.Schedulers, 15*time.Second)
	st.DemoProcess = pid
	if err != nil {
		// Without the consensus package a set of schedulers may not be served yet: the
		// testnet still runs, and its state names the set for chaos runs.
		log.Warn("demo process not served", "process", pid, "schedulers", st.Schedulers, "err", err)
		return nil
	}
	log.Info("demo process spawned", "process", pid, "schedulers", st.Schedulers, "module", st.Module)
	return nil
}
