//go:build race

package cu

// raceEnabled: the tests on real module runtimes (aos, the WASI probe) take minutes under
// the race detector (wazero compiles and the modules' startup run instrumented); they skip
// then and run in the normal test run. The CU's own concurrency is covered under -race by
// the tests on the fake runtime.
const raceEnabled = true
