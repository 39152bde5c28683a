#!/usr/bin/env bash
# Durable assignments/s and p50/p99 of a 3-member consensus group over real libp2p hosts on
# loopback (clients at 1, 8 and 64), and failover times over leader kills (min/median/max).
# Extra arguments go to scripts/consensusbench (e.g. -duration 5s -kills 10 -clients 1,8,64).
set -euo pipefail
cd "$(dirname "$0")/.."
exec go run ./scripts/consensusbench "$@"
