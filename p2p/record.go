package p2p

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/aonode/aonode/dataitem"
)

// Node record tags. A record is an ANS-104 item with no data, signed by the
// node's wallet key.
const (
	TagDataProtocol = "Data-Protocol"
	TagType         = "Type"
	TagPeerID       = "Peer-Id"
	// TagPeerSignature binds a wallet that is not ed25519 to its separate
	// libp2p key: that key's signature over peerBinding (base64url).
	TagPeerSignature = "Peer-Signature"
	TagRoles         = "Roles"
	TagURL           = "Url"
	TagScheduler     = "Scheduler"
	TagListenAddr    = "Listen-Addr"
	TagVersion       = "Version"
	TagIssued        = "Issued"
	TagExpires       = "Expires"

	typeNodeRecord = "Node-Record"
)

// Roles a node may announce.
const (
	RoleSU = "su"
	RoleCU = "cu"
	RoleMU = "mu"
)

// Record limits.
const (
	MaxRecordBytes     = 16 << 10
	MaxRecordAddrs     = 16
	maxRecordURLBytes  = 512
	maxRecordVersion   = 64
	maxRecordAddrBytes = 256
	maxPeerSigBytes    = 1024
)

// peerBinding is what a node's libp2p key signs to vouch for its wallet:
// the wallet address and the peer id under a fixed domain. It is the same in
// every record of the node; a copy in another wallet's record does not
// verify, since it names the other address.
func peerBinding(address string, pid peer.ID) []byte {
	return []byte("aonode/1 node record: wallet " + address + " is peer " + pid.String())
}

// ErrInvalidRecord reports a node record that fails a check.
var ErrInvalidRecord = errors.New("p2p: invalid node record")

// NodeInfo is what a node announces about itself in its record.
type NodeInfo struct {
	Roles   []string // of RoleSU, RoleCU, RoleMU
	URL     string   // base URL of the node's HTTP listener
	Version string
}

// NodeRecord is a verified node record.
type NodeRecord struct {
	PeerID  peer.ID
	Address string // wallet address of the signer
	Roles   []string
	URL     string
	// Scheduler is the scheduler address the node answers for: its wallet
	// address when it has the su role, else empty.
	Scheduler   string
	ListenAddrs []ma.Multiaddr
	Version     string
	Issued      time.Time
	Expires     time.Time
	ItemID      string
}

// HasRole reports whether the record announces role.
func (r *NodeRecord) HasRole(role string) bool { return slices.Contains(r.Roles, role) }

// RecordLimits are the time bounds a record is checked against.
type RecordLimits struct {
	MaxTTL       time.Duration
	MaxClockSkew time.Duration
}

// SignRecord builds and signs the record of id announcing info and addrs,
// valid from issued for ttl.
func SignRecord(id *Identity, info NodeInfo, addrs []ma.Multiaddr, issued time.Time, ttl time.Duration) (*dataitem.Item, error) {
	if err := checkInfo(info); err != nil {
		return nil, err
	}
	if len(addrs) > MaxRecordAddrs {
		addrs = addrs[:MaxRecordAddrs]
	}
	tags := []dataitem.Tag{
		{Name: TagDataProtocol, Value: "ao"},
		{Name: TagType, Value: typeNodeRecord},
		{Name: TagPeerID, Value: id.PeerID.String()},
		{Name: TagRoles, Value: strings.Join(info.Roles, ",")},
	}
	if info.URL != "" {
		tags = append(tags, dataitem.Tag{Name: TagURL, Value: info.URL})
	}
	if slices.Contains(info.Roles, RoleSU) {
		tags = append(tags, dataitem.Tag{Name: TagScheduler, Value: id.Address})
	}
	for _, a := range addrs {
		if s := a.String(); len(s) <= maxRecordAddrBytes {
			tags = append(tags, dataitem.Tag{Name: TagListenAddr, Value: s})
		}
	}
	if info.Version != "" {
		tags = append(tags, dataitem.Tag{Name: TagVersion, Value: info.Version})
	}
	if t := id.Signer.SignatureType(); t != dataitem.ED25519 && t != dataitem.Solana {
		sig, err := id.PeerKey.Sign(peerBinding(id.Address, id.PeerID))
		if err != nil {
			return nil, fmt.Errorf("p2p: signing the peer binding: %w", err)
		}
		tags = append(tags, dataitem.Tag{Name: TagPeerSignature, Value: base64.RawURLEncoding.EncodeToString(sig)})
	}
	tags = append(tags,
		dataitem.Tag{Name: TagIssued, Value: strconv.FormatInt(issued.UnixMilli(), 10)},
		dataitem.Tag{Name: TagExpires, Value: strconv.FormatInt(issued.Add(ttl).UnixMilli(), 10)},
	)
	it, err := dataitem.Sign(id.Signer, dataitem.Fields{Tags: tags})
	if err != nil {
		return nil, fmt.Errorf("p2p: signing node record: %w", err)
	}
	if len(it.Raw()) > MaxRecordBytes {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrInvalidRecord, len(it.Raw()), MaxRecordBytes)
	}
	return it, nil
}

