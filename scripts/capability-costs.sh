#!/usr/bin/env bash
# What each optional capability costs a v1 request (issue 28, part 2): instructions per request
# (callgrind over the measured loop of benches/src/bin/instr_count.rs; deterministic) and
# nanoseconds per request (the same loop run natively on ten times as many requests, pinned to
# one core, the median of 5 runs; noisy: read it as a ratio to the rows measured in the same
# run). Prints a Markdown table.
#
#   scripts/capability-costs.sh [COUNT=2000]
#
# Two builds: the default features (bare, the layer with nothing optional, skip, trusted
# proxies, scopes), then `--features capabilities` (tower-hmac's `policy` and `metrics` compiled
# in: the layer with nothing configured, then the throttle, the risk monitor, the Prometheus
# recorder, each alone).
set -euo pipefail
cd "$(dirname "$0")/.."
count="${1:-2000}"
bin="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/release/instr_count"

instructions() {
  valgrind --tool=callgrind --toggle-collect='*measured*' --callgrind-out-file=/dev/null \
    "$bin" "$1" "$count" 2>&1 | sed -n 's/.*Collected : *\([0-9]*\).*/\1/p'
}

nanoseconds() { # the measured loop alone (ten times COUNT requests, pinned), median of 5 runs
  for _ in 1 2 3 4 5; do
    taskset -c 0 "$bin" "$1" "$((count * 10))" | sed -n 's/^measured loop: \([0-9]*\) ns per request/\1/p'
  done | sort -n | sed -n 3p
}

row() {
  local label="$1" case="$2"
  local ir ns
  ir=$(( $(instructions "$case") / count ))
  ns=$(nanoseconds "$case")
  echo "| $label | \`$case\` | $ir | $ns |"
}

echo "| capability | case | instructions / request | ns / request |"
echo "|---|---|---:|---:|"
cargo build -q --release -p tower-hmac-benches --bin instr_count
row "bare axum-free service (no layer)" bare
row "layer, default features, nothing optional" v1
row "+ skip predicate (not matching)" v1+skip
row "+ trusted proxies (request via a trusted proxy)" v1+proxies
row "+ RequireScope on the route (key grants it)" v1+scope
cargo build -q --release -p tower-hmac-benches --features capabilities --bin instr_count
row "layer, \`policy\` and \`metrics\` compiled, nothing configured" v1+none
row "+ failure throttle (20 / 60 s; the client address known)" v1+throttle
row "+ risk monitor (the client address known)" v1+risk
row "+ Prometheus recorder installed (\`metrics\`)" v1+metrics
# Leave the default build behind for the gate.
cargo build -q --release -p tower-hmac-benches --bin instr_count
