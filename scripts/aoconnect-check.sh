#!/usr/bin/env bash
# Checks wire compatibility with the real client: installs @permaweb/aoconnect and
# @permaweb/ao-scheduler-utils (npm, into a temporary folder, never into the repo), then
#  1. starts `aonode dev` on a fresh data folder, publishes the aos module from ../shared and
#     runs scripts/aoconnect/check.mjs against it (the calls of aoconnect, the SU look-up by
#     Scheduler-Location, getMessages without process-id, message({returnAssignmentSlot}));
#  2. starts `aonode testnet --nodes 3`, publishes the module on node 0 and runs
#     scripts/aoconnect/check-network.mjs through node 2 only (the module and node 0's
#     Scheduler-Location found through node 2's gateway).
# Needs Node.js 20+ and npm (scripts/test.sh runs it when they are there). Exit 3: skipped
# because the packages could not be installed.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
aos=${AOS_WASM:-$root/../shared/fixtures/wasm/aos.wasm}
port=${PORT:-$((20000 + $$ % 20000))}
tnport=${TESTNET_PORT:-$((port + 10))}
[ -f "$aos" ] || { echo "aoconnect-check: $aos not found (set AOS_WASM)" >&2; exit 2; }
work=$(mktemp -d)
cleanup() {
  for p in "${node_pid:-}" "${testnet_pid:-}"; do
    [ -n "$p" ] && kill "$p" 2>/dev/null || true
  done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

if ! (cd "$work" && npm init -y >/dev/null && npm install --silent --no-audit --no-fund \
  @permaweb/aoconnect@0.0.98 @permaweb/ao-scheduler-utils@0.0.29 >/dev/null); then
  echo "aoconnect-check: npm could not install @permaweb/aoconnect and @permaweb/ao-scheduler-utils; skipped" >&2
  exit 3
fi
cp "$root/scripts/aoconnect/check.mjs" "$root/scripts/aoconnect/check-network.mjs" "$work/"
go build -o "$work/aonode" "$root/cmd/aonode"
a="$work/aonode"

# 1. One dev node.
"$a" dev --data "$work/data" --http "127.0.0.1:$port" >"$work/dev.log" 2>&1 &
node_pid=$!
base="http://127.0.0.1:$port"
for _ in $(seq 100); do curl -fsS "$base/health" >/dev/null 2>&1 && break; sleep 0.1; done
"$a" keygen --type arweave --out "$work/wallet.json" >/dev/null
module=$("$a" module publish "$aos" --format wasm32-unknown-emscripten2 --key "$work/data/key.json" --node "$base" --quiet)
scheduler=$(curl -fsS "$base/su/" | sed -n 's/.*"address": *"\([^"]*\)".*/\1/p')
(cd "$work" && node check.mjs "$base" wallet.json "$module" "$scheduler")
kill "$node_pid" && wait "$node_pid" 2>/dev/null || true
node_pid=

# 2. Three nodes; the client talks to node 2 only.
"$a" testnet --nodes 3 --dir "$work/testnet" --base-port "$tnport" >"$work/testnet.out" 2>"$work/testnet.log" &
testnet_pid=$!
for _ in $(seq 1800); do
  [ "$(grep -c '"http"' "$work/testnet.out" 2>/dev/null || true)" -ge 3 ] && break
  kill -0 "$testnet_pid" 2>/dev/null || { echo "aoconnect-check: the testnet exited:" >&2; cat "$work/testnet.log" >&2; exit 1; }
  sleep 0.1
done
urls=($(sed -n 's/.*"http": *"\([^"]*\)".*/\1/p' "$work/testnet.out"))
[ "${#urls[@]}" -ge 3 ] || { echo "aoconnect-check: the testnet printed no three nodes" >&2; exit 1; }
module=$("$a" module publish "$aos" --format wasm32-unknown-emscripten2 --key "$work/testnet/node-0/key.json" --node "${urls[0]}" --quiet)
scheduler=$(curl -fsS "${urls[0]}/su/" | sed -n 's/.*"address": *"\([^"]*\)".*/\1/p')
(cd "$work" && node check-network.mjs "${urls[0]}" "${urls[2]}" wallet.json "$module" "$scheduler")