func checkInfo(info NodeInfo) error {
	if len(info.Roles) == 0 || len(info.Roles) > 3 {
		return fmt.Errorf("%w: %d roles", ErrInvalidRecord, len(info.Roles))
	}
	seen := map[string]bool{}
	for _, r := range info.Roles {
		if r != RoleSU && r != RoleCU && r != RoleMU || seen[r] {
			return fmt.Errorf("%w: role %q", ErrInvalidRecord, r)
		}
		seen[r] = true
	}
	if info.URL != "" {
		if err := checkURL(info.URL); err != nil {
			return err
		}
	}
	if len(info.Version) > maxRecordVersion {
		return fmt.Errorf("%w: version of %d bytes", ErrInvalidRecord, len(info.Version))
	}
	return nil
}

func checkURL(s string) error {
	if len(s) > maxRecordURLBytes {
		return fmt.Errorf("%w: url of %d bytes", ErrInvalidRecord, len(s))
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("%w: url %q is not an absolute http(s) URL", ErrInvalidRecord, s)
	}
	return nil
}

// ParseRecord verifies a node record at time now: size, signature, shape,
// the peer binding (for ed25519 wallets the Peer-Id is the peer of the
// signing key; for other wallets the Peer-Signature tag is the Peer-Id's
// key's signature over the wallet address and peer id), that the Scheduler is
// the signer, and the time bounds. Gossip messages carry no libp2p signature
// (StrictNoSign), so the record vouches for itself.
func ParseRecord(raw []byte, now time.Time, lim RecordLimits) (*NodeRecord, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidRecord, fmt.Sprintf(format, args...))
	}
	if len(raw) > MaxRecordBytes {
		return nil, bad("%d bytes, limit %d", len(raw), MaxRecordBytes)
	}
	it, err := dataitem.ParseVerified(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidRecord, err)
	}
	if len(it.Data) != 0 || it.Target != nil {
		return nil, bad("a record has no data and no target")
	}
	single := map[string]string{}
	r := &NodeRecord{Address: it.Address(), ItemID: it.ID()}
	for _, t := range it.Tags {
		switch t.Name {
		case TagListenAddr:
			if len(r.ListenAddrs) == MaxRecordAddrs {
				return nil, bad("more than %d listen addresses", MaxRecordAddrs)
			}
			if len(t.Value) > maxRecordAddrBytes {
				return nil, bad("listen address of %d bytes", len(t.Value))
			}
			a, err := ma.NewMultiaddr(t.Value)
			if err != nil {
				return nil, bad("listen address %q: %v", t.Value, err)
			}
			r.ListenAddrs = append(r.ListenAddrs, a)
		case TagDataProtocol, TagType, TagPeerID, TagPeerSignature, TagRoles, TagURL, TagScheduler, TagVersion, TagIssued, TagExpires:
			if _, dup := single[t.Name]; dup {
				return nil, bad("tag %s repeated", t.Name)
			}
			single[t.Name] = t.Value
		}
	}
	if single[TagDataProtocol] != "ao" || single[TagType] != typeNodeRecord {
		return nil, bad("not an ao Node-Record")
	}
	pid, err := peer.Decode(single[TagPeerID])
	if err != nil {
		return nil, bad("peer id %q: %v", single[TagPeerID], err)
	}
	if it.SignatureType == dataitem.ED25519 || it.SignatureType == dataitem.Solana {
		owner, err := PeerIDFromOwner(it.SignatureType, it.Owner)
		if err != nil || owner != pid {
			return nil, bad("record of peer %s signed by the key of %s", pid, owner)
		}
		if _, ok := single[TagPeerSignature]; ok {
			return nil, bad("a Peer-Signature in the record of an ed25519 wallet")
		}
	} else if err := checkPeerBinding(single[TagPeerSignature], r.Address, pid); err != nil {
		return nil, bad("record of peer %s: %v", pid, err)
	}
	r.PeerID = pid
	info := NodeInfo{URL: single[TagURL], Version: single[TagVersion]}
	if s := single[TagRoles]; s != "" {
		info.Roles = strings.Split(s, ",")
	}
	if err := checkInfo(info); err != nil {
		return nil, err
	}
	r.Roles, r.URL, r.Version = info.Roles, info.URL, info.Version
	if s, ok := single[TagScheduler]; ok {
		if s != r.Address {
			return nil, bad("scheduler %s is not the signer %s", s, r.Address)
		}
		r.Scheduler = s
	}
	if r.HasRole(RoleSU) != (r.Scheduler != "") {
		return nil, bad("a Scheduler tag goes with the su role and only with it")
	}
	if r.Scheduler != "" && r.URL == "" {
		return nil, bad("a scheduler without a URL")
	}
	issued, err1 := parseMillis(single[TagIssued])
	expires, err2 := parseMillis(single[TagExpires])
	if err1 != nil || err2 != nil {
		return nil, bad("issued %q / expires %q", single[TagIssued], single[TagExpires])
	}
	r.Issued, r.Expires = issued, expires
	switch {
	case !expires.After(issued):
		return nil, bad("expires before it is issued")
	case expires.Sub(issued) > lim.MaxTTL:
		return nil, bad("lifetime %s above %s", expires.Sub(issued), lim.MaxTTL)
	case issued.After(now.Add(lim.MaxClockSkew)):
		return nil, bad("issued %s in the future", issued.Sub(now))
	case !expires.After(now):
		return nil, bad("expired %s ago", now.Sub(expires))
	}
	return r, nil
}

