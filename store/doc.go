// Package store is aonode's durable storage: typed keyspaces over one Badger v4 database per
// node, group-committed durable writes, ordered iteration by process and slot, and value-log
// garbage collection.
//
// # What store owns, and what it must never do
//
// store is the only package that imports Badger; the roles (su, cu, mu, consensus) see a
// byte-keyed, keyspace-separated store with atomic batches, and the typed records this package
// defines (items, slots and their indexes). Every keyspace of every role is declared in
// keyspaces.go, so two roles can never write the same bytes. store reads ANS-104 items
// only to index their tags, owner and recipient for the gateway (index.go), and knows nothing
// about HTTP or the network; it does no I/O besides its data directory, starts exactly two
// goroutines (the committer and the value-log GC loop), and Close stops both.
//
// # Durability contract
//
// Commit returns nil only after every write of the batch is on disk and synced: a node killed
// with SIGKILL, or losing power, at any later moment still has the batch after restart. A
// batch is atomic: after any crash it is either entirely present or entirely absent. When
// Commit returns an error other than the context's, nothing of the batch is visible. When the
// context ends while the batch waits, Commit returns ctx.Err() and the batch may or may not
// land: the caller must treat the outcome as unknown (read it back, or make the batch
// idempotent and retry). Commit after Close returns ErrClosed; batches queued before Close are
// written before Close returns. If a write or sync ever fails, the store refuses every later
// Commit (ErrFailed): after a failed fsync nobody can tell which acknowledged bytes survived, so
// the only safe move is to reopen, which replays Badger's logs from what is really on disk.
//
// The crash test (TestCrashRecovery) kills a child process that commits in a loop at random
// moments, 20 times, and checks after each reopen that every acknowledged batch is there,
// intact, and that no batch is torn. SIGKILL leaves the page cache alone, so that test
// checks the write path and recovery; durability against power loss rests on the sync
// analysis below.
//
// # Group commit, and why SyncWrites is on
//
// Commit validates the batch, queues it and waits. One committer goroutine takes everything
// queued, merges the batches into one Badger transaction, commits it and answers all of them.
// Without waiting, concurrent committers settle into two cohorts that alternate (one syncs
// while the other prepares its next batch), so a group holds about half of them. The
// committer therefore waits up to MaxBatchDelay (DefaultOptions: 100µs) for Commit calls that
// are under way but not yet queued, and stops waiting as soon as the group holds every Commit
// in flight, so a lone committer never pays the delay. With 64 committers this lifts a group
// from ~32 to ~55 batches. A group never exceeds MaxBatchBytes or Badger's transaction limit
// (15% of the memtable); a batch that cannot fit even alone is refused with ErrTooLarge before
// it is queued, and if Badger still rejects one batch of a group, the group is rewritten batch
// by batch so that only that one fails.
//
// Badger v4 offers two ways to make a write durable, and we read its source (v4.9.6) to choose:
//
//   - SyncWrites=false, then DB.Sync(): Sync msyncs the active memtable's WAL and the newest
//     value-log file, and returns their errors. But it misses two cases. When the memtable
//     fills, Badger moves it to the flush queue without syncing its WAL, and when the value
//     log rotates, the previous file is not synced either (logFile.doneWriting syncs only with
//     SyncWrites); Sync then syncs only the new files. Worse, value-log GC rewrites live values
//     and deletes the old file right after the rewrite is applied, with nothing synced: a power
//     cut then loses values that had been durable. Not correct for us.
//   - SyncWrites=true: every write request is msynced before it is acknowledged: the value log
//     once per request batch, the memtable WAL once per request (DB.writeToLSM), rotations and
//     GC rewrites included. Badger does group concurrent transactions into one write, but it
//     syncs the WAL once per transaction, so with many small transactions (BenchmarkCommit
//     "badger") most of the time goes to syncs. Its one gap: a failed value-log msync is only
//     logged. The logger bridge watches for exactly that line and fails the store.
//
// So the store runs with SyncWrites=true and makes each group one transaction: one value-log
// msync and one WAL msync per group, however many batches it holds, and every write Badger
// does on its own (flush, rotation, GC) is synced too. BenchmarkCommit compares this
// ("durable") with SyncWrites=false plus DB.Sync() per group ("syncafter": the same two
// msyncs, so no faster, and not correct), with one Badger transaction per Commit ("badger",
// 20-30 times slower at 64 committers) and with no sync at all. Both msyncs happen even when
// the value log was not written (it is synced unconditionally), and a clean msync still costs
// a good part of a dirty one; two msyncs per group are the floor of this design, which is why
// the size of a group matters more than anything else.
//
// # Reads never wait for a sync: managed timestamps
//
// In Badger's own transaction mode a read transaction takes the newest commit timestamp and
// then waits until every commit up to it has been applied, which with SyncWrites means
// until the group being written has been msynced: every read in the node (the scheduler's
// duplicate check, an HTTP GET, a CU catching up) stalled for up to a whole group commit, and
// a scheduler could not prepare its next slots while the previous ones synced. So Badger runs
// in managed mode: the committer (the only writer) stamps each group with the next
// timestamp and publishes it once the group is applied and synced; a read uses the newest
// published timestamp and never waits. Timestamps continue from Badger's MaxVersion after a
// restart. Compaction may drop versions older than the oldest timestamp a running read uses
// (SetDiscardTs after each group), so no read loses a version it could see.
//
// # Badger options, and why
//
// Defaults suit many nodes on one machine (each node one DB), not one big server:
//
//   - MemTableSize 16 MiB (Badger: 64 MiB), NumMemtables 2 (Badger: 5): each memtable is one
//     Go heap arena of the table size plus the transaction cap (~21 MiB here, ~83 MiB with
//     Badger's defaults), and up to NumMemtables full tables may queue for flushing before
//     writes stall; with Badger's defaults that is several hundred MiB per node. The WAL is
//     mapped at twice the table size. The table size also caps one group at 15% (2.4 MiB of
//     keys and inline values), far above what a group of slots needs.
//   - BlockCacheSize 8 MiB (Badger: 256 MiB) and IndexCacheSize 4 MiB (Badger: 0 = keep all
//     table indexes and bloom filters in memory, unbounded): reads are mostly recent slots,
//     served from the memtable; older blocks come from mmapped tables in the page cache, which
//     the kernel shares among all nodes and sizes to the machine.
//   - Compression Snappy (Badger's default): ids and hash chains are base64url text and
//     compress well, at a CPU cost far below ZSTD's; it requires the block cache above.
//   - ValueThreshold 1 KiB (Badger: 1 MiB): slots and index entries (a few hundred bytes)
//     stay in the LSM tree; data items, results and checkpoints go to the value log, so
//     compaction moves keys, not payloads. InMemory mode has no value log, so there the
//     threshold is 1 MiB and values are limited to MaxInMemoryValueBytes.
//   - ValueLogFileSize 128 MiB (Badger: 1 GiB): GC reclaims space one file at a time, so
//     smaller files free space in smaller steps, and each node maps less address space.
//   - Value-log GC runs every GCInterval (10 min) with discard ratio 0.5, repeated until
//     Badger finds no file worth rewriting: lifetime value-log write amplification stays at
//     most 2 (Badger's own recommendation). Our data is mostly append-only, so GC is cheap
//     and rare.
//   - NumCompactors 2 (Badger: 4): the minimum that keeps L0 compaction separate from the
//     other levels; more only competes for the two cores with the node itself.
//   - DetectConflicts off: the committer is the only writer, so there is nothing to detect.
//   - NumVersionsToKeep 1: nothing reads history.
//   - MetricsEnabled off: Badger's metrics are process-global expvars; the store exports its
//     own Prometheus metrics per DB (commit latency, batches per sync, bytes written, write
//     errors, GC rewrites), registered on Options.Registerer.
//   - ChecksumVerificationMode OnBlockRead: a corrupt table block is reported when read
//     instead of being decoded; the check costs only on block-cache misses.
//   - Logger: bridged to slog at warning level; Badger's info lines (every flush and
//     compaction) would drown a node's log.
//   - ExternalMagic 1: Badger refuses to open a directory written with another store format.
//   - CompactL0OnClose off: Close stays fast; the tables are compacted after the next open.
//
// # Key layouts
//
// Every key is the keyspace byte followed by the caller's key. The scheduler's records are
// laid out in slots.go: process ids are length-prefixed (so no id is a prefix of another's
// keys) and integers are big-endian (so nonces and timestamps sort numerically). A slot may
// carry its assignment item in its value (PutSlotWithAssignment): four keys per scheduled
// message instead of five (item, slot, message index, assignment index), and Item finds the
// assignment through the assignment index.
package store
