#!/usr/bin/env python3
"""Draws docs/PERFORMANCE.md's plots (SVG, no dependencies beyond Python 3) from the CSV files
the benchmarks write:

  target/bench/fixed-rate.csv      scripts/bench-fixed-rate.sh
  target/bench/churn-memory.csv    nonce_churn memory SECONDS target/bench/churn-memory.csv
  target/bench/churn-moka.csv      nonce_churn moka SECONDS target/bench/churn-moka.csv

    python3 scripts/plots.py [INPUT_DIR=target/bench] [OUTPUT_DIR=docs/plots]

Writes throughput.svg and p99.svg (per mode, against the offered rate) and churn.svg (the
replay stores' per-second check latency). A missing input skips its plots.
"""

import csv
import math
import os
import sys
from html import escape

WIDTH, HEIGHT = 760, 440
LEFT, RIGHT, TOP, BOTTOM = 80, 200, 50, 60
COLOURS = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
]


def nice_ticks(lo, hi, count=6):
    """Round tick values between lo and hi."""
    if hi <= lo:
        hi = lo + 1
    raw = (hi - lo) / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = min((m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw))
    value = math.floor(lo / step) * step
    ticks = [value]
    # Up to the first tick at or past `hi`, so that every point is inside the axes.
    while value < hi - step * 1e-9:
        value += step
        ticks.append(value)
    return ticks


def label(value):
    if value >= 1000 and value == int(value):
        return f"{int(value):,}"
    if value == int(value):
        return str(int(value))
    return f"{value:g}"


def chart(title, xlabel, ylabel, series, log_y=False, dashed=()):
    """An SVG line chart: series is {name: [(x, y), ...]}."""
    points = [p for values in series.values() for p in values if p[1] > 0 or not log_y]
    if not points:
        return None
    xs = [p[0] for p in points]
    ys = [p[1] for p in points]
    x_lo, x_hi = min(xs), max(xs)
    x_ticks = nice_ticks(0 if x_lo >= 0 else x_lo, x_hi)
    x_lo, x_hi = x_ticks[0], x_ticks[-1]
    if log_y:
        y_lo = 10 ** math.floor(math.log10(min(ys)))
        y_hi = 10 ** math.ceil(math.log10(max(ys)))
        y_ticks = []
        v = y_lo
        while v <= y_hi * 1.0001:
            y_ticks.append(v)
            v *= 10
    else:
        y_ticks = nice_ticks(0, max(ys))
        y_lo, y_hi = y_ticks[0], y_ticks[-1]
    plot_w = WIDTH - LEFT - RIGHT
    plot_h = HEIGHT - TOP - BOTTOM

    def px(x):
        return LEFT + (x - x_lo) / (x_hi - x_lo or 1) * plot_w

    def py(y):
        if log_y:
            f = (math.log10(y) - math.log10(y_lo)) / (math.log10(y_hi) - math.log10(y_lo) or 1)
        else:
            f = (y - y_lo) / (y_hi - y_lo or 1)
        return TOP + plot_h - f * plot_h

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">',
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>',
        f'<text x="{WIDTH / 2}" y="24" text-anchor="middle" font-size="15">{escape(title)}</text>',
    ]
    for t in x_ticks:
        x = px(t)
        out.append(f'<line x1="{x:.1f}" y1="{TOP}" x2="{x:.1f}" y2="{TOP + plot_h}" stroke="#eee"/>')
        out.append(f'<text x="{x:.1f}" y="{TOP + plot_h + 18}" text-anchor="middle">{label(t)}</text>')
    for t in y_ticks:
        y = py(t)
        out.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{LEFT + plot_w}" y2="{y:.1f}" stroke="#eee"/>')
        out.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{label(t)}</text>')
    out.append(
        f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#333"/>'
    )
    out.append(
        f'<text x="{LEFT + plot_w / 2}" y="{HEIGHT - 16}" text-anchor="middle">{escape(xlabel)}</text>'
    )
    out.append(
        f'<text transform="translate(18 {TOP + plot_h / 2}) rotate(-90)" text-anchor="middle">'
        f"{escape(ylabel)}</text>"
    )
    for i, (name, values) in enumerate(series.items()):
        colour = COLOURS[i % len(COLOURS)]
        values = sorted(p for p in values if p[1] > 0 or not log_y)
        if not values:
            continue
        path = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in values)
        dash = ' stroke-dasharray="6 4"' if name in dashed else ""
        out.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"{dash}/>')
        if len(values) <= 12:
            for x, y in values:
                out.append(f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="3" fill="{colour}"/>')
        ly = TOP + 14 + i * 18
        lx = LEFT + plot_w + 14
        out.append(f'<line x1="{lx}" y1="{ly - 4}" x2="{lx + 22}" y2="{ly - 4}" stroke="{colour}" stroke-width="2"{dash}/>')
        out.append(f'<text x="{lx + 28}" y="{ly}">{escape(name)}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def read_csv(path):
    if not os.path.exists(path):
        print(f"skipped: {path} not found", file=sys.stderr)
        return None
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def write(path, svg):
    if svg is None:
        return
    with open(path, "w") as f:
        f.write(svg)
    print(f"wrote {path}")


def main():
    src = sys.argv[1] if len(sys.argv) > 1 else "target/bench"
    dst = sys.argv[2] if len(sys.argv) > 2 else "docs/plots"
    os.makedirs(dst, exist_ok=True)

    rows = read_csv(os.path.join(src, "fixed-rate.csv"))
    if rows:
        throughput, p99 = {}, {}
        for row in rows:
            offered = float(row["offered"]) / 1000
            throughput.setdefault(row["mode"], []).append((offered, float(row["achieved"]) / 1000))
            p99.setdefault(row["mode"], []).append((offered, float(row["p99_us"])))
        write(
            os.path.join(dst, "throughput.svg"),
            chart(
                "Achieved against offered rate (open loop, 64 connections)",
                "offered rate (thousand requests/s)",
                "achieved (thousand requests/s)",
                throughput,
                dashed=("bare", "bare-signed"),
            ),
        )
        write(
            os.path.join(dst, "p99.svg"),
            chart(
                "p99 latency against offered rate (from when each request was due)",
                "offered rate (thousand requests/s)",
                "p99 latency (µs, log scale)",
                p99,
                log_y=True,
                dashed=("bare", "bare-signed"),
            ),
        )

    churn = {}
    for store in ("memory", "moka"):
        data = read_csv(os.path.join(src, f"churn-{store}.csv"))
        if not data:
            continue
        name = "MemoryNonceStore" if store == "memory" else "MokaNonceStore"
        churn[f"{name} p50"] = [(float(r["second"]), float(r["p50_us"])) for r in data]
        churn[f"{name} p99"] = [(float(r["second"]), float(r["p99_us"])) for r in data]
        churn[f"{name} max"] = [(float(r["second"]), float(r["max_us"])) for r in data]
    if churn:
        write(
            os.path.join(dst, "churn.svg"),
            chart(
                "Replay check latency per second: 1M live nonces, 50k new a second",
                "second of the run",
                "check latency (µs, log scale)",
                churn,
                log_y=True,
                dashed=tuple(k for k in churn if k.startswith("MokaNonceStore")),
            ),
        )


if __name__ == "__main__":
    main()
