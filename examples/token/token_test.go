package main

import (
	"strings"
	"testing"

	"github.com/aonode/aonode/cu/wasi/guest"
)

// These tests run the token logic natively; cu/wasi's tests run the same code built as a
// WASI module.

var env = &guest.Env{Process: guest.Entity{ID: "proc", Owner: "alice"}}

func msg(from string, tags ...string) *guest.Message {
	m := &guest.Message{From: from, Owner: from}
	for i := 0; i+1 < len(tags); i += 2 {
		m.Tags = append(m.Tags, guest.Tag{Name: tags[i], Value: tags[i+1]})
	}
	return m
}

func TestTransferMovesBalanceAndNotifies(t *testing.T) {
	tok := NewToken()
	if res := tok.Handle(msg("alice", "Action", "Mint", "Quantity", "100"), env); res.Error != nil {
		t.Fatalf("Mint: %v", res.Error)
	}
	res := tok.Handle(msg("alice", "Action", "Transfer", "Recipient", "bob", "Quantity", "40"), env)
	if res.Error != nil {
		t.Fatalf("Transfer: %v", res.Error)
	}
	if tok.Balances["alice"] != 60 || tok.Balances["bob"] != 40 || tok.TotalSupply != 100 {
		t.Fatalf("balances = %v supply %d", tok.Balances, tok.TotalSupply)
	}
	if len(res.Messages) != 2 || res.Messages[0].Target != "alice" || res.Messages[1].Target != "bob" ||
		res.Messages[0].Tags[0].Value != "Debit-Notice" || res.Messages[1].Tags[0].Value != "Credit-Notice" {
		t.Fatalf("notices = %+v", res.Messages)
	}
}

func TestTransferErrorsLeaveStateUnchanged(t *testing.T) {
	tok := NewToken()
	tok.Handle(msg("alice", "Action", "Mint", "Quantity", "10"), env)
	for name, m := range map[string]*guest.Message{
		"insufficient":  msg("alice", "Action", "Transfer", "Recipient", "bob", "Quantity", "11"),
		"no recipient":  msg("alice", "Action", "Transfer", "Quantity", "1"),
		"zero":          msg("alice", "Action", "Transfer", "Recipient", "bob", "Quantity", "0"),
		"not a number":  msg("alice", "Action", "Transfer", "Recipient", "bob", "Quantity", "1e3"),
		"mint by other": msg("bob", "Action", "Mint", "Quantity", "5"),
		"unknown":       msg("alice", "Action", "Steal"),
	} {
		t.Run(name, func(t *testing.T) {
			res := tok.Handle(m, env)
			if res.Error == nil {
				t.Fatal("no Error")
			}
			if tok.Balances["alice"] != 10 || len(tok.Balances) != 1 || tok.TotalSupply != 10 {
				t.Fatalf("state changed: %v", tok.Balances)
			}
		})
	}
	res := tok.Handle(msg("alice", "Action", "Transfer", "Recipient", "bob", "Quantity", "11"), env)
	if !strings.Contains(res.Error.(string), errInsufficient.Error()) {
		t.Fatalf("Error = %v", res.Error)
	}
}

func TestMintOverflow(t *testing.T) {
	tok := NewToken()
	tok.Handle(msg("alice", "Action", "Mint", "Quantity", "18446744073709551615"), env)
	res := tok.Handle(msg("alice", "Action", "Mint", "Quantity", "1"), env)
	if res.Error == nil || !strings.Contains(res.Error.(string), errOverflow.Error()) {
		t.Fatalf("Error = %v", res.Error)
	}
}

func TestQueries(t *testing.T) {
	tok := NewToken()
	tok.Handle(msg("alice", "Action", "Mint", "Quantity", "7", "Recipient", "carol"), env)
	if res := tok.Handle(msg("carol", "Action", "Balance"), env); res.Output != "7" {
		t.Fatalf("Balance = %v", res.Output)
	}
	if res := tok.Handle(msg("x", "Action", "Balance", "Recipient", "carol"), env); res.Output != "7" {
		t.Fatalf("Balance of Recipient = %v", res.Output)
	}
	if res := tok.Handle(msg("x", "Action", "Balances"), env); res.Messages[0].Data != `{"carol":"7"}` {
		t.Fatalf("Balances = %+v", res.Messages)
	}
	res := tok.Handle(msg("x", "Action", "Info"), env)
	if v := tagValue(res.Messages[0].Tags, "Total-Supply"); v != "7" {
		t.Fatalf("Total-Supply = %q", v)
	}
}

func tagValue(tags []guest.Tag, name string) string {
	for _, t := range tags {
		if t.Name == name {
			return t.Value
		}
	}
	return ""
}
