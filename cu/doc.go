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
// # Differences from the reference CU
//
//   - Invalid query parameters answer 400 (the reference's schema errors answer 500).
//   - /results: from is an exclusive lower bound and to an inclusive upper bound, each a
//     cursor or a millisecond timestamp, whatever the sort; limit is capped at 1000.
//   - /state ignores to and serves the latest memory; a dry-run with to runs on the latest
//     state once the process has reached that message (the reference may use older memory).
//   - Forwarded messages are deduplicated on a SHA-256 of their data, tags, target and anchor
//     (the reference uses an ANS-104 deep hash of the same fields: the same duplicates).
//   - Not implemented: the 202 busy reply, the dry-run rate limit, Memory-Reset, and loading
//     checkpoints from Arweave.
package cu
