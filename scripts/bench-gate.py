#!/usr/bin/env python3
"""Compare criterion baselines and fail on a slowdown: the codec's
microbench regression gate (run through scripts/bench-gate.sh).

Usage:
    python3 scripts/bench-gate.py --criterion-dir target/criterion \\
        --baseline gate-base --current gate-cur1,gate-cur2,gate-cur3 --threshold 10%

For every benchmark id that has at least one of the --current baselines,
the current time is the minimum over those baselines of criterion's median
(best of N: on a shared machine a disturbance inflates a median but rarely
deflates it), and the reference time is the minimum over the --baseline
names (normally one). A benchmark regressed when its current time is more
than THRESHOLD percent above the reference.

Benchmarks with a baseline but no current result (left out by a filter) are
not compared; benchmarks with a current result but no baseline are listed
as `new` and do not fail the gate.

Exit codes: 0 nothing regressed, 1 at least one benchmark regressed (named
on stderr), 2 usage error, no baseline saved, or no current results.
"""

import argparse
import json
import os
import sys


def parse_threshold(text):
    """'10%', '10' or '2.5%' -> 10.0 / 10.0 / 2.5 (percent)."""
    t = text.strip()
    if t.endswith("%"):
        t = t[:-1]
    try:
        value = float(t)
    except ValueError:
        raise argparse.ArgumentTypeError(f"threshold must be a percentage like 10%, got {text!r}")
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"threshold must be a non-negative percentage, got {text!r}")
    return value


def names(text):
    out = [n.strip() for n in text.split(",") if n.strip()]
    if not out:
        raise argparse.ArgumentTypeError("expected one or more baseline names separated by commas")
    for n in out:
        if "/" in n or n in (".", ".."):
            raise argparse.ArgumentTypeError(f"not a baseline name: {n!r}")
    return out


def median_ns(bench_dir, baseline):
    """Criterion's median point estimate (ns per iteration) of one saved
    baseline, or None when that baseline was not saved for this benchmark."""
    path = os.path.join(bench_dir, baseline, "estimates.json")
    try:
        with open(path) as f:
            return float(json.load(f)["median"]["point_estimate"])
    except FileNotFoundError:
        return None


def bench_id(bench_dir, baselines):
    """The full benchmark id (`group/function/value`) from any
    benchmark.json criterion wrote for this benchmark."""
    for b in list(baselines) + ["new", "base"]:
        path = os.path.join(bench_dir, b, "benchmark.json")
        if os.path.exists(path):
            with open(path) as f:
                meta = json.load(f)
            return meta.get("full_id") or meta.get("title") or meta.get("directory_name")
    return None


def collect(root, baseline, current):
    """{id: (reference ns or None, current ns or None)} for every benchmark
    folder under root (a folder holding estimates.json in a named
    baseline subfolder)."""
    wanted = set(baseline) | set(current)
    found = {}
    for dirpath, dirnames, filenames in os.walk(root):
        # A benchmark folder holds one subfolder per baseline (`new`,
        # `base`, saved names) and a `report` folder.
        hits = [d for d in dirnames if d in wanted]
        if not hits:
            continue
        if not any(os.path.exists(os.path.join(dirpath, d, "estimates.json")) for d in hits):
            continue
        ref = [m for m in (median_ns(dirpath, b) for b in baseline) if m is not None]
        cur = [m for m in (median_ns(dirpath, c) for c in current) if m is not None]
        name = bench_id(dirpath, baseline + current) or os.path.relpath(dirpath, root)
        found[name] = (min(ref) if ref else None, min(cur) if cur else None)
        dirnames[:] = []  # no benchmarks below a benchmark
    return found


def fmt_time(ns):
    if ns is None:
        return "–"
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("µs", 1e3)):
        if ns >= scale:
            return f"{ns / scale:.3g} {unit}" if ns / scale < 100 else f"{ns / scale:.1f} {unit}"
    return f"{ns:.3g} ns" if ns < 100 else f"{ns:.1f} ns"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--criterion-dir", default="target/criterion",
                    help="criterion's output folder (default: target/criterion)")
    ap.add_argument("--baseline", type=names, default=["gate-base"],
                    help="reference baseline name(s), comma-separated (default: gate-base)")
    ap.add_argument("--current", type=names, required=True,
                    help="current baseline names, comma-separated; the best (minimum) median counts")
    ap.add_argument("--threshold", type=parse_threshold, default=10.0,
                    help="allowed slowdown in percent, e.g. 10%% (default 10%%)")
    try:
        args = ap.parse_args(argv)
    except SystemExit as e:
        return 2 if e.code else 0  # argparse exits 2 on a usage error, 0 on --help

    root = args.criterion_dir
    if not os.path.isdir(root):
        print(f"bench-gate: no criterion folder at {root}: run `scripts/bench-gate.sh save` first",
              file=sys.stderr)
        return 2
    results = collect(root, args.baseline, args.current)
    base_name = ",".join(args.baseline)
    if not any(ref is not None for ref, _ in results.values()):
        print(f"bench-gate: no baseline `{base_name}` under {root}: "
              f"run `scripts/bench-gate.sh save [FILTER]` first", file=sys.stderr)
        return 2
    compared = {k: v for k, v in results.items() if v[1] is not None}
    if not compared:
        print(f"bench-gate: no current results ({','.join(args.current)}) under {root}: "
              f"did the filter match any benchmark?", file=sys.stderr)
        return 2

    rows, regressed, new = [], [], []
    for name in sorted(compared):
        ref, cur = compared[name]
        if ref is None:
            new.append(name)
            rows.append([name, "–", fmt_time(cur), "–", "new (no baseline)"])
            continue
        change = (cur - ref) / ref * 100.0
        if change > args.threshold:
            verdict = "**REGRESSED**"
            regressed.append((name, change))
        elif change < -args.threshold:
            verdict = "faster"
        else:
            verdict = "ok"
        rows.append([name, fmt_time(ref), fmt_time(cur), f"{change:+.1f} %", verdict])

    rounds = len(args.current)
    print(f"Criterion median per iteration; current = best of {rounds} round{'s' if rounds != 1 else ''} "
          f"({','.join(args.current)}), baseline = {base_name}; threshold +{args.threshold:g} %.\n")
    header = ["benchmark", "baseline", "current", "change", "verdict"]
    print("| " + " | ".join(header) + " |")
    print("|---|---:|---:|---:|---|")
    for r in rows:
        print("| " + " | ".join(r) + " |")
    print()
    if new:
        print(f"{len(new)} benchmark(s) without a `{base_name}` baseline (not gated): "
              f"run `scripts/bench-gate.sh save` to include them", file=sys.stderr)
    if regressed:
        print(f"bench-gate: {len(regressed)} benchmark(s) slower than +{args.threshold:g} %:", file=sys.stderr)
        for name, change in regressed:
            print(f"  {name}: {change:+.1f} %", file=sys.stderr)
        return 1
    print(f"bench-gate: {len(compared) - len(new)} benchmark(s) within +{args.threshold:g} % of the baseline",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
