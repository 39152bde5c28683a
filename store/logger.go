package store

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
)

// badgerLogger bridges Badger's printf-style logger to slog at warning level: Badger's info
// and debug lines (every compaction, every memtable flush) would drown a node's log, and
// nothing in them needs an operator.
type badgerLogger struct {
	log *slog.Logger
	// onSyncError is told when Badger reports a failed value-log sync. With SyncWrites on,
	// Badger only logs that failure and still acknowledges the write, so the log line is the
	// one place where the store can learn that acknowledged bytes may not be on disk.
	onSyncError func(error)
}

// vlogSyncFailure is the format Badger v4 logs when syncing the value log fails after a write
// (value.go, valueLog.write).
const vlogSyncFailure = "Error while curlf sync"

func (l *badgerLogger) Errorf(format string, args ...any) {
	msg := strings.TrimSpace(fmt.Sprintf(format, args...))
	if strings.HasPrefix(format, vlogSyncFailure) && l.onSyncError != nil {
		l.onSyncError(fmt.Errorf("badger: %s", msg))
	}
	l.log.Error(msg, "source", "badger")
}

func (l *badgerLogger) Warningf(format string, args ...any) {
	if !l.log.Enabled(context.Background(), slog.LevelWarn) {
		return
	}
	l.log.Warn(strings.TrimSpace(fmt.Sprintf(format, args...)), "source", "badger")
}

func (l *badgerLogger) Infof(string, ...any) {}

func (l *badgerLogger) Debugf(string, ...any) {}
