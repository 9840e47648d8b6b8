#!/usr/bin/env bash
# HTTP load benchmark: bare axum, tower-http's bearer check, tower-hmac (1M live nonces, the
# default store), tower-hmac with every scheme enabled (`hmac-all`: the same v1 requests) and
# tower-hmac on the moka store — side by side in one run, the server pinned to
# core 0 and wrk to core 1, GET / with pre-signed requests (every request a fresh nonce).
# `bare-signed` is bare axum sent the same pre-signed requests through the same wrk Lua script:
# the fair baseline for the tower-hmac modes, since the script costs wrk time and the longer
# requests cost the server parsing time whether or not they are verified.
# `floor`, `floor-no-mac`, `floor-no-replay`, `floor-neither`, `floor-identity`: the lower bound
# of benches/src/floor.rs (the least any v1 verifier with an in-process replay store does: one
# MAC, one replay check) and its parts, sent the same signed requests (docs/PERFORMANCE.md,
# "The floor").
#
#   [MODES="bare bare-signed hmac hmac-all"] [BENCH_RUNTIME=quickstart] scripts/bench-http.sh [SECONDS=5] [RUNS=3] [CONNECTIONS=64]
#
# BENCH_RUNTIME=quickstart serves every mode as the README's quick start does (the
# multi-threaded runtime of `#[tokio::main]`, `into_make_service_with_connect_info`); without
# it, a current-thread runtime and plain `axum::serve`.
#
# Prints, per mode, the median over RUNS of: requests/s, server CPU µs per request (from
# /proc/PID/stat), p99 latency — and each as a ratio to bare axum. Runs with any non-2xx answer
# are flagged (a replayed or stale pre-signed request would make a run look faster than it is).
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-5}
runs=${2:-3}
conns=${3:-64}
port=18080
addr="127.0.0.1:$port"
modes=(${MODES:-bare bare-signed bearer hmac hmac-all hmac-moka})

if ! command -v wrk >/dev/null 2>&1; then
  apt-get update -qq && apt-get install -y -qq wrk
fi
cargo build --release -q -p tower-hmac-benches --bin bench_server
bin=target/release/bench_server
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
hz=$(getconf CLK_TCK)

cat > "$work/bearer.lua" <<'LUA'
wrk.headers["Authorization"] = "Bearer bench-token"
LUA

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

run_mode() { # mode run → "rps cpu_us p99_us non2xx"
  local mode=$1 opts=() extra=()
  local serve=${mode%-signed}
  # v1 requests to a layer with every scheme enabled (issue 16: within 2 % of the v1-only one).
  [ "$mode" = hmac-all ] && serve=scheme:v1-all-schemes
  taskset -c 0 "$bin" serve "$serve" "$addr" > "$work/server.out" 2>&1 &
  local pid=$!
  for _ in $(seq 1 200); do grep -q ready "$work/server.out" 2>/dev/null && break; sleep 0.1; done
  # Signed once the server is up: a request stamped before its replay store began is refused
  # once as possibly seen by a previous process (the restart horizon).
  sleep 1
  case $mode in
    hmac*|bare-signed|floor*) "$bin" sign $(( 200000 * secs )) "$addr" > "$work/values.txt"
           opts=(-s scripts/signed.lua); extra=(-- "$work/values.txt") ;;
    bearer) opts=(-s "$work/bearer.lua") ;;
  esac
  local before; before=$(cpu_ticks $pid)
  local out; out=$(taskset -c 1 wrk -t1 -c"$conns" -d"${secs}s" --latency "${opts[@]}" "http://$addr/" "${extra[@]}" 2>&1)
  local after; after=$(cpu_ticks $pid)
  kill $pid; wait $pid 2>/dev/null || true
  local requests rps p99 non2xx
  requests=$(echo "$out" | awk '/requests in/ {print $1}')
  rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  p99=$(echo "$out" | awk '$1 == "99%" {v=$2; if (v ~ /us$/) {sub(/us/,"",v); print v} else if (v ~ /ms$/) {sub(/ms/,"",v); print v*1000} else {sub(/s/,"",v); print v*1000000}}')
  non2xx=$(echo "$out" | awk '/Non-2xx/ {print $5}')
  local cpu_us; cpu_us=$(awk -v t=$((after - before)) -v hz="$hz" -v n="$requests" 'BEGIN {printf "%.2f", t * 1e6 / hz / n}')
  echo "$rps $cpu_us $p99 ${non2xx:-0}"
}

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), wrk -t1 -c$conns -d${secs}s, $runs runs, $(date -u +%F)"
declare -A results
for run in $(seq 1 "$runs"); do
  for mode in "${modes[@]}"; do
    r=$(run_mode "$mode")
    results[$mode]+="$r"$'\n'
    echo "run $run $mode: rps cpu_us/req p99_us non2xx = $r"
  done
