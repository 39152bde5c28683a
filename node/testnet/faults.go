package testnet

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"syscall"
)

// ErrUnsupported is a fault a kind of testnet cannot inject (a partition of processes that
// share 127.0.0.1).
var ErrUnsupported = errors.New("testnet: fault not supported here")

// Faults injects faults into the testnet a State describes: processes get signals, containers
// docker commands. A restart updates the state file, so the testnet stops the new process.
type Faults struct {
	mu  sync.Mutex
	st  *State
	bin string // process testnets: the aonode that restarts a node
	wg  sync.WaitGroup
}

// NewFaults binds to a testnet's state.
func NewFaults(st *State) *Faults { return &Faults{st: st, bin: st.Binary} }

// Wait waits until the processes this Faults restarted have exited (the testnet stops them)
// and are reaped.
func (f *Faults) Wait() { f.wg.Wait() }

func (f *Faults) line(i int) (Line, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if i < 0 || i >= len(f.st.Nodes) {
		return Line{}, fmt.Errorf("testnet: no node %d", i)
	}
	return f.st.Nodes[i], nil
}

func (f *Faults) signal(i int, sig syscall.Signal) error {
	l, err := f.line(i)
	if err != nil {
		return err
	}
	if err := syscall.Kill(l.PID, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("node %d (pid %d): %w", i, l.PID, err)
	}
	return nil
}

// Kill kills node i at once (SIGKILL): no shutdown, no flush.
func (f *Faults) Kill(ctx context.Context, i int) error {
	if f.st.Kind == KindProcess {
		return f.signal(i, syscall.SIGKILL)
	}
	return f.docker(ctx, i, "kill", "--signal", "KILL")
}

// Restart starts node i again from its config (a process) or its container.
func (f *Faults) Restart(ctx context.Context, i int) error {
	l, err := f.line(i)
	if err != nil {
		return err
	}
	if f.st.Kind == KindDocker {
		return f.docker(ctx, i, "start")
	}
	cmd, err := startNode(f.bin, dirOf(l), l.Config)
	if err != nil {
		return fmt.Errorf("restarting node %d: %w", i, err)
	}
	f.wg.Go(func() { _ = cmd.Wait() })
	f.mu.Lock()
	f.st.Nodes[i].PID = cmd.Process.Pid
	err = WriteState(f.st)
	f.mu.Unlock()
	return err
}

// Pause freezes node i (a hang, not a crash): SIGSTOP or docker pause.
func (f *Faults) Pause(ctx context.Context, i int) error {
	if f.st.Kind == KindProcess {
		return f.signal(i, syscall.SIGSTOP)
	}
	return f.docker(ctx, i, "pause")
}

// Unpause lets a paused node go on.
func (f *Faults) Unpause(ctx context.Context, i int) error {
	if f.st.Kind == KindProcess {
		return f.signal(i, syscall.SIGCONT)
	}
	return f.docker(ctx, i, "unpause")
}

// Disconnect takes node i off the testnet's network (docker network disconnect): it keeps
// running but reaches no peer, and no peer or client reaches it.
func (f *Faults) Disconnect(ctx context.Context, i int) error {
	if f.st.Kind == KindProcess {
		return ErrUnsupported
	}
	l, err := f.line(i)
	if err != nil {
		return err
	}
	return runDocker(ctx, "network", "disconnect", "--force", f.st.Network, l.Container)
}

// Connect puts node i back on the network; Docker may give it a new address, which its
// peers learn again by mDNS and its signed record.
func (f *Faults) Connect(ctx context.Context, i int) error {
	if f.st.Kind == KindProcess {
		return ErrUnsupported
	}
	l, err := f.line(i)
	if err != nil {
		return err
	}
	return runDocker(ctx, "network", "connect", f.st.Network, l.Container)
}

func (f *Faults) docker(ctx context.Context, i int, verb string, args ...string) error {
	l, err := f.line(i)
	if err != nil {
		return err
	}
	return runDocker(ctx, append(append([]string{verb}, args...), l.Container)...)
}

// runDocker runs the docker CLI and returns its stderr as the error.
func runDocker(ctx context.Context, args ...string) error {
	_, err := dockerOutput(ctx, args...)
	return err
}

func dockerOutput(ctx context.Context, args ...string) (string, error) {
	return output(ctx, "docker", args...)
}

func runCmd(ctx context.Context, name string, args ...string) error {
	_, err := output(ctx, name, args...)
	return err
}

func output(ctx context.Context, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, strings.TrimSpace(errb.String()))
	}
	return out.String(), nil
}

// dirOf is a process node's directory: where its config is.
func dirOf(l Line) string {
	return l.Config[:strings.LastIndexByte(l.Config, '/')]
}
