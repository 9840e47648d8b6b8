#!/usr/bin/env bash
# Instructions and heap allocations per request on the v1 accept path, commit by commit
# (issue 28): each commit's tree is taken with `git archive` (the repository's work tree, index
# and branches are left alone), built with its own benches, and measured with its own
# `instr_count` (under callgrind, collecting only inside `measured`) and `alloc_count`.
# Both counts are deterministic: allocations exactly, instructions to about ±30 a request (0.1 %).
#
#   scripts/instr-history.sh 66a6a30 c32693b b0007bf ...     # commits, oldest first
#   scripts/instr-history.sh $(git log --reverse --format=%h 66a6a30^..HEAD -- crates/tower-hmac/src crates/tower-hmac-core/src)
#
# Prints a Markdown table on standard output (progress goes to standard error):
# commit | date | subject | instructions per request | allocations per request | change vs the
# previous row. Everything builds and runs under `nice -n 19` (timing benchmarks may share the
# machine). Environment:
#   REPO     the repository (default: the one holding the current directory)
#   WORK     where the trees are extracted, one folder per commit, removed after use (/tmp/hist)
#   TARGET   one CARGO_TARGET_DIR shared by every commit, so dependencies build once (/tmp/hist-target)
#   COUNT    measured requests per instr_count run (1000)
#   MIN_FREE_GB  refuse to extract another tree below this much free space in WORK (5)
set -euo pipefail

REPO=${REPO:-$(git rev-parse --show-toplevel)}
WORK=${WORK:-/tmp/hist}
TARGET=${TARGET:-/tmp/hist-target}
COUNT=${COUNT:-1000}
MIN_FREE_GB=${MIN_FREE_GB:-5}

if [ $# -eq 0 ]; then
    echo "usage: $0 COMMIT... (oldest first)" >&2
    exit 2
fi
command -v valgrind >/dev/null || { echo "valgrind is needed (apt-get install valgrind)" >&2; exit 1; }

mkdir -p "$WORK" "$TARGET"

free_gb() { df -Pk "$WORK" | awk 'NR == 2 { print int($4 / 1048576) }'; }

# pct NEW OLD: the change in percent with a sign, or an empty field without a previous value.
pct() {
    if [ -z "$2" ] || [ "$2" = "-" ] || [ "$1" = "-" ]; then echo ""; return; fi
    awk -v n="$1" -v o="$2" 'BEGIN { if (o == 0) { print (n == 0 ? "0.0 %" : "n/a") } else { printf "%+.1f %%", (n - o) * 100 / o } }'
}

printf '| commit | date | subject | instructions / request | allocations / request | instructions vs previous | allocations vs previous |\n'
printf '| --- | --- | --- | ---: | ---: | ---: | ---: |\n'

prev_instr="" prev_alloc=""
for rev in "$@"; do
    sha=$(git -C "$REPO" rev-parse --short=7 "$rev^{commit}")
    date=$(git -C "$REPO" show -s --format=%cs "$sha")
    subject=$(git -C "$REPO" show -s --format=%s "$sha")
    if [ ${#subject} -gt 80 ]; then subject="${subject:0:79}…"; fi
    subject=${subject//|/\\|}

    if [ "$(free_gb)" -lt "$MIN_FREE_GB" ]; then
        echo "less than ${MIN_FREE_GB} GB free in $WORK: stopping before $sha" >&2
        exit 1
    fi
    tree="$WORK/$sha"
    rm -rf "$tree"
    mkdir -p "$tree"
    # -m: the files get the time of extraction, not the commit's. With the commit's (older than
    # the artifacts another commit left in the shared target dir) cargo would take the workspace
    # crates as fresh and measure another commit's code.
    git -C "$REPO" archive "$sha" | tar -x -m -C "$tree"

    bins=(--bin instr_count)
    has_alloc=0
    if [ -f "$tree/benches/src/bin/alloc_count.rs" ]; then
        bins+=(--bin alloc_count)
        has_alloc=1
    fi
    echo "== $sha: building" >&2
    touch "$WORK/.stamp-$sha"
    (cd "$tree" && nice -n 19 env CARGO_TARGET_DIR="$TARGET" cargo build --release -q \
        -p tower-hmac-benches "${bins[@]}") >&2
    for bin in instr_count $([ "$has_alloc" = 1 ] && echo alloc_count); do
        if ! [ "$TARGET/release/$bin" -nt "$WORK/.stamp-$sha" ]; then
            echo "$sha: $bin was not rebuilt; refusing to measure a stale binary" >&2
            exit 1
        fi
    done
    rm -f "$WORK/.stamp-$sha"

    # The v1 accept path's case in this commit's instr_count.
    case_name=v1
    if ! grep -q '"v1"' "$tree/benches/src/bin/instr_count.rs"; then
        echo "$sha: instr_count.rs has no \"v1\" case; look it up by hand" >&2
        exit 1
    fi

    echo "== $sha: instructions" >&2
    log=$(nice -n 19 valgrind --tool=callgrind --toggle-collect='*measured*' \
        --callgrind-out-file=/dev/null "$TARGET/release/instr_count" "$case_name" "$COUNT" 2>&1)
    collected=$(sed -n 's/.*Collected : \([0-9]*\).*/\1/p' <<<"$log" | tail -n 1)
    if [ -z "$collected" ]; then
        echo "$log" >&2
        echo "$sha: no 'Collected' line from callgrind" >&2
        exit 1
    fi
    instr=$(awk -v c="$collected" -v n="$COUNT" 'BEGIN { printf "%.0f", c / n }')

    alloc="-"
    if [ "$has_alloc" = 1 ]; then
        echo "== $sha: allocations" >&2
        out=$(nice -n 19 "$TARGET/release/alloc_count")
        # Every version's first line reads "allocations per request: accepted N, ...".
        alloc=$(grep -o 'accepted [0-9.]*' <<<"$out" | head -n 1 | awk '{ print $2 }')
        [ -n "$alloc" ] || { echo "$out" >&2; echo "$sha: no accepted count" >&2; exit 1; }
    fi

    printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$sha" "$date" "$subject" "$instr" "$alloc" \
        "$(pct "$instr" "$prev_instr")" "$(pct "$alloc" "$prev_alloc")"
    echo "== $sha: $instr instructions, $alloc allocations per request" >&2
    prev_instr=$instr prev_alloc=$alloc

    rm -rf "$tree"
done
