// Package testnet runs networks of aonode nodes for trying things out and for fault tests:
// as child processes on 127.0.0.1 (RunProcess) or as containers of the aonode:local image on a
// private Docker network (RunDocker). Either writes DIR/testnet.json (State), which Chaos
// reads to kill, pause, partition and restart nodes while a workload runs, and then checks
// that no acknowledged message was lost, duplicated or left a gap.
//
// cmd/aonode's testnet command is flags and wiring around this package.
package testnet
