#!/usr/bin/env bash
# End-to-end messages/s and p50/p99 latency from POST {node}/mu to the result from
# GET {node}/cu/result on one node (all roles), with the WASI example token as the
# process, or the real aos module with -module aos (../shared/fixtures/wasm/aos.wasm, each
# message an Eval). Extra arguments go to scripts/e2ebench (e.g. -n 10000 -clients 1,8,32,64
# -processes 4, or -node http://127.0.0.1:8734 to measure a running aonode dev).
set -euo pipefail
cd "$(dirname "$0")/.."
exec go run ./scripts/e2ebench "$@"
