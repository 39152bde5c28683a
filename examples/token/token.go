// Command token is an example aonode process written in Go: a fungible token with balances,
// transfers, minting by the process owner and read-only queries. It is a WASI reactor of the
// wasm32-wasip1-aonode format (cu/wasi/ABI.md); build it with
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o token.wasm ./examples/token
//
// Its state lives in ordinary Go variables: the CU persists the module's linear memory and
// globals between messages, so nothing is serialised by the process itself.
//
// Actions (tag Action):
//   - Info: replies with Name, Ticker, Denomination and Total-Supply tags.
//   - Balance: replies with the balance of the Recipient (or Target) tag's account, else the sender's.
//   - Balances: replies with all balances as a JSON object in Data.
//   - Transfer: Recipient and Quantity tags; sends a Debit-Notice to the sender and a
//     Credit-Notice to the recipient. An insufficient balance is an Error.
//   - Mint: Quantity (and optional Recipient) tags; only the process owner may mint.
//
// Quantities are decimal strings of unsigned 64-bit integers.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/aonode/aonode/cu/wasi/guest"
)

// Token is the process state. It is a value the handler mutates, kept in a package variable
// because the reactor's memory is the state.
type Token struct {
	Name         string
	Ticker       string
	Denomination int
	Balances     map[string]uint64
	TotalSupply  uint64
}

// NewToken returns an empty token.
func NewToken() *Token {
	return &Token{Name: "Example Token", Ticker: "EXT", Denomination: 12, Balances: map[string]uint64{}}
}

var (
	errInsufficient = errors.New("insufficient balance")
	errNotOwner     = errors.New("only the process owner can mint")
	errOverflow     = errors.New("quantity overflows the supply")
)

// Handle evaluates one message against t.
func (t *Token) Handle(msg *guest.Message, env *guest.Env) guest.Result {
	action, _ := msg.Tag("Action")
	var (
		res guest.Result
		err error
	)
	switch action {
	case "Info":
		res = t.info(msg)
	case "Balance":
		res = t.balance(msg)
	case "Balances":
		res = t.balances(msg)
	case "Transfer":
		res, err = t.transfer(msg)
	case "Mint":
		res, err = t.mint(msg, env)
	default:
		err = fmt.Errorf("unknown action %q", action)
	}
	if err != nil {
		return guest.Result{Error: action + ": " + err.Error()}
	}
	return res
}

func (t *Token) info(msg *guest.Message) guest.Result {
	return reply(msg, "Info-Response", "",
		guest.Tag{Name: "Name", Value: t.Name},
		guest.Tag{Name: "Ticker", Value: t.Ticker},
		guest.Tag{Name: "Denomination", Value: strconv.Itoa(t.Denomination)},
		guest.Tag{Name: "Total-Supply", Value: strconv.FormatUint(t.TotalSupply, 10)},
	)
}

func (t *Token) balance(msg *guest.Message) guest.Result {
	account := msg.From
	if v, ok := msg.Tag("Recipient"); ok {
		account = v
	} else if v, ok := msg.Tag("Target"); ok {
		account = v
	}
	bal := strconv.FormatUint(t.Balances[account], 10)
	res := reply(msg, "Balance-Response", bal,
		guest.Tag{Name: "Balance", Value: bal},
		guest.Tag{Name: "Ticker", Value: t.Ticker},
		guest.Tag{Name: "Account", Value: account},
	)
	res.Output = bal
	return res
}

func (t *Token) balances(msg *guest.Message) guest.Result {
	data := make(map[string]string, len(t.Balances))
	for k, v := range t.Balances {
		data[k] = strconv.FormatUint(v, 10)
	}
	// encoding/json sorts map keys, so the reply is the same on every CU.
	return reply(msg, "Balances-Response", mustJSON(data))
}

func (t *Token) transfer(msg *guest.Message) (guest.Result, error) {
	recipient, ok := msg.Tag("Recipient")
	if !ok || recipient == "" {
		return guest.Result{}, errors.New("missing Recipient tag")
	}
	qty, err := quantity(msg)
	if err != nil {
		return guest.Result{}, err
	}
	if t.Balances[msg.From] < qty {
		return guest.Result{}, fmt.Errorf("%w: %s has %d, needs %d", errInsufficient, msg.From, t.Balances[msg.From], qty)
	}
	t.Balances[msg.From] -= qty
	if t.Balances[msg.From] == 0 {
		delete(t.Balances, msg.From)
	}
	t.Balances[recipient] += qty // cannot overflow: the sum of balances is TotalSupply
	q := strconv.FormatUint(qty, 10)
	return guest.Result{
		Output: fmt.Sprintf("transferred %s to %s", q, recipient),
		Messages: []guest.OutMessage{
			{Target: msg.From, Tags: []guest.Tag{
				{Name: "Action", Value: "Debit-Notice"},
				{Name: "Recipient", Value: recipient},
				{Name: "Quantity", Value: q},
			}},
			{Target: recipient, Tags: []guest.Tag{
				{Name: "Action", Value: "Credit-Notice"},
				{Name: "Sender", Value: msg.From},
				{Name: "Quantity", Value: q},
			}},
		},
	}, nil
}

func (t *Token) mint(msg *guest.Message, env *guest.Env) (guest.Result, error) {
	if msg.From != env.Process.Owner || msg.From == "" {
		return guest.Result{}, errNotOwner
	}
	qty, err := quantity(msg)
	if err != nil {
		return guest.Result{}, err
	}
	if t.TotalSupply+qty < t.TotalSupply {
		return guest.Result{}, errOverflow
	}
	to := msg.From
	if v, ok := msg.Tag("Recipient"); ok && v != "" {
		to = v
	}
	t.TotalSupply += qty
	t.Balances[to] += qty
	return guest.Result{Output: fmt.Sprintf("minted %d to %s", qty, to)}, nil
}

func quantity(msg *guest.Message) (uint64, error) {
	v, ok := msg.Tag("Quantity")
	if !ok {
		return 0, errors.New("missing Quantity tag")
	}
	q, err := strconv.ParseUint(v, 10, 64)
	if err != nil || q == 0 {
		//lint:ignore ST1005 the text is the process's reply, and the sentence starts with the tag's name
		return 0, fmt.Errorf("Quantity %q is not a positive integer", v)
	}
	return q, nil
}

// reply answers the sender with an Action tag and extra tags.
func reply(msg *guest.Message, action, data string, tags ...guest.Tag) guest.Result {
	out := guest.OutMessage{
		Target: msg.From,
		Data:   data,
		Tags:   append([]guest.Tag{{Name: "Action", Value: action}}, tags...),
	}
	return guest.Result{Messages: []guest.OutMessage{out}}
}

func mustJSON(v map[string]string) string {
	b, _ := json.Marshal(v) // a map of strings always marshals
	return string(b)
}
