package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
	"github.com/prometheus/client_golang/prometheus"
)

// Errors callers branch on.
var (
	ErrNotFound = errors.New("store: not found")
	ErrClosed   = errors.New("store: closed")
	// ErrInvalidKeyspace: a keyspace that keyspaces.go does not declare.
	ErrInvalidKeyspace = errors.New("store: invalid keyspace")
	// ErrInvalidKey: an empty key, a key longer than MaxKeyBytes, or an id that cannot form one.
	ErrInvalidKey = errors.New("store: invalid key")
	// ErrTooLarge: a value longer than the DB accepts, or a batch too large for one write.
	ErrTooLarge = errors.New("store: too large")
	// ErrFailed: a write or sync failed on disk. The DB refuses every later Commit, because
	// after a failed fsync nobody can say which acknowledged bytes survive; reopen it. The
	// batch whose Commit first reported it may or may not be visible.
	ErrFailed = errors.New("store: write failed, reopen required")
	// ErrCorrupt: a stored record does not decode.
	ErrCorrupt = errors.New("store: corrupt record")
)

// Size limits. Keys are tiny in every keyspace we have; values are bounded so that a single
// value can never fill a whole value-log file.
const (
	MaxKeyBytes   = 4 << 10
	MaxValueBytes = 64 << 20
	// MaxInMemoryValueBytes bounds values in InMemory mode, where Badger has no value log and
	// keeps every value inside the memtable.
	MaxInMemoryValueBytes = 1<<20 - 1
)

// Defaults, chosen for many nodes on one machine; doc.go gives the reasons.
const (
	DefaultMaxBatchBytes   = 4 << 20
	DefaultMaxBatchDelay   = 100 * time.Microsecond
	DefaultGCInterval      = 10 * time.Minute
	DefaultMemTableBytes   = 16 << 20
	DefaultBlockCacheBytes = 8 << 20
	DefaultIndexCacheBytes = 4 << 20

	// gcDiscardRatio: rewrite a value-log file when at least half of it is garbage, which
	// bounds the value log's lifetime write amplification at 2 (Badger's recommendation).
	gcDiscardRatio = 0.5
	// valueThreshold: values this long or longer live in the value log, shorter ones inline in
	// the LSM tree. Slots and index entries (a few hundred bytes) stay inline; data items,
	// results and checkpoints mostly go to the value log, so compaction rewrites keys, not
	// payloads.
	valueThreshold = 1 << 10
	// valueLogFileBytes: smaller than Badger's 1 GiB so that GC reclaims space in finer steps
	// and each node maps less address space.
	valueLogFileBytes = 128 << 20
	// magicVersion is our on-disk format version; Badger refuses to open a directory written
	// with another one.
	magicVersion = 1
)

// syncMode selects how a group of batches is made durable. Only syncWrites is offered through
// Options; the others exist so that the benchmarks can compare against them (doc.go).
type syncMode uint8

const (
	// syncWrites: Badger SyncWrites=true; one Badger transaction per group, which Badger
	// writes and msyncs (value log, then memtable WAL) before the commit returns.
	syncWrites syncMode = iota
	// syncAfterCommit: SyncWrites=false and db.Sync() after each group's transaction.
	syncAfterCommit
	// syncNever: SyncWrites=false and no sync at all (not durable; benchmark baseline).
	syncNever
)

// Options configures a DB. Zero values of the sizing knobs mean "the default".
type Options struct {
	Dir      string       // data directory (ignored when InMemory)
	InMemory bool         // for tests: no files, Commit returns once applied
	Logger   *slog.Logger // nil = slog.Default()
	// Group commit: a single committer goroutine merges the batches of concurrent Commit calls
	// into one Badger write + one fsync. MaxBatchDelay = how long the committer may wait to
	// gather more work after the first batch arrives (0 = never wait: take what is queued and
	// go); it stops waiting early once every Commit in flight has joined the group.
	// MaxBatchBytes bounds the bytes of one group (0 = DefaultMaxBatchBytes); a single batch
	// larger than it is written alone.
	MaxBatchDelay time.Duration
	MaxBatchBytes int
	GCInterval    time.Duration // value-log GC period (0 = default 10 min; <0 disables)
	// Memory sizing knobs for Badger (mem table, block cache, index cache); 0 = Default*Bytes.
	// MemTableBytes also bounds one group: Badger caps a transaction at 15% of it.
	MemTableBytes, BlockCacheBytes, IndexCacheBytes int64
	// Registerer receives the store's metrics; nil registers none. To run several DBs on one
	// registry, wrap it with prometheus.WrapRegistererWith and a distinguishing label.
	Registerer prometheus.Registerer

	mode syncMode // benchmarks only
}

