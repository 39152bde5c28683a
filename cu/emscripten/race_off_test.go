//go:build !race

package emscripten

const raceEnabled = false
