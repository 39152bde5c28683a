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

# The real client, where Node.js, npm and the shared aos module are at hand.
if command -v node >/dev/null && command -v npm >/dev/null && command -v curl >/dev/null && [ -f ../shared/fixtures/wasm/aos.wasm ]; then
  rc=0
  scripts/aoconnect-check.sh || rc=$?
  if [ "$rc" = 3 ]; then echo "aoconnect check skipped: npm unavailable"; elif [ "$rc" != 0 ]; then exit "$rc"; fi
else
  echo "aoconnect check skipped: needs node, npm, curl and ../shared/fixtures/wasm/aos.wasm"
fi
