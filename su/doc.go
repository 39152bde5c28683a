// Package su is the scheduler unit: it gives Process and Message items their slots in a
// process's schedule and serves the reference SU HTTP API (ao-protocol §1).
//
// The scheduling decision is a pure function, Assign: (head, input, signer) → (signed
// Assignment item, new head), with the reference's tags in the reference order, nonce 0 for
// the Process itself (AOP-6), timestamps that never go backwards and the §1.5 hash chain.
// Apply turns a signed assignment (and the item it carries) into store writes; it is shared by
// the Local sequencer here and the replicated sequencer in consensus, whose replicas apply the
// bytes their leader signed. The Sequencer interface is the seam between the two.
//
// su never acknowledges a slot before the store has synced it, and never exposes a slot whose
// commit failed. Scheduling runs on the callers' goroutines: the caller that leads a process's
// batch starts one goroutine per store commit, so that it can sign the next batch meanwhile,
// and waits for it before it returns (Local.lead). su starts nothing that outlives a call.
package su
