package store

import (
	"context"
	"errors"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// gcLoop runs value-log GC every GCInterval until ctx ends. Each round rewrites files while
// Badger still finds one that is at least half garbage.
func (db *DB) gcLoop(ctx context.Context) {
	defer close(db.gcDone)
	if db.opts.InMemory || db.opts.GCInterval < 0 {
		return
	}
	t := time.NewTicker(db.opts.GCInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			db.runGC(ctx)
		}
	}
}

// runGC rewrites value-log files until none qualifies, ctx ends, or an error occurs.
func (db *DB) runGC(ctx context.Context) {
	for ctx.Err() == nil {
		err := db.bdb.RunValueLogGC(gcDiscardRatio)
		switch {
		case err == nil:
			db.m.gcRewrites.Inc()
		case errors.Is(err, badger.ErrNoRewrite), errors.Is(err, badger.ErrRejected):
			return
		default:
			db.log.Warn("value-log GC failed", "err", err)
			return
		}
	}
}
