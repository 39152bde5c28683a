#!/usr/bin/env bash
# Per-message wall time, CPU time and peak RSS of the 200-message aos counter session on
# three builds of aos (cu/emscripten BenchmarkSession): aos.wasm (format 2, metered),
# emscripten4.wasm (aos 2.0, format 4) and wasm64-emscripten.wasm (aos 2.0, wasm64, lowered
# to a 32-bit memory). Each run is its own process, so its peak RSS is its own; the builds
# alternate for ROUNDS rounds (default 3) and the table shows medians. Then the whole
# 202-message aos64 session with a SHA-256 of the memory after every message, which is the
# figure ../shared/vectors/aoloader64/README.md gives for the reference loader (38 s).
# Needs ../shared beside the repository.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${ROUNDS:-3}
msgs=${MESSAGES:-200}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go test -c -o "$tmp/emscripten.test" ./cu/emscripten/
cd cu/emscripten # the tests find ../shared from the working directory
for r in $(seq "$rounds"); do
	for b in aos-f2 aos2-f4 aos2-wasm64; do
		"$tmp/emscripten.test" -test.run '^$' -test.bench "BenchmarkSession/$b\$" -test.benchtime "${msgs}x" |
			awk -v b="$b" '/^BenchmarkSession/ { print b, $3, $5, $7 }'
	done
done >"$tmp/runs"
echo "aos counter session, per message (median of $rounds runs of $msgs messages; $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg))"
printf '%-12s %10s %10s %14s\n' build ms/msg cpu-ms/msg peak-RSS-MB
median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
for b in aos-f2 aos2-f4 aos2-wasm64; do
	ns=$(awk -v b="$b" '$1 == b { print $2 }' "$tmp/runs" | median)
	cpu=$(awk -v b="$b" '$1 == b { print $3 }' "$tmp/runs" | median)
	rss=$(awk -v b="$b" '$1 == b { print $4 }' "$tmp/runs" | median)
	awk -v b="$b" -v ns="$ns" -v cpu="$cpu" -v rss="$rss" 'BEGIN { printf "%-12s %10.1f %10.1f %14.0f\n", b, ns / 1e6, cpu / 1e6, rss }'
done
echo
echo "whole aos64 counter session (202 messages, cold start and a SHA-256 of the memory after each):"
"$tmp/emscripten.test" -test.run '^$' -test.bench 'BenchmarkWholeSession$' -test.benchtime 1x |
	awk '/^BenchmarkWholeSession/ { printf "  %.1f s wall, %.1f s CPU, peak RSS %.0f MB\n", $3 / 1e9, $5 / 1e9, $7 }'
