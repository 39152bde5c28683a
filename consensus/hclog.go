package consensus

import (
	"bytes"
	"log/slog"

	"github.com/hashicorp/go-hclog"
)

// newHCLogger bridges hashicorp's logger to slog: Raft's warnings and errors, one slog record
// per line (Raft's info lines, several per election, stay out).
func newHCLogger(log *slog.Logger, name string) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{
		Name:            name,
		Level:           hclog.Warn,
		Output:          slogWriter{log: log},
		DisableTime:     true,
		IncludeLocation: false,
	})
}

type slogWriter struct{ log *slog.Logger }

func (w slogWriter) Write(p []byte) (int, error) {
	line := string(bytes.TrimSpace(p))
	if bytes.Contains(p, []byte("[ERROR]")) {
		w.log.Error(line)
	} else {
		w.log.Warn(line)
	}
	return len(p), nil
}
