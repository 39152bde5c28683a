// Package wasmcache keeps wazero's compiled machine code on disk, bounded in size, so that a
// restarted CU or a second `aonode eval` of the same module does not compile it again.
//
// wazero already makes the cache safe to share: each entry is named by the SHA-256 of the
// module bytes (after any lowering) and the compiler's settings, entries live in a directory
// named for the wazero version, architecture and OS (a wazero upgrade never reads an older
// entry), an entry is written to a temporary file, fsynced and renamed into place (readers
// never see half an entry, and concurrent writers of one module write the same bytes), and an
// entry whose checksum does not match is deleted and compiled again. What it does not do is
// forget anything: Prune bounds the directory.
package wasmcache

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/tetratelabs/wazero"
)

// DefaultMaxBytes bounds one cache directory: a few dozen aos builds (an aos module compiles
// to 10-30 MB of machine code).
const DefaultMaxBytes = 1 << 30

// staleTemp is how old a temporary file must be before Prune takes it for a crashed writer's
// leftover rather than an entry being written now.
const staleTemp = time.Hour

// Cache is a wazero compilation cache backed by a directory, with its bound.
type Cache struct {
	cc       wazero.CompilationCache
	dir      string
	maxBytes int64
}

// Open opens (creating it if needed) the cache in dir, bounded to maxBytes (<= 0:
// DefaultMaxBytes), and prunes it once.
func Open(dir string, maxBytes int64) (*Cache, error) {
	if maxBytes <= 0 {
		maxBytes = DefaultMaxBytes
	}
	cc, err := wazero.NewCompilationCacheWithDir(dir)
	if err != nil {
		return nil, fmt.Errorf("compilation cache %s: %w", dir, err)
	}
	c := &Cache{cc: cc, dir: dir, maxBytes: maxBytes}
	if err := c.Prune(); err != nil {
		return nil, errors.Join(err, cc.Close(context.Background()))
	}
	return c, nil
}

// Compilation is the wazero cache to configure runtimes with. (wazero accepts only its own
// implementation, so Cache cannot be one itself.)
func (c *Cache) Compilation() wazero.CompilationCache { return c.cc }

// Close releases the compiled code held in memory; the directory stays.
func (c *Cache) Close(ctx context.Context) error { return c.cc.Close(ctx) }

// Dir is the cache directory.
func (c *Cache) Dir() string { return c.dir }

type entry struct {
	path string
	size int64
	mod  time.Time
}

// Prune deletes the oldest entries until the directory holds at most its bound, and
// temporary files left by a writer that died. Another process may be reading an entry it
// deletes: on Unix the open file stays readable, and an entry found missing is compiled
// again, so pruning is safe while other processes use the cache.
func (c *Cache) Prune() error {
	var entries []entry
	var total int64
	now := time.Now()
	err := filepath.WalkDir(c.dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // removed by another process meanwhile
			}
			return err
		}
		if d.IsDir() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return nil
		}
		if strings.HasSuffix(d.Name(), ".tmp") {
			if now.Sub(info.ModTime()) > staleTemp {
				_ = os.Remove(path)
			}
			return nil
		}
		entries = append(entries, entry{path, info.Size(), info.ModTime()})
		total += info.Size()
		return nil
	})
	if err != nil {
		return fmt.Errorf("prune compilation cache %s: %w", c.dir, err)
	}
	if total <= c.maxBytes {
		return nil
	}
	slices.SortFunc(entries, func(a, b entry) int { return a.mod.Compare(b.mod) })
	for _, e := range entries {
		if total <= c.maxBytes {
			break
		}
		if err := os.Remove(e.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("prune compilation cache: %w", err)
		}
		total -= e.size
	}
	return nil
}
