#!/usr/bin/env bash
# The README's budgets, measured as a new user meets them: a fresh clone of this repository's
# HEAD, an empty Cargo home (every dependency downloaded) and an empty target directory.
#
#   scripts/measure-budgets.sh [WORKDIR=$(mktemp -d)]
#
# Prints three figures:
#   demo      seconds from `cargo run -p demo-server` to its "listening" line (downloads included)
#   test      seconds of `scripts/test` on the fresh clone (set-up and compile included)
#   test-run  seconds of a second `scripts/test` right after (the run itself, nothing to compile)
# It does not stop other work on the machine: run it on an otherwise idle machine.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
work="${1:-$(mktemp -d)}"
mkdir -p "$work"
export CARGO_HOME="$work/cargo-home"
mkdir -p "$CARGO_HOME"
clone="$work/clone"
rm -rf "$clone"
git clone -q "$repo" "$clone"
cd "$clone"
# The virtualenv is the project's own set-up, part of the test budget: start without it.
rm -rf .ci/venv

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.0f", b - a }'; }

start=$(now)
TOWER_HMAC_DEMO_ADDR=127.0.0.1:0 cargo run -q -p demo-server > "$work/demo.out" 2> "$work/demo.err" &
demo=$!
while ! grep -q "listening on" "$work/demo.out" 2>/dev/null; do
  if ! kill -0 "$demo" 2>/dev/null; then
    echo "the demo exited:"; cat "$work/demo.err"; exit 1
  fi
  sleep 0.2
done
demo_secs=$(elapsed "$start" "$(now)")
kill "$demo" 2>/dev/null || true
wait "$demo" 2>/dev/null || true

start=$(now)
scripts/test > "$work/test.out" 2>&1 || { tail -30 "$work/test.out"; exit 1; }
test_secs=$(elapsed "$start" "$(now)")
start=$(now)
scripts/test > "$work/test-run.out" 2>&1 || { tail -30 "$work/test-run.out"; exit 1; }
run_secs=$(elapsed "$start" "$(now)")

echo "demo: ${demo_secs} s (budget 90)"
echo "test: ${test_secs} s (budget 600) — $(tail -1 "$work/test.out")"
echo "test-run: ${run_secs} s (budget 120) — $(tail -1 "$work/test-run.out")"
