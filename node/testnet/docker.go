package testnet

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"time"
)

// DockerOptions describe a testnet of containers.
type DockerOptions struct {
	Nodes        int
	Dir          string
	BasePort     int
	Roles        string
	Image        string
	Keep         bool
	Schedulers   int
	Big          bool
	LogLevel     string
	ReadyTimeout time.Duration
	StopTimeout  time.Duration
	Log          *slog.Logger
}

// RunDocker runs a container testnet.
func RunDocker(ctx context.Context, o DockerOptions, out io.Writer) error {
	return errors.New("not yet")
}
