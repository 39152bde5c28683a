//go:build race

package node

// raceEnabled: aos under the race detector takes minutes (wazero compiles and its startup
// run instrumented); the aos end-to-end test runs in the normal test run, and the loop is
// covered under -race by the tests on the small WASI module.
const raceEnabled = true
