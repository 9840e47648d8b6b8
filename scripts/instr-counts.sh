#!/usr/bin/env bash
# Instructions per request through the layer, per scheme (issue 16): callgrind counts only the
# measured loop of benches/src/bin/instr_count.rs (see its docs). Repeatable where wall-clock time
# is not. Prints a Markdown table: instructions per request, and each scheme's extra over bare.
#   scripts/instr-counts.sh [COUNT]        (default 2000 requests per scheme)
set -euo pipefail
cd "$(dirname "$0")/.."
count="${1:-2000}"
cargo build -q --release -p tower-hmac-benches --bin instr_count
bin=target/release/instr_count
echo "| scheme | instructions / request | over bare |"
echo "|---|---:|---:|"
bare=""
for scheme in bare v1 v1-all-schemes softaware rfc9421 sigv4-presigned kong apisix; do
  ir=$(valgrind --tool=callgrind --toggle-collect='*measured*' --callgrind-out-file=/dev/null \
        "$bin" "$scheme" "$count" 2>&1 | sed -n 's/.*Collected : *\([0-9]*\).*/\1/p')
  per=$((ir / count))
  [ -n "$bare" ] || bare=$per
  echo "| $scheme | $per | +$((per - bare)) |"
done
