#!/usr/bin/env bash
# The project's test command (README, .ci/run). It runs every test under the race detector,
# then once more without it the packages that run real AO modules: under -race, wazero's
# compiled code and the modules' host calls are instrumented, so the 200-message aos session
# and the aos end-to-end loop would take many minutes and skip their heavy parts there.
set -euo pipefail
cd "$(dirname "$0")/.."
go vet ./...
go test -race ./...
go test ./cu/emscripten/... ./cu/ ./node/
