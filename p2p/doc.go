// Package p2p owns aonode's peer-to-peer layer: the libp2p host and its
// identity, discovery (bootstrap list, mDNS, a Kademlia DHT under the private
// protocol prefix /aonode), GossipSub with a validator on every topic and peer
// scoring, the node directory built from gossiped node records, and fetching
// items by id from peers over a stream protocol.
//
// Identity. A node has one key. When it is ed25519 (ANS-104 type 2, or the
// ed25519 Solana type 4) the libp2p peer ID is derived from the same key, so a
// peer ID and a wallet address (base64url(sha256(public key))) provably belong
// to one node. Other wallet keys (Arweave RSA, Ethereum) get a separate
// ed25519 libp2p key persisted beside the wallet (LoadOrCreatePeerKey); the
// node record then binds the two: the record is an ANS-104 item signed by the
// wallet that names the peer ID and carries that peer key's signature over
// the wallet address and peer ID (Peer-Signature), so each key vouches for the
// other. Gossip messages themselves are unsigned (StrictNoSign, content-derived
// message ids): every payload is an ANS-104 item or bundle whose own
// signatures the topic validator checks, and libp2p's signature on top only
// doubled the verification work.
//
// Topics (names carry the protocol version):
//
//   - ao/1/nodes: signed node records; they form the Directory, which answers
//     "which URL serves scheduler address X" in place of the reference's
//     Scheduler-Location look-ups.
//   - ao/1/scheduler-locations: the reference's Scheduler-Location items, each
//     signed by an SU's wallet (location.go); accepted from schedulers the
//     directory knows, newest per scheduler, and handed to the node's gateway.
//   - ao/1/process/<pid>: an ANS-104 bundle [assignment, message] published by
//     a scheduler of the process; the validator accepts only assignments signed
//     by an address among the process's Scheduler tags.
//   - ao/1/evidence: equivocation evidence (evidence.go), two assignments of one slot
//     signed by schedulers of the process; a push that conflicts with the one a node saw
//     first, or with its own stored slot, is not forwarded but turned into evidence here.
//
// Every topic is validated by one default validator that dispatches on the
// topic name; a topic it does not know is rejected. Rejections count as
// invalid message deliveries in the sender's peer score.
//
// Resource limits are fixed from Config: libp2p's auto-scaling reads the
// machine's RAM, which is wrong when many nodes share a machine or a container
// is limited below the host.
//
// The package never touches the store or the roles: the node hands it small
// interfaces (ItemSource, ProcessSchedulers) and consumes its channels.
package p2p