// DefaultOptions returns the options for a durable DB in dir.
func DefaultOptions(dir string) Options {
	return Options{
		Dir:             dir,
		MaxBatchDelay:   DefaultMaxBatchDelay,
		MaxBatchBytes:   DefaultMaxBatchBytes,
		GCInterval:      DefaultGCInterval,
		MemTableBytes:   DefaultMemTableBytes,
		BlockCacheBytes: DefaultBlockCacheBytes,
		IndexCacheBytes: DefaultIndexCacheBytes,
	}
}

// Validate reports the first option that cannot work.
func (o Options) Validate() error {
	switch {
	case !o.InMemory && o.Dir == "":
		return errors.New("store: options: Dir is required unless InMemory")
	case o.MaxBatchDelay < 0:
		return errors.New("store: options: MaxBatchDelay must not be negative")
	case o.MaxBatchDelay > time.Second:
		return errors.New("store: options: MaxBatchDelay above 1s would stall every commit")
	case o.MaxBatchBytes < 0:
		return errors.New("store: options: MaxBatchBytes must not be negative")
	case o.MemTableBytes < 0, o.BlockCacheBytes < 0, o.IndexCacheBytes < 0:
		return errors.New("store: options: memory sizes must not be negative")
	case o.MemTableBytes != 0 && o.MemTableBytes < 8<<20:
		// Below 8 MiB Badger's transaction cap (15%) drops under the 1 MiB value threshold
		// that InMemory mode needs, and groups would be tiny.
		return errors.New("store: options: MemTableBytes must be at least 8 MiB")
	}
	return nil
}

