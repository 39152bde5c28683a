// Package consensus orders the slots of processes that name several schedulers. The members of
// one scheduler set form one Raft group (hashicorp/raft), shared by every process with that set
// and keyed by a hash of the sorted set (GroupID).
//
// Only the leader builds and signs assignments, on its in-memory heads, exactly like su.Local;
// a log entry carries the signed assignments with the raw items they schedule, so every member
// stores the same bytes. The FSM checks every record of an entry the same way on every member
// before it writes it (signer in the set and signature valid, nonce = last+1, hash chain,
// timestamp not backwards, message new) and writes through su.Apply in one store batch per Raft
// batch. A client is answered only after its entry is committed by a majority and applied
// durably on the leader. Followers forward writes to the leader and return its answer.
//
// The Raft log and stable state live in the store's consensus keyspaces; snapshots carry no
// data of their own (the store is the state) and are streamed from the store to a member that
// fell behind the log's compaction point.
package consensus