done

median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo
echo "ratios and Δ against bare axum; for the signed modes also against bare-signed (same requests)"
printf '%-12s %10s %7s %7s %11s %7s %7s %9s %7s %7s %7s\n' mode req/s ratio r/sgn "CPU µs/req" "Δ µs" "Δ/sgn" "p99 µs" ratio r/sgn non-2xx
base_rps=$(echo -n "${results[bare]}" | awk '{print $1}' | median)
base_cpu=$(echo -n "${results[bare]}" | awk '{print $2}' | median)
base_p99=$(echo -n "${results[bare]}" | awk '{print $3}' | median)
sgn_rps=$(echo -n "${results[bare-signed]}" | awk '{print $1}' | median)
sgn_cpu=$(echo -n "${results[bare-signed]}" | awk '{print $2}' | median)
sgn_p99=$(echo -n "${results[bare-signed]}" | awk '{print $3}' | median)
for mode in "${modes[@]}"; do
  rps=$(echo -n "${results[$mode]}" | awk '{print $1}' | median)
  cpu=$(echo -n "${results[$mode]}" | awk '{print $2}' | median)
  p99=$(echo -n "${results[$mode]}" | awk '{print $3}' | median)
  bad=$(echo -n "${results[$mode]}" | awk '{s+=$4} END {print s}')
  awk -v m="$mode" -v r="$rps" -v br="$base_rps" -v sr="$sgn_rps" -v c="$cpu" -v bc="$base_cpu" -v sc="$sgn_cpu" \
      -v p="$p99" -v bp="$base_p99" -v sp="$sgn_p99" -v bad="$bad" \
    'BEGIN {printf "%-12s %10.0f %7.2f %7.2f %11.2f %+7.2f %+7.2f %9.0f %7.2f %7.2f %7d\n", m, r, r/br, r/sr, c, c-bc, c-sc, p, p/bp, p/sp, bad}'
done

# Paired ratios: each run measures every mode back to back, so a run's ratio to bare (and to
# bare-signed) in that same run is less exposed to the machine's drift between runs than the
# ratio of medians above. Median and range over the runs.
echo
echo "paired ratios (each run's throughput over bare's / bare-signed's in the same run): median [min–max]"
paired() { # column of mode A, column of mode B → "median [min–max]" of A/B per run
  paste <(echo -n "$1" | awk '{print $1}') <(echo -n "$2" | awk '{print $1}') |
    awk '{print $1 / $2}' | sort -g |
    awk '{a[NR]=$1} END {printf "%.2f [%.2f–%.2f]", a[int((NR+1)/2)], a[1], a[NR]}'
}
for mode in "${modes[@]}"; do
  case $mode in bare) continue ;; esac
  line="$(printf '%-14s' "$mode")"
  [ -n "${results[bare]:-}" ] && line+=" vs bare $(paired "${results[$mode]}" "${results[bare]}")"
  [ -n "${results[bare-signed]:-}" ] && [ "$mode" != bare-signed ] &&
    line+="   vs bare-signed $(paired "${results[$mode]}" "${results[bare-signed]}")"
  echo "$line"
done
