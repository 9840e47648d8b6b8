#!/usr/bin/env python3
"""The performance gate (issue 28): instructions and allocations per request, compared with the
baselines committed in benches/perf-baseline.json. Deterministic counts, never timings.

    scripts/perf-gate.py            # measure and compare; exit 1 on a regression
    scripts/perf-gate.py --lower    # also lower the baselines that the change earned

Instructions: callgrind over the measured loop of benches/src/bin/instr_count.rs (1 000 distinct
signed requests per path after 200 warm-up ones, on a replay store already holding 16 384 nonces of
another key: every shard has its table, as on a server that has run for a while). A path fails when
it costs more than 2 % over its baseline. Allocations: benches/src/bin/alloc_count.rs (a counting
global allocator), each path on a fresh busy store too. A path fails when it allocates more than
its baseline (a rise of 0.5 or more in the mean per request: the means are whole numbers, but for
the rare table that grows during a count, ≈ 0.0001 each).
Future size: benches/src/bin/future_sizes.rs, the bytes of the layer's response future (axum
boxes it once per request: past 1 032 bytes glibc's malloc leaves its per-thread cache for its
slower bins). A path fails when its future grows at all.

The baselines are lowered, never raised, in the commit that earns them (`--lower`). Raising one
is an edit of benches/perf-baseline.json by hand, with a sentence in docs/PERFORMANCE.md saying
why.
"""

import json
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BASELINE = os.path.join(ROOT, "benches", "perf-baseline.json")
PATHS = [
    "v1",
    "v1-reject",
    "v1-all-schemes",
    "softaware",
    "rfc9421",
    "sigv4-presigned",
    "kong",
    "apisix",
]
# Allocations only: a v1 request that already has its extension map (as hyper's and axum's do),
# and a v1 POST with a 64-byte body (read, hashed and handed on).
ALLOCATION_ONLY = ["v1-extended", "v1-post"]
COUNT = 1000
INSTRUCTION_TOLERANCE = 0.02
ALLOCATION_TOLERANCE = 0.5


def target_dir():
    out = subprocess.run(
        ["cargo", "metadata", "--format-version", "1", "--no-deps"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(out)["target_directory"]


def build():
    subprocess.run(
        [
            "cargo",
            "build",
            "-q",
            "--release",
            "-p",
            "tower-hmac-benches",
            "--bin",
            "instr_count",
            "--bin",
            "alloc_count",
            "--bin",
            "future_sizes",
        ],
        cwd=ROOT,
        check=True,
    )
    return os.path.join(target_dir(), "release")


def instructions(bins, path):
    run = subprocess.run(
        [
            "valgrind",
            "--tool=callgrind",
            "--toggle-collect=*measured*",
            "--callgrind-out-file=/dev/null",
            os.path.join(bins, "instr_count"),
            path,
            str(COUNT),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    found = re.search(r"Collected : *(\d+)", run.stderr)
    if run.returncode != 0 or not found:
        sys.exit(f"perf gate: instr_count {path} failed:\n{run.stdout}\n{run.stderr}")
    return int(found.group(1)) // COUNT


def per_path(bins, binary, pattern, cast, expected):
    """Runs one of the benches' programs and reads its `pattern` lines (path, value) for every
    path in `expected`."""
    run = subprocess.run(
        [os.path.join(bins, binary)], cwd=ROOT, capture_output=True, text=True
    )
    if run.returncode != 0:
        sys.exit(f"perf gate: {binary} failed:\n{run.stdout}\n{run.stderr}")
    found = dict(
        (name, cast(value)) for name, value in re.findall(pattern, run.stdout, re.M)
    )
    missing = [p for p in expected if p not in found]
    if missing:
        sys.exit(f"perf gate: {binary} printed no line for {missing}:\n{run.stdout}")
    return found


def allocations(bins):
    return per_path(
        bins, "alloc_count", r"^allocations (\S+) ([0-9.]+)$", float, PATHS + ALLOCATION_ONLY
    )


def future_bytes(bins):
    # The rejection path's future is v1's: no line of its own.
    expected = [p for p in PATHS if p != "v1-reject"]
    return per_path(
        bins, "future_sizes", r"^(\S+): response future (\d+) bytes$", int, expected
    )


def main():
    lower = "--lower" in sys.argv[1:]
    for tool in ("valgrind",):
        if subprocess.run(["which", tool], capture_output=True).returncode != 0:
            sys.exit(f"perf gate: {tool} is missing: install it (apt-get install valgrind)")
    with open(BASELINE) as f:
        baseline = json.load(f)
    bins = build()
    now = {
        "instructions": {p: instructions(bins, p) for p in PATHS},
        "allocations": allocations(bins),
        "future_bytes": future_bytes(bins),
    }
    failed = []
    missing = []
    print("| path | instructions / request (baseline) | allocations / request (baseline) | response future bytes (baseline) |")
    print("|---|---:|---:|---:|")
    for path in PATHS + ALLOCATION_ONLY:
        cells = []
        def base(kind):
            # A path or kind without a baseline yet: reported as new, set by --lower.
            value = baseline.get(kind, {}).get(path)
            if value is None:
                missing.append(f"{path}: no {kind} baseline (run with --lower to set it)")
            return value

        if path in now["instructions"] and base("instructions") is not None:
            ir, ir_base = now["instructions"][path], baseline["instructions"][path]
            cells.append(f"{ir} ({ir_base}, {100 * (ir - ir_base) / ir_base:+.2f} %)")
            if ir > ir_base * (1 + INSTRUCTION_TOLERANCE):
                failed.append(f"{path}: {ir} instructions per request, baseline {ir_base} (+2 % allowed)")
        else:
            cells.append("")
        if base("allocations") is not None:
            al, al_base = now["allocations"][path], baseline["allocations"][path]
            cells.append(f"{al:.2f} ({al_base:.2f})")
            if al >= al_base + ALLOCATION_TOLERANCE:
                failed.append(f"{path}: {al:.2f} allocations per request, baseline {al_base:.2f}")
        else:
            cells.append("new")
        if path in now["future_bytes"] and base("future_bytes") is not None:
            fb, fb_base = now["future_bytes"][path], baseline["future_bytes"][path]
            cells.append(f"{fb} ({fb_base})")
            if fb > fb_base:
                failed.append(f"{path}: a response future of {fb} bytes, baseline {fb_base}")
        else:
            cells.append("")
        print(f"| {path} | " + " | ".join(cells) + " |")
    if missing and not lower:
        failed.extend(missing)
    if lower:
        changed = False
        for kind, values in now.items():
            for path, value in values.items():
                if kind == "allocations":
                    value = round(value, 2)
                if path not in baseline.setdefault(kind, {}) or value < baseline[kind][path]:
                    baseline[kind][path] = value
                    changed = True
        if changed:
            with open(BASELINE, "w") as f:
                json.dump(baseline, f, indent=2, sort_keys=True)
                f.write("\n")
            print("perf gate: baselines lowered in benches/perf-baseline.json")
    if failed:
        print("perf gate: FAILED")
        for line in failed:
            print("  " + line)
        sys.exit(1)
    print("perf gate: every path within its baseline")


if __name__ == "__main__":
    main()
