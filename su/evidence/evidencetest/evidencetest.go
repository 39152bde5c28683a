// Package evidencetest signs the items evidence tests need: a Process naming a scheduler set
// and assignments of its slots, so that conflicting pairs are one call away.
package evidencetest

import (
	"crypto/rand"
	"strconv"
	"testing"

	"github.com/aonode/aonode/dataitem"
)

// Key is a fresh ed25519 wallet.
func Key(t testing.TB) dataitem.Signer {
	t.Helper()
	k, err := dataitem.GenerateKey(dataitem.ED25519)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// Address is the wallet address of k.
func Address(k dataitem.Signer) string { return dataitem.OwnerAddress(k.Owner()) }

// Process signs a Process item by owner with one Scheduler tag per address of schedulers.
func Process(t testing.TB, owner dataitem.Signer, schedulers ...string) *dataitem.Item {
	t.Helper()
	tags := []dataitem.Tag{
		{Name: "Data-Protocol", Value: "ao"}, {Name: "Variant", Value: "ao.TN.1"},
		{Name: "Type", Value: "Process"}, {Name: "Module", Value: "bW9kdWxlbW9kdWxlbW9kdWxlbW9kdWxlbW9kdWxlbW8"},
	}
	for _, s := range schedulers {
		tags = append(tags, dataitem.Tag{Name: "Scheduler", Value: s})
	}
	return sign(t, owner, dataitem.Fields{Tags: tags, Data: []byte("process")})
}

// Assignment signs, with the key of a scheduler, an assignment of message in slot nonce of
// process pid at timestamp ms. Two calls with different arguments conflict.
func Assignment(t testing.TB, scheduler dataitem.Signer, pid string, nonce uint64, message string, ms int64) *dataitem.Item {
	t.Helper()
	tags := []dataitem.Tag{
		{Name: "Process", Value: pid}, {Name: "Epoch", Value: "0"},
		{Name: "Nonce", Value: strconv.FormatUint(nonce, 10)},
		{Name: "Hash-Chain", Value: "aGFzaGNoYWluaGFzaGNoYWluaGFzaGNoYWluaGFzaGM"},
		{Name: "Block-Height", Value: "000001000000"},
		{Name: "Timestamp", Value: strconv.FormatInt(ms, 10)},
		{Name: "Data-Protocol", Value: "ao"}, {Name: "Type", Value: "Assignment"},
		{Name: "Variant", Value: "ao.TN.1"},
	}
	if message != "" {
		tags = append(tags, dataitem.Tag{Name: "Message", Value: message})
	}
	anchor := make([]byte, 32)
	_, _ = rand.Read(anchor)
	return sign(t, scheduler, dataitem.Fields{Tags: tags, Anchor: anchor})
}

// MessageID is a random, well-formed item id.
func MessageID() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return dataitem.EncodeID(b)
}

func sign(t testing.TB, k dataitem.Signer, f dataitem.Fields) *dataitem.Item {
	t.Helper()
	it, err := dataitem.Sign(k, f)
	if err != nil {
		t.Fatal(err)
	}
	return it
}
