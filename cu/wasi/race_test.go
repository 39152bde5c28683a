//go:build race

package wasi

// raceEnabled makes the tests use wazero's interpreter: its compiler, instrumented by the
// race detector, needs about a minute for a Go module.
const raceEnabled = true
