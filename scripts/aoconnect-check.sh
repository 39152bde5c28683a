#!/usr/bin/env bash
# Checks wire compatibility with the real client: installs @permaweb/aoconnect (npm, into a
# temporary folder, never into the repo), starts `aonode dev` on a fresh data folder, publishes
# the aos module from ../shared, and runs scripts/aoconnect/check.mjs against the node.
# Needs Node.js 20+ and npm (scripts/test.sh runs it when they are there). Exit 3: skipped
# because aoconnect could not be installed.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
aos=${AOS_WASM:-$root/../shared/fixtures/wasm/aos.wasm}
port=${PORT:-$((20000 + $$ % 20000))}
[ -f "$aos" ] || { echo "aoconnect-check: $aos not found (set AOS_WASM)" >&2; exit 2; }
work=$(mktemp -d)
trap 'kill "${node_pid:-}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT

if ! (cd "$work" && npm init -y >/dev/null && npm install --silent --no-audit --no-fund @permaweb/aoconnect@0.0.98 >/dev/null); then
  echo "aoconnect-check: npm could not install @permaweb/aoconnect; skipped" >&2
  exit 3
fi
cp "$root/scripts/aoconnect/check.mjs" "$work/"
go build -o "$work/aonode" "$root/cmd/aonode"
"$work/aonode" dev --data "$work/data" --http "127.0.0.1:$port" >"$work/dev.log" 2>&1 &
node_pid=$!
base="http://127.0.0.1:$port"
for _ in $(seq 100); do curl -fsS "$base/health" >/dev/null 2>&1 && break; sleep 0.1; done
"$work/aonode" keygen --type arweave --out "$work/wallet.json" >/dev/null
module=$("$work/aonode" module publish "$aos" --format wasm32-unknown-emscripten2 \
  --memory-limit 512-mb --compute-limit 9000000000000 --key "$work/data/key.json" --node "$base" |
  sed -n 's/.*"id": *"\([^"]*\)".*/\1/p')
scheduler=$(curl -fsS "$base/su/" | sed -n 's/.*"address": *"\([^"]*\)".*/\1/p')
(cd "$work" && node check.mjs "$base" wallet.json "$module" "$scheduler")
