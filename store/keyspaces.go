package store

// Keyspace is the one-byte prefix that separates the records of one kind from all others.
// Every keyspace of every role is declared here, in one list, so that two roles can never
// pick the same byte by accident; a Batch or a read that names a keyspace missing from this
// list fails with ErrInvalidKeyspace.
//
// Ranges are reserved per role so that a role can add keyspaces without renumbering anyone:
//
//	0x01-0x0F  scheduler (su)
//	0x10-0x1F  compute (cu)
//	0x30-0x3F  messenger (mu)
//	0x40-0x4F  consensus
//	0x50-0x5F  p2p / node directory
//	0xE0-0xEF  item indexes for the gateway (index.go)
//
// 0x20-0x2F is left unused on purpose: Badger reserves keys that begin with "!badger!"
// (0x21), and keeping that whole row free makes a collision impossible. 0x00 and 0xFF are never
// used, so every keyspace has a successor byte (reverse scans rely on it).
type Keyspace byte

// Scheduler keyspaces. Their record layouts belong to this package (see slots.go).
const (
	// KsItems maps a data item id to the raw ANS-104 bytes of the item.
	KsItems Keyspace = 0x01
	// KsSlots maps (process, big-endian nonce) to an encoded Slot.
	KsSlots Keyspace = 0x02
	// KsSlotByMessage maps (process, message id) to the big-endian nonce of its slot.
	KsSlotByMessage Keyspace = 0x03
	// KsSlotByAssignment maps an assignment id to the KsSlots key of its slot.
	KsSlotByAssignment Keyspace = 0x04
	// KsSlotByTime mapped (process, timestamp, nonce) to nothing. It is no longer written
	// (FirstNonceAfter binary-searches KsSlots); the keyspace stays reserved for old entries.
	KsSlotByTime Keyspace = 0x05
	// KsProcesses holds the scheduler's per-process definitions; the su owns the value format.
	KsProcesses Keyspace = 0x06
	// KsEvidence holds equivocation evidence by (process, nonce, pair key) (evidence.go).
	KsEvidence Keyspace = 0x07
)

// Compute keyspaces; the cu owns their value formats.
const (
	// KsCUResults holds evaluation results by (process, slot).
	KsCUResults Keyspace = 0x10
	// KsCUCheckpoints holds memory checkpoints (compressed, content-addressed).
	KsCUCheckpoints Keyspace = 0x11
)

// Messenger keyspaces; the mu owns their value formats.
const (
	// KsMUQueue is the durable crank queue.
	KsMUQueue Keyspace = 0x30
)

// Consensus keyspaces. The Raft log and stable store records belong to this package
// (raft.go); the consensus package owns the value formats of the others.
const (
	// KsRaftLog maps (group, big-endian index) to an encoded raft.Log.
	KsRaftLog Keyspace = 0x40
	// KsRaftStable maps (group, key) to a value of Raft's stable store (term, vote).
	KsRaftStable Keyspace = 0x41
	// KsConsensusGroups maps a group id to its definition (members), so that groups restart
	// at boot.
	KsConsensusGroups Keyspace = 0x42
	// KsConsensusProcesses maps (group, process id) to nothing: the processes a group orders,
	// which its snapshots stream.
	KsConsensusProcesses Keyspace = 0x43
)

// Valid reports whether ks is one of the declared keyspaces. A role adds its keyspace to this
// list and nowhere else.
func (ks Keyspace) Valid() bool {
	switch ks {
	case KsItems, KsSlots, KsSlotByMessage, KsSlotByAssignment, KsSlotByTime, KsProcesses,
		KsCUResults, KsCUCheckpoints,
		KsMUQueue,
		KsEvidence,
		KsRaftLog, KsRaftStable, KsConsensusGroups, KsConsensusProcesses,
		KsIndexItems, KsIndexOrder, KsIndexTags, KsIndexOwners, KsIndexRecipients:
		return true
	}
	return false
}
