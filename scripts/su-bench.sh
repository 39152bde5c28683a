#!/usr/bin/env bash
# Durable SU assignments/s and p50/p99 latency through the HTTP API of a real
# `aonode run --roles su`, for 1, 8 and 64 clients, ed25519 and RSA SU keys.
# Extra arguments go to scripts/subench (e.g. -n 5000 -duration 5s -keys ed25519).
set -euo pipefail
cd "$(dirname "$0")/.."
exec go run ./scripts/subench "$@"
