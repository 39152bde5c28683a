#!/usr/bin/env bash
# The project's test command (README, .ci/run). First the checks that keep the tree as it
# should be (formatting, a tidy go.mod, go vet, staticcheck), then every test under the race
# detector, then once more without it the packages that run real AO modules: under -race,
# wazero's compiled code and the modules' host calls are instrumented (and cu/wasi falls back to
# the interpreter), so the 200-message aos session, the aos end-to-end loop and the WASI
# compiler-versus-interpreter check would skip their heavy parts or compare the interpreter
# with itself there. The explorer's browser test (a dev node running aos, in a headless
# Chromium) runs in that second pass too.
set -euo pipefail
cd "$(dirname "$0")/.."

unformatted=$(gofmt -l .)
if [ -n "$unformatted" ]; then
  echo "gofmt: these files are not formatted (run gofmt -w):" >&2
  echo "$unformatted" >&2
  exit 1
fi

# go mod tidy must have nothing to change. It reads only the module cache and the module proxy.
tidy=$(mktemp -d)
trap 'rm -rf "$tidy"' EXIT
cp go.mod go.sum "$tidy/"
go mod tidy
if ! cmp -s go.mod "$tidy/go.mod" || ! cmp -s go.sum "$tidy/go.sum"; then
  diff -u "$tidy/go.mod" go.mod >&2 || true
  diff -u "$tidy/go.sum" go.sum >&2 || true
  cp "$tidy/go.mod" "$tidy/go.sum" .
  echo "go mod tidy changes go.mod/go.sum: run it and commit the result" >&2
  exit 1
fi

go vet ./...
go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

# The explorer's browser test drives a headless Chromium; install Debian's where missing.
scripts/ensure-chromium.sh

go test -race ./...
go test ./cu/emscripten/... ./cu/ ./cu/wasi/... ./node/ ./node/explorer/

# The real client, where Node.js, npm and the shared aos module are at hand.
if command -v node >/dev/null && command -v npm >/dev/null && command -v curl >/dev/null && [ -f ../shared/fixtures/wasm/aos.wasm ]; then
  rc=0
  scripts/aoconnect-check.sh || rc=$?
  if [ "$rc" = 3 ]; then echo "aoconnect check skipped: npm unavailable"; elif [ "$rc" != 0 ]; then exit "$rc"; fi
else
  echo "aoconnect check skipped: needs node, npm, curl and ../shared/fixtures/wasm/aos.wasm"
fi
