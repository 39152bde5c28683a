package explorer

import (
	"testing"

	"github.com/aonode/aonode/store"
)

// TestFixture is the fixture of the internal tests, for the browser tests of package
// explorer_test: a store filled as an SU and a CU fill it, and an explorer over it.
type TestFixture struct{ f *fixture }

func NewTestFixture(t testing.TB, nw Network) *TestFixture {
	return &TestFixture{newFixture(t, nw)}
}

func (x *TestFixture) Explorer() *Explorer { return x.f.ex }
func (x *TestFixture) Address() string     { return x.f.addr }

// Process adds a process with extra tags; Message a message to it; Result a CU result for
// the slot of a message.
func (x *TestFixture) Process(extra ...string) string { return x.f.process(extra...) }

func (x *TestFixture) Message(pid, data string, extra ...string) (string, store.Slot) {
	m, s := x.f.message(pid, data, extra...)
	return m.ID(), s
}

func (x *TestFixture) Result(s store.Slot, body map[string]any) { x.f.result(s, body) }
