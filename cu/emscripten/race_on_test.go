//go:build race

package emscripten

// raceEnabled: host calls (one per metering block) are much slower under the race detector,
// so the vector tests cut heavy sessions short unless AONODE_SOAK=1.
const raceEnabled = true