func (o Options) withDefaults() Options {
	if o.MaxBatchBytes == 0 {
		o.MaxBatchBytes = DefaultMaxBatchBytes
	}
	if o.GCInterval == 0 {
		o.GCInterval = DefaultGCInterval
	}
	if o.MemTableBytes == 0 {
		o.MemTableBytes = DefaultMemTableBytes
	}
	if o.BlockCacheBytes == 0 {
		o.BlockCacheBytes = DefaultBlockCacheBytes
	}
	if o.IndexCacheBytes == 0 {
		o.IndexCacheBytes = DefaultIndexCacheBytes
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// badgerOptions maps our options onto Badger's; doc.go explains each choice.
func (o Options) badgerOptions(bridge *badgerLogger) badger.Options {
	bo := badger.DefaultOptions(o.Dir).
		WithInMemory(o.InMemory).
		WithSyncWrites(o.mode == syncWrites).
		WithLogger(bridge).
		WithMetricsEnabled(false).
		WithDetectConflicts(false).
		WithNumVersionsToKeep(1).
		WithMemTableSize(o.MemTableBytes).
		WithNumMemtables(2).
		WithBlockCacheSize(o.BlockCacheBytes).
		WithIndexCacheSize(o.IndexCacheBytes).
		WithNumCompactors(2).
		WithCompression(options.Snappy).
		WithChecksumVerificationMode(options.OnBlockRead).
		WithValueThreshold(valueThreshold).
		WithValueLogFileSize(valueLogFileBytes).
		WithCompactL0OnClose(false).
		WithExternalMagic(magicVersion)
	if o.InMemory {
		bo = bo.WithDir("").WithValueDir("").WithValueThreshold(MaxInMemoryValueBytes + 1)
	}
	return bo
}

// DB is an open store. All methods are safe for concurrent use.
type DB struct {
	bdb  *badger.DB
	opts Options
	log  *slog.Logger
	m    *metrics
	lim  limits

	reqs          chan *request
	inflight      atomic.Int64  // Commit calls between queueing and returning
	left          chan struct{} // signalled when one of them returns
	closing       chan struct{} // closed by Close: no new commits, committer drains and exits
	committerDone chan struct{}
	gcStop        context.CancelFunc
	gcDone        chan struct{}

	// Badger runs in managed mode: the committer stamps each group with the next commit
	// timestamp and reads take the last one applied. In Badger's own mode a read transaction
	// waits until every commit already under way is written, fsync included, so each read
	// would stall for a whole group commit.
	nextTs    uint64        // committer only: last timestamp handed to a commit
	readTs    atomic.Uint64 // last commit applied: what reads see
	readers   gate
	failure   atomic.Pointer[error]
	closeOnce sync.Once
	closeErr  error
}

// Open opens (creating if needed) the store described by opts and starts its committer and
// value-log GC goroutines; Close stops them.
func Open(opts Options) (*DB, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	opts = opts.withDefaults()
	if !opts.InMemory {
		if err := os.MkdirAll(opts.Dir, 0o700); err != nil {
			return nil, fmt.Errorf("store: create %s: %w", opts.Dir, err)
		}
	}
	db := &DB{
		opts:          opts,
		log:           opts.Logger.With("component", "store"),
		reqs:          make(chan *request, 1024),
		closing:       make(chan struct{}),
		committerDone: make(chan struct{}),
		left:          make(chan struct{}, 1),
		gcDone:        make(chan struct{}),
	}
	bridge := &badgerLogger{log: db.log, onSyncError: db.fail}
	bdb, err := badger.OpenManaged(opts.badgerOptions(bridge))
	if err != nil {
		return nil, fmt.Errorf("store: open badger in %q: %w", opts.Dir, err)
	}
	db.bdb = bdb
	db.nextTs = bdb.MaxVersion()
	db.readTs.Store(db.nextTs)
	db.readers.at = make(map[uint64]int)
	db.lim = newLimits(opts, bdb)
	db.m = newMetrics()
	if err := db.m.register(opts.Registerer); err != nil {
		_ = bdb.Close()
		return nil, err
	}
	go db.commitLoop()
	ctx, cancel := context.WithCancel(context.Background())
	db.gcStop = cancel
	go db.gcLoop(ctx)
	return db, nil
}

// Close stops accepting commits, writes the batches already queued, stops the committer and
// GC goroutines, waits for running reads and closes Badger. Calling Close again returns the
// first call's result. Close must not be called from inside a Scan or Slots callback.
func (db *DB) Close() error {
	db.closeOnce.Do(func() {
		close(db.closing)
		<-db.committerDone
		db.gcStop()
		<-db.gcDone
		db.readers.close()
		if err := db.bdb.Close(); err != nil {
			db.closeErr = fmt.Errorf("store: close badger: %w", err)
		}
		db.m.unregister()
	})
	return db.closeErr
}

// fail records the first fatal write error; every later Commit returns it.
func (db *DB) fail(err error) {
	wrapped := fmt.Errorf("%w: %w", ErrFailed, err)
	if db.failure.CompareAndSwap(nil, &wrapped) {
		db.log.Error("store failed; refusing further commits until reopened", "err", err)
	}
}

func (db *DB) failed() error {
	if p := db.failure.Load(); p != nil {
		return *p
	}
	return nil
}

// view runs fn in a read transaction, guarded against a concurrent Close.
func (db *DB) view(fn func(txn *badger.Txn) error) error {
	ts, ok := db.readers.enter(&db.readTs)
	if !ok {
		return ErrClosed
	}
	defer db.readers.exit(ts)
	txn := db.bdb.NewTransactionAt(ts, false)
	defer txn.Discard()
	err := fn(txn)
	if errors.Is(err, badger.ErrDBClosed) {
		return ErrClosed
	}
	return err
}

// Get returns a copy of the value stored under key in ks, or ErrNotFound.
func (db *DB) Get(ks Keyspace, key []byte) ([]byte, error) {
	if err := checkReadKey(ks, key); err != nil {
		return nil, err
	}
	var out []byte
	err := db.view(func(txn *badger.Txn) error {
		v, err := getIn(txn, fullKey(ks, key))
		out = v
		return err
	})
	return out, err
}

// Has reports whether key exists in ks.
func (db *DB) Has(ks Keyspace, key []byte) (bool, error) {
	if err := checkReadKey(ks, key); err != nil {
		if errors.Is(err, ErrNotFound) {
			return false, nil
		}
		return false, err
	}
	var found bool
	err := db.view(func(txn *badger.Txn) (err error) {
		found, err = hasIn(txn, fullKey(ks, key))
		return err
	})
	return found, err
}

// Scan calls fn for keys of ks with the given prefix, starting at start (>=, or <= when
// reverse; nil = the first, or the last, key of the prefix), in key order; fn returns false
// to stop. The key passed to fn lacks the keyspace byte. key and value are only valid during
// the call; copy them to keep them.
func (db *DB) Scan(ks Keyspace, prefix, start []byte, reverse bool, fn func(key, value []byte) bool) error {
	if !ks.Valid() {
		return fmt.Errorf("%w: %#x", ErrInvalidKeyspace, byte(ks))
	}
	return db.view(func(txn *badger.Txn) error {
		return scanIn(txn, ks, prefix, start, reverse, fn)
	})
}

// checkReadKey validates a key for a read. A key that could never have been written is
// reported as ErrNotFound, which is the truth and spares callers an extra error case.
func checkReadKey(ks Keyspace, key []byte) error {
	if !ks.Valid() {
		return fmt.Errorf("%w: %#x", ErrInvalidKeyspace, byte(ks))
	}
	if len(key) == 0 || len(key) > MaxKeyBytes {
		return ErrNotFound
	}
	return nil
}

func fullKey(ks Keyspace, key []byte) []byte {
	k := make([]byte, 1+len(key))
	k[0] = byte(ks)
	copy(k[1:], key)
	return k
}

func getIn(txn *badger.Txn, key []byte) ([]byte, error) {
	item, err := txn.Get(key)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	return item.ValueCopy(nil)
}

// hasIn reports whether key is present, without reading its value.
func hasIn(txn *badger.Txn, key []byte) (bool, error) {
	_, err := txn.Get(key)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return false, nil
	}
	return err == nil, err
}

func scanIn(txn *badger.Txn, ks Keyspace, prefix, start []byte, reverse bool, fn func(key, value []byte) bool) error {
	full := fullKey(ks, prefix)
	io := badger.IteratorOptions{PrefetchValues: false, Reverse: reverse}
	var seek []byte
	if !reverse {
		// Badger's Prefix option lets it skip tables outside the range; it only works
		// forward, where the seek key below is always inside the prefix range.
		io.Prefix = full
		seek = full
		if start != nil {
			if s := fullKey(ks, start); bytes.Compare(s, full) > 0 {
				seek = s
			}
		}
	} else {
		// The first key after the prefix range; a reverse Seek lands on the largest key <= it.
		seek = prefixEnd(full)
		if start != nil {
			if s := fullKey(ks, start); bytes.Compare(s, seek) < 0 {
				seek = s
			}
		}
	}
	it := txn.NewIterator(io)
	defer it.Close()
	for it.Seek(seek); it.Valid(); it.Next() {
		item := it.Item()
		k := item.Key()
		if !bytes.HasPrefix(k, full) {
			if reverse && bytes.Compare(k, full) > 0 {
				continue // the prefix end itself
			}
			return nil
		}
		var cont bool
		if err := item.Value(func(v []byte) error {
			cont = fn(k[1:], v)
			return nil
		}); err != nil {
			return err
		}
		if !cont {
			return nil
		}
	}
	return nil
}

// prefixEnd returns the smallest key greater than every key with prefix p. p starts with a
// keyspace byte below 0xFF, so such a key always exists.
func prefixEnd(p []byte) []byte {
	end := append([]byte(nil), p...)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] != 0xFF {
			end[i]++
			return end[:i+1]
		}
	}
	// Unreachable for our keys; an empty slice makes the reverse scan start at the very end.
	return nil
}

