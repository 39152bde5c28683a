#!/usr/bin/env bash
# aos sessions through `aonode eval` (scripts/cubench): a one-message session (start-up, the
# compilation cache cold and warm), the 202-message aos-counter session, a 211-message token
# session and one message that loops to "out of gas!" at 1e11 gas, each with a SHA-256 of the
# memory after every message. This checkout's binary against BASE_REF's (default main), built
# from `git archive` and run interleaved in one run; BASE_BIN=path skips that build. The table
# also gives the ratio to the Node 20 + @permaweb/ao-loader figures of issue 16. Extra
# arguments go to scripts/cubench (e.g. -rounds 3). Needs ../shared beside the repository.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go build -o "$tmp/aonode-new" ./cmd/aonode
base=${BASE_BIN:-}
if [ -z "$base" ]; then
	mkdir "$tmp/base"
	git archive "${BASE_REF:-main}" | tar -x -C "$tmp/base"
	(cd "$tmp/base" && go build -o "$tmp/aonode-base" ./cmd/aonode)
	base=$tmp/aonode-base
fi
exec go run ./scripts/cubench -base "$base" -new "$tmp/aonode-new" -shared ../shared "$@"
