// Package mu is the messenger unit: it takes signed data items from clients, hands them to the
// scheduler (SU) of their process, and cranks the results: every outbox Message, Spawn and
// Assignment a compute unit (CU) reports becomes a new item signed by the MU key, sent to its
// target's SU, and its own result is cranked in turn. It also ticks the crons of monitored
// processes by polling the CU for cron results and cranking them.
//
// The wire behaviour is the reference MU's (shared/reference/ao-protocol.md §3): the routes
// and JSON shapes of §3.1, the intake checks of §3.2 and the tag sets of §3.3.
//
// Durability. Every unit of work is a task in the store (store.KsMUQueue) and is replaced by
// the tasks it produces in one atomic, fsynced batch, so a node killed at any moment resumes
// where it stopped: at most the in-flight step is repeated. A repeated step is harmless because
// a task stores the exact bytes of the item it sends (built and signed once, when its parent's
// result was cranked), the SU refuses an item it already scheduled ("already exists"), which
// the MU takes as success, and a marker per cranked result stops a result from being cranked
// twice. Nothing is lost and nothing reaches an SU twice, whatever kind of key signs.
//
// mu never imports badger (store does) and never evaluates anything (the CU does).
package mu
