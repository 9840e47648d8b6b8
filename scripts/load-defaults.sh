#!/usr/bin/env bash
# The outside review's load run (issue 10, item 7): the layer exactly as the builder's defaults
# make it (the default replay store, empty), GET / with a fresh pre-signed request each time, wrk
# at full speed for SECONDS. Before the fix the default store filled at 1M nonces and answered
# 503 to everyone (388,822 × 503 in 16 s); the run must show no non-2xx answer.
#
#   scripts/load-defaults.sh [SECONDS=16] [CONNECTIONS=64]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-16}
conns=${2:-64}
addr="127.0.0.1:18081"
if ! command -v wrk >/dev/null 2>&1; then
  apt-get update -qq && apt-get install -y -qq wrk
fi
cargo build --release -q -p tower-hmac-benches --bin bench_server
bin=target/release/bench_server
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
taskset -c 0 "$bin" serve hmac-defaults "$addr" > "$work/server.out" 2>&1 &
pid=$!
for _ in $(seq 1 200); do grep -q ready "$work/server.out" 2>/dev/null && break; sleep 0.1; done
sleep 1
# More signed requests than wrk can send, so that none is sent twice (a replay would be a 401).
"$bin" sign $(( 150000 * secs )) "$addr" > "$work/values.txt"
rss_before=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
out=$(taskset -c 1 wrk -t1 -c"$conns" -d"${secs}s" --latency -s scripts/signed.lua "http://$addr/" -- "$work/values.txt" 2>&1)
rss_after=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
echo "$out"
requests=$(echo "$out" | awk '/requests in/ {print $1}')
non2xx=$(echo "$out" | awk '/Non-2xx/ {print $5}')
signed=$(wc -l < "$work/values.txt")
echo "signed requests available: $signed; sent: $requests; non-2xx: ${non2xx:-0}; server RSS ${rss_before} kB → ${rss_after} kB"
if [ "$requests" -gt "$signed" ]; then
  echo "wrk sent more requests than were signed: the rest were replays (raise the factor)" >&2
fi
[ "${non2xx:-0}" -eq 0 ]
