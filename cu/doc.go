// Package cu is the compute unit: it evaluates AO processes in slot order, stores every result
// with a signed attestation, keeps compressed content-addressed memory checkpoints so a restart
// resumes instead of replaying, and serves the reference CU HTTP API (GET /, /result/{id},
// /results/{pid}, /cron/{pid}, /state/{pid}, POST /dry-run, /metrics) plus
// GET /attestation/{id}. The attestation format is documented in ATTESTATION.md.
//
// The CU owns evaluation order and persistence; it never interprets WebAssembly itself. Module
// runtimes (cu/emscripten, cu/wasi) are reached through the small Runtime interface declared
// here (EmscriptenRuntime and WASIRuntime adapt them), schedules come from a Source (SUClient
// speaks the reference SU paging API; a peer-to-peer source can feed the same evaluator), and
// module binaries come from the node's store or an Arweave-style gateway (Gateway).
//
// # Evaluation
//
// Each process has at most one evaluator goroutine, owned by the CU and stopped by Close. It
// loads the process from the source and its module (store cache, node items, then gateway),
// applies Module-Format, Memory-Limit and Compute-Limit (process tag over module tag; above the
// CU's maximum: 413; unknown format: 422), restores the latest checkpoint, then pages the
// schedule in nonce order, verifying the hash chain (422 "HashChain invalid on message …"),
// evaluating Cron-Interval messages due between slots, and storing each result with its
// attestation before anyone can read it. An Error or a trap keeps the previous memory.
// Checkpoints (gzip of the memory, keyed by its SHA-256) are written every CheckpointEvery
// evaluations, when a catch-up ends and the last one is older than CheckpointInterval, after
// IdleCheckpoint without work, when the instance LRU evicts a process, and on Close.
//
// # Dry-runs and /state
//
// A dry-run never waits for its process's evaluation, and the evaluation never waits for a
// dry-run: after waiting at most DryRunWait for the process to catch up, a dry-run runs on a
// copy of the last committed memory, a snapshot the evaluator publishes at each durable
// commit while dry-runs are asked for and never writes again (its next message copies on
// write). A process stuck in a long message is dry-run as it stood before that message.
// Dry-runs are admitted by a token bucket per client address (429), at most DryRunPerProcess
// per process and DryRunConcurrency at once with a small queue (503 with Retry-After), their
// instances count against InstanceBudgetBytes with the live processes (idle ones are unloaded
// to make room; 503 when it is still full), and each runs at most DryRunTimeout of wall-clock
// time besides its gas (413). GET /state serves the same snapshot without copying it.
//
// # Wall-clock cap of an evaluation
//
// EvalTimeout bounds one message's evaluation (evaltime.go): past it nothing is recorded, the
// memory stays as before the message, and the process pauses with 503 answers that say why
// (metrics aonode_cu_paused_processes, aonode_cu_evaluation_timeouts_total) until a retry
// after PauseRetry, doubling to an hour. Gas stays the only limit that produces a result, so
// no CU records what another would not.
//
// # Differences from the reference CU
//
//   - Invalid query parameters answer 400 (the reference's schema errors answer 500).
//   - /results: from is an exclusive lower bound and to an inclusive upper bound, each a
//     cursor or a millisecond timestamp, whatever the sort; limit is capped at 1000.
//   - /state ignores to and serves the latest memory; a dry-run with to runs on the latest
//     state once the process has reached that message (the reference may use older memory).
//   - Forwarded messages are deduplicated on a SHA-256 of their data, tags, target and anchor
//     (the reference uses an ANS-104 deep hash of the same fields: the same duplicates).
//   - A dry-run without to runs on the last committed state after at most DryRunWait of
//     catching up (the reference evaluates up to the latest first, however long that takes).
//   - The dry-run rate limit is 5 per second per address in bursts of 20 (the reference's is
//     6 per minute), counted by the connecting address, not X-Forwarded-For.
//   - An unparsable Memory-Limit or Compute-Limit is 422; one above the CU's maximum 413.
//   - /results and /cron pages also end at MaxPageBytes of results.
//   - Not implemented: the 202 busy reply, Memory-Reset, and loading checkpoints from Arweave.
package cu