// checkPeerBinding verifies the Peer-Signature of a record of wallet address
// naming pid; pid must embed its public key (ed25519 and secp256k1 libp2p
// keys do; LoadOrCreatePeerKey makes ed25519 ones).
func checkPeerBinding(sig64, address string, pid peer.ID) error {
	if sig64 == "" || len(sig64) > maxPeerSigBytes {
		return errors.New("no usable Peer-Signature")
	}
	sig, err := base64.RawURLEncoding.Strict().DecodeString(sig64)
	if err != nil {
		return fmt.Errorf("Peer-Signature: %v", err)
	}
	pub, err := pid.ExtractPublicKey()
	if err != nil {
		return fmt.Errorf("peer id does not embed its key: %v", err)
	}
	ok, err := pub.Verify(peerBinding(address, pid), sig)
	if err != nil || !ok {
		return errors.New("Peer-Signature does not verify")
	}
	return nil
}

func parseMillis(s string) (time.Time, error) {
	if s == "" || len(s) > 16 || (len(s) > 1 && s[0] == '0') {
		return time.Time{}, errors.New("not a canonical millisecond time")
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return time.Time{}, errors.New("not a canonical millisecond time")
		}
	}
	ms, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}, errors.New("not a canonical millisecond time")
	}
	return time.UnixMilli(ms), nil
}
