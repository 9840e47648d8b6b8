#!/usr/bin/env bash
# Runs every fuzz target for SECONDS (default 600), two at a time, then keeps up to 25 inputs of
# each minimised corpus in fuzz/regressions/<target>/ (replayed by `cargo test --workspace`).
#   scripts/fuzz-all.sh [SECONDS] [JOBS]
# Needs cargo-fuzz (`cargo install cargo-fuzz`); RUSTC_BOOTSTRAP=1 lets a stable toolchain build
# with the sanitizer flags it uses. Crashes land in fuzz/artifacts/<target>/.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
secs=${1:-600}
jobs=${2:-2}
export RUSTC_BOOTSTRAP=1
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked
targets=$(cargo fuzz list)
for t in $targets; do cargo fuzz build -O "$t" >/dev/null; done
mkdir -p logs
echo "$targets" | xargs -P "$jobs" -I{} sh -c \
  "mkdir -p corpus/{} && cargo fuzz run -O {} corpus/{} regressions/{} -- -max_total_time=$secs -timeout=10 -rss_limit_mb=4096 > logs/{}.log 2>&1; echo \"{}: exit \$? — \$(grep -E '^(#[0-9]+|Done)' logs/{}.log | tail -1)\""
for t in $targets; do
  cargo fuzz cmin -O "$t" "corpus/$t" >/dev/null 2>&1 || true
  # The 25 smallest inputs (`ls` may be cut off by `head`: not an error).
  for f in $(ls -S -r "corpus/$t" | head -25 || true); do
    cp "corpus/$t/$f" "regressions/$t/corpus-$f"
  done
done
if ls artifacts/*/* >/dev/null 2>&1; then
  ls artifacts/*/
  echo "CRASHES above: reproduce with cargo fuzz run -O <target> <file>; keep the file in regressions/<target>/"
  exit 1
fi
echo "no crashes"