// gate lets reads run concurrently with each other and blocks Close until they finish.
// Unlike sync.RWMutex it allows a read to start inside another read's callback while Close
// is waiting (RWMutex would deadlock there).
type gate struct {
	mu      sync.Mutex
	n       int
	at      map[uint64]int // read timestamp -> running reads at it
	closed  bool
	drained chan struct{}
}

// enter admits a read and returns the timestamp it reads at: the latest applied commit,
// taken under the same lock as oldest so that the committer never misses it.
func (g *gate) enter(ts *atomic.Uint64) (uint64, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return 0, false
	}
	g.n++
	t := ts.Load()
	g.at[t]++
	return t, true
}

func (g *gate) exit(t uint64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.n--
	if g.at[t]--; g.at[t] == 0 {
		delete(g.at, t)
	}
	if g.n == 0 && g.drained != nil {
		close(g.drained)
		g.drained = nil
	}
}

// oldest returns the oldest timestamp a running read uses, or latest when none runs.
func (g *gate) oldest(latest uint64) uint64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	for t := range g.at {
		latest = min(latest, t)
	}
	return latest
}

func (g *gate) close() {
	g.mu.Lock()
	g.closed = true
	if g.n == 0 {
		g.mu.Unlock()
		return
	}
	ch := make(chan struct{})
	g.drained = ch
	g.mu.Unlock()
	<-ch
}
