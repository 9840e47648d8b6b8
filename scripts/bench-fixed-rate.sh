#!/usr/bin/env bash
# Tail latency at fixed offered rates (issue 16): bare axum, bare axum sent v1-signed requests,
# and a layer per scheme (1M live nonces), each loaded by benches' `fixed_rate` (open loop,
# latency counted from when each request was due, as wrk2 does) at fractions of bare axum's
# saturation rate, which wrk measures first in the same run. Server on core 0, load on core 1.
# The `floor` modes (benches/src/floor.rs, the least any v1 verifier does) take v1's requests.
#
#   scripts/bench-fixed-rate.sh [SECONDS=5] [REPS=3] [FRACTIONS="0.25 0.5 0.75 0.9"] [MODES=...]
#
# Writes target/bench/fixed-rate.csv (mode,fraction,offered,achieved,p50_us,p99_us,p999_us, the
# medians over REPS runs; the runs alternate modes so that the machine's drift spreads over all)
# and prints the table at 50 % with p99 ratios to bare-signed. `scripts/plots.py` draws it.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-5}
reps=${2:-3}
fractions=${3:-"0.25 0.5 0.75 0.9"}
modes=(${4:-bare bare-signed v1 v1-all-schemes softaware rfc9421 sigv4-presigned kong apisix})
conns=64
port=18090
addr="127.0.0.1:$port"

if ! command -v wrk >/dev/null 2>&1; then
  apt-get update -qq && apt-get install -y -qq wrk
fi
cargo build --release -q -p tower-hmac-benches --bin bench_server --bin fixed_rate
bin=target/release/bench_server
gen=target/release/fixed_rate
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
mkdir -p target/bench
csv=target/bench/fixed-rate.csv

start_server() { # mode
  taskset -c 0 "$bin" serve "$1" "$addr" > "$work/server.out" 2>&1 &
  server=$!
  for _ in $(seq 1 300); do grep -q ready "$work/server.out" 2>/dev/null && break; sleep 0.1; done
  # Signed once the server is up: a request stamped before its replay store began is refused
  # once (the restart horizon).
  sleep 1
}
stop_server() { kill "$server"; wait "$server" 2>/dev/null || true; }

# Bare axum's saturation rate: wrk, median of 3 runs of SECONDS.
start_server bare
sat=$(for _ in 1 2 3; do
  taskset -c 1 wrk -t1 -c$conns -d"${secs}s" "http://$addr/" | awk '/Requests\/sec/ {print $2}'
done | sort -g | sed -n 2p)
stop_server
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); bare axum saturates at $sat req/s (wrk -t1 -c$conns); $reps runs of ${secs}s per point; $(date -u +%F)"

declare -A results
for rep in $(seq 1 "$reps"); do
  for mode in "${modes[@]}"; do
    case $mode in
      bare) serve=bare; scheme=bare ;;
      bare-signed) serve=bare; scheme=v1 ;;
      # The lower bound of benches/src/floor.rs (and its parts), sent v1's requests.
      floor*) serve=$mode; scheme=v1 ;;
      # The builder's defaults exactly (an empty default replay store), sent v1's requests.
      hmac-defaults) serve=$mode; scheme=v1 ;;
      *) serve="scheme:$mode"; scheme=$mode ;;
    esac
    start_server "$serve"
    for f in $fractions; do
      rate=$(awk -v s="$sat" -v f="$f" 'BEGIN {printf "%d", s * f}')
      "$bin" sign-raw "$scheme" $((rate * secs + 1)) "$addr" > "$work/requests"
      out=$(taskset -c 1 "$gen" "$addr" "$rate" "$secs" "$conns" "$work/requests")
      echo "run $rep $mode $f: $out"
      results[$mode,$f]+="$out"$'\n'
    done
    stop_server
  done
done

median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
field() { awk -v k="$1" '{for (i = 1; i < NF; i++) if ($i == k) print $(i+1)}' | sed 's|/s||'; }
echo "mode,fraction,offered,achieved,p50_us,p99_us,p999_us,non2xx" > "$csv"
for mode in "${modes[@]}"; do
  for f in $fractions; do
    r=${results[$mode,$f]}
    printf '%s,%s,%s,%s,%s,%s,%s,%s\n' "$mode" "$f" \
      "$(echo -n "$r" | field offered | median)" "$(echo -n "$r" | field achieved | median)" \
      "$(echo -n "$r" | field p50 | median)" "$(echo -n "$r" | field p99 | median)" \
      "$(echo -n "$r" | field p999 | median)" "$(echo -n "$r" | field non2xx | awk '{s+=$1} END {print s}')" >> "$csv"
  done
done
echo
echo "at 50 % of bare's saturation (medians of $reps runs); ratios against bare-signed (the same v1 requests, unverified)"
printf '%-16s %9s %9s %8s %8s %8s %9s %8s\n' mode offered achieved "p50 µs" "p99 µs" "p99.9 µs" "p99 ratio" non-2xx
base=$(awk -F, '$1 == "bare-signed" && $2 == "0.5" {print $6}' "$csv")
awk -F, -v b="$base" '$2 == "0.5" {printf "%-16s %9s %9s %8s %8s %8s %9.2f %8s\n", $1, $3, $4, $5, $6, $7, (b > 0 ? $6 / b : 0), $8}' "$csv"
echo
echo "all points: $csv"
