#!/usr/bin/env bash
# Instructions per request of the whole server process over HTTP (hyper, axum, the layer, the
# kernel's share left out): bench_server under callgrind, its counters zeroed once it is ready,
# COUNT pre-signed requests of SCHEME sent by `fixed_rate` at a low rate, then dumped.
# Deterministic where a throughput figure is not; the server's side of a load test, request by
# request.
#
#   scripts/server-instr.sh MODE SCHEME [COUNT=2000]
#     MODE: bare | scheme:<id> | hmac-defaults   SCHEME: the requests (bare | v1 | softaware | …)
#
# Prints "MODE SCHEME: N instructions per request". Example, why softaware saturates lower than
# v1 at the same layer cost: `bare v1`, `bare softaware` (the requests alone), `scheme:v1 v1`,
# `scheme:softaware softaware`.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=$1 scheme=$2 count=${3:-2000}
port=$((20000 + RANDOM % 20000))
addr="127.0.0.1:$port"
cargo build --release -q -p tower-hmac-benches --bin bench_server --bin fixed_rate
bin=target/release/bench_server
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
# Only the server's own process, counted from when it says it is ready.
valgrind --tool=callgrind --callgrind-out-file="$work/cg.%p" --instr-atstart=no \
  "$bin" serve "$mode" "$addr" > "$work/server.out" 2>&1 &
server=$!
for _ in $(seq 1 3000); do grep -q ready "$work/server.out" 2>/dev/null && break; sleep 0.1; done
sleep 1
# Warm-up (not counted), then the counted requests.
"$bin" sign-raw "$scheme" 200 "$addr" > "$work/warm"
target/release/fixed_rate "$addr" 100 2 4 "$work/warm" > /dev/null
"$bin" sign-raw "$scheme" "$count" "$addr" > "$work/requests"
callgrind_control -i on "$server" > /dev/null 2>&1
target/release/fixed_rate "$addr" 200 $((count / 200)) 4 "$work/requests" > "$work/load.out"
callgrind_control -i off "$server" > /dev/null 2>&1
callgrind_control -d "$server" > /dev/null 2>&1
sleep 1
kill "$server"; wait "$server" 2>/dev/null || true
total=$(cat "$work"/cg.* | sed -n 's/^\(summary\|totals\): *\([0-9]*\).*/\2/p' | sort -n | tail -1)
sent=$(sed -n 's/.* n \([0-9]*\) .*/\1/p' "$work/load.out")
echo "$mode $scheme: $((total / count)) instructions per request ($count sent, $sent measured by the generator after its warm-up; non2xx: $(sed -n 's/.*non2xx \([0-9]*\).*/\1/p' "$work/load.out"))"
