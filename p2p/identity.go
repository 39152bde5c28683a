package p2p

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/aonode/aonode/dataitem"
)

// Identity is a node's wallet key (the ANS-104 signer of its items and node
// records) together with its libp2p key. For ed25519 wallets both are the
// same key.
type Identity struct {
	Signer  dataitem.Signer
	Address string // base64url(sha256(owner)), as dataitem.OwnerAddress
	PeerKey crypto.PrivKey
	PeerID  peer.ID
}

// ErrPeerKeyRequired reports a wallet key that cannot double as a libp2p key
// and no separate libp2p key.
var ErrPeerKeyRequired = errors.New("p2p: wallet key is not ed25519; a separate libp2p key is required")

// ErrKeyMismatch reports an ed25519 wallet given with a different libp2p key.
var ErrKeyMismatch = errors.New("p2p: libp2p key differs from the ed25519 wallet key")

// NewIdentity builds the identity of a node. peerKey may be nil when the
// wallet is ed25519 (types 2 and 4): the libp2p key is then derived from it.
// Other wallets need peerKey (see LoadOrCreatePeerKey).
func NewIdentity(signer dataitem.Signer, peerKey crypto.PrivKey) (*Identity, error) {
	if signer == nil {
		return nil, errors.New("p2p: nil signer")
	}
	derived, err := derivedPeerKey(signer)
	if err != nil {
		return nil, err
	}
	switch {
	case derived != nil && peerKey != nil && !derived.Equals(peerKey):
		return nil, ErrKeyMismatch
	case derived != nil:
		peerKey = derived
	case peerKey == nil:
		return nil, ErrPeerKeyRequired
	}
	id, err := peer.IDFromPrivateKey(peerKey)
	if err != nil {
		return nil, fmt.Errorf("p2p: peer id: %w", err)
	}
	return &Identity{
		Signer:  signer,
		Address: dataitem.OwnerAddress(signer.Owner()),
		PeerKey: peerKey,
		PeerID:  id,
	}, nil
}

// derivedPeerKey is the libp2p form of an ed25519 wallet key, nil for others.
func derivedPeerKey(s dataitem.Signer) (crypto.PrivKey, error) {
	var k ed25519.PrivateKey
	switch s := s.(type) {
	case *dataitem.Ed25519Signer:
		k = s.Key
	case *dataitem.SolanaSigner:
		k = s.Key
	default:
		return nil, nil
	}
	if len(k) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("%w: ed25519 key of %d bytes", dataitem.ErrInvalidKey, len(k))
	}
	pk, err := crypto.UnmarshalEd25519PrivateKey(k)
	if err != nil {
		return nil, fmt.Errorf("p2p: ed25519 wallet key as libp2p key: %w", err)
	}
	if !bytes.Equal(s.Owner(), k.Public().(ed25519.PublicKey)) {
		return nil, fmt.Errorf("%w: ed25519 key's public half does not match its seed", dataitem.ErrInvalidKey)
	}
	return pk, nil
}

// PeerIDFromOwner is the peer ID of an ed25519 item owner (types 2 and 4): the
// peer whose libp2p key is that wallet key.
func PeerIDFromOwner(t dataitem.SignatureType, owner []byte) (peer.ID, error) {
	if t != dataitem.ED25519 && t != dataitem.Solana {
		return "", fmt.Errorf("p2p: signature type %s has no derived peer id", t)
	}
	pub, err := crypto.UnmarshalEd25519PublicKey(owner)
	if err != nil {
		return "", fmt.Errorf("p2p: ed25519 owner: %w", err)
	}
	return peer.IDFromPublicKey(pub)
}

const maxPeerKeyFileBytes = 4096

// LoadOrCreatePeerKey reads the libp2p key at path (libp2p's protobuf key
// encoding) or, when the file does not exist, creates an ed25519 key there
// with mode 0600. It is for nodes whose wallet is not ed25519; the file is
// meant to live beside the wallet file.
func LoadOrCreatePeerKey(path string) (crypto.PrivKey, error) {
	data, err := os.ReadFile(path)
	if err == nil {
		if len(data) > maxPeerKeyFileBytes {
			return nil, fmt.Errorf("p2p: libp2p key file %s: %d bytes", path, len(data))
		}
		k, err := crypto.UnmarshalPrivateKey(data)
		if err != nil {
			return nil, fmt.Errorf("p2p: libp2p key file %s: %w", path, err)
		}
		return k, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("p2p: reading libp2p key: %w", err)
	}
	k, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		return nil, fmt.Errorf("p2p: generating libp2p key: %w", err)
	}
	data, err = crypto.MarshalPrivateKey(k)
	if err != nil {
		return nil, fmt.Errorf("p2p: encoding libp2p key: %w", err)
	}
	// Write a temp file and link it into place: a crash leaves no half key,
	// and two starting processes cannot both create one.
	tmp, err := os.CreateTemp(filepath.Dir(path), ".peerkey-*")
	if err != nil {
		return nil, fmt.Errorf("p2p: creating libp2p key: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("p2p: creating libp2p key: %w", err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("p2p: writing libp2p key: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("p2p: writing libp2p key: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return nil, fmt.Errorf("p2p: writing libp2p key: %w", err)
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return LoadOrCreatePeerKey(path)
		}
		return nil, fmt.Errorf("p2p: installing libp2p key: %w", err)
	}
	return k, nil
}
