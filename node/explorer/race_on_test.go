//go:build race

package explorer_test

// raceEnabled: aos under the race detector takes minutes; the browser test's aos part runs
// in scripts/test.sh's run without -race.
const raceEnabled = true
