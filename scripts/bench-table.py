#!/usr/bin/env python3
"""Summarise the codec's criterion results as Markdown tables and check the
performance targets, as ratios measured in the same run.

Usage:
    scripts/bench.sh [ROUNDS] [FILTER]      # runs the benches ROUNDS times
    python3 scripts/bench-table.py [--rounds N] [--check]

Each benchmark's figure is the minimum, over the rounds, of criterion's
median: on a shared machine a disturbance inflates a median but rarely
deflates it, so the minimum of medians is the steadiest estimate of the
undisturbed speed. With one round (a plain `cargo bench`), the plain
median is used. With --check, exits 1 when a target is missed (and 2 when
results are missing), so a script can gate on it.
"""

import argparse
import datetime
import glob
import json
import os
import platform
import subprocess
import sys

GIB = 1024**3


def load(root, baselines):
    """{(group, name): (min over baselines of the median ns per iteration, throughput)}"""
    results = {}
    pattern = os.path.join(root, "**", "new", "benchmark.json")
    for path in glob.glob(pattern, recursive=True):
        with open(path) as f:
            bench = json.load(f)
        bench_dir = os.path.dirname(os.path.dirname(path))
        medians = []
        for b in baselines:
            est_path = os.path.join(bench_dir, b, "estimates.json")
            if os.path.exists(est_path):
                with open(est_path) as f:
                    medians.append(json.load(f)["median"]["point_estimate"])
        if not medians:
            continue
        name = bench.get("value_str") or bench.get("function_id")
        results[(bench["group_id"], name)] = (min(medians), bench.get("throughput") or {})
    return results


def rate(entry):
    """Bytes/s or elements/s of one result."""
    ns, thr = entry
    amount = thr.get("Bytes") or thr.get("BytesDecimal") or thr.get("Elements") or 1
    return amount / (ns * 1e-9)


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def rustc_version():
    try:
        return subprocess.run(["rustc", "--version"], capture_output=True, text=True).stdout.strip()
    except OSError:
        return "unknown"


def table(header, rows):
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--criterion-dir", default="target/criterion")
    ap.add_argument("--rounds", type=int, default=0,
                    help="use baselines round1..roundN saved by scripts/bench.sh (default: the last run)")
    ap.add_argument("--check", action="store_true", help="exit 1 if a target is missed")
    args = ap.parse_args()

    baselines = [f"round{i}" for i in range(1, args.rounds + 1)] or ["new"]
    r = load(args.criterion_dir, baselines)
    if not r:
        print(f"no criterion results under {args.criterion_dir}: run `cargo bench -p wsbench-benches` first",
              file=sys.stderr)
        return 2
    checks = []  # (description, measured, target, ok)

    def get(group, name):
        return r.get((group, name))

    def check(desc, measured, target):
        checks.append((desc, measured, target, measured >= target))

    how = (f"`scripts/bench.sh {args.rounds}`: minimum over {args.rounds} rounds of criterion's median"
           if args.rounds else "`cargo bench -p wsbench-benches`: criterion's median")
    print(f"Measured {datetime.date.today().isoformat()} on {cpu_model()}, {os.cpu_count()} cores, "
          f"{rustc_version()}; {how}.\n")

    # Masking.
    sizes = [16, 125, 1024, 65536, 1048576]
    names = ["scalar", "swar", "sse2", "avx2", "avx512", "neon", "dispatch", "fastwebsockets",
             "copy_from_slice", "dispatch_copy"]
    present = [n for n in names if any(get(f"mask/{s}/off{o}", n) for s in sizes for o in (0, 1))]
    rows = []
    for s in sizes:
        for o in (0, 1):
            g = f"mask/{s}/off{o}"
            d, f, c = get(g, "dispatch"), get(g, "fastwebsockets"), get(g, "copy_from_slice")
            if not d:
                continue
            cells = [f"{s:,} B +{o}"]
            cells += [f"{rate(get(g, n)) / GIB:.1f}" if get(g, n) else "–" for n in present]
            cells.append(f"{rate(d) / rate(f):.2f}×" if f else "–")
            cells.append(f"{rate(d) / rate(c):.2f}×" if c else "–")
            rows.append(cells)
            if f and s == 65536:
                check(f"mask 64 KiB +{o}: dispatch / fastwebsockets", rate(d) / rate(f), 1.4)
            if f and s == 16:
                check(f"mask 16 B +{o}: dispatch / fastwebsockets", rate(d) / rate(f), 1.2)
            if c and s in (1024, 65536):
                check(f"mask {s:,} B +{o}: dispatch / copy_from_slice", rate(d) / rate(c), 0.9)
        d0, d1 = get(f"mask/{s}/off0", "dispatch"), get(f"mask/{s}/off1", "dispatch")
        if d0 and d1:
            check(f"mask {s:,} B: dispatch at +1 / at +0", rate(d1) / rate(d0), 0.95)
    print("### Masking, GiB/s (payload size, offset from a 64-byte boundary)\n")
    print(table(["size"] + present + ["dispatch / fastwebsockets", "dispatch / copy"], rows))
    print()

    # Small-frame decode.
    contenders = ["wsbench", "wsbench-frames", "tungstenite", "tungstenite-frames", "fastwebsockets"]
    rows = []
    for s in (16, 125):
        g = f"decode/{s}B"
        if not get(g, "wsbench"):
            continue
        ours = rate(get(g, "wsbench"))
        cells = [f"{s} B"] + [f"{rate(get(g, n)) / 1e6:.1f}" if get(g, n) else "–" for n in contenders]
        t, fw = get(g, "tungstenite"), get(g, "fastwebsockets")
        cells.append(f"{ours / rate(t):.1f}×" if t else "–")
        cells.append(f"{ours / rate(fw):.1f}×" if fw else "–")
        rows.append(cells)
        if t:
            check(f"decode {s} B: wsbench / tungstenite", ours / rate(t), 3.0)
        check(f"decode {s} B: million frames/s", ours / 1e6, 40.0)
    print("### Small masked frames decoded by a server, million frames/s (1,000 frames per buffer)\n")
    print(table(["payload"] + contenders + ["vs tungstenite", "vs fastwebsockets"], rows))
    print()

    # Encode.
    contenders = ["wsbench-client", "tungstenite-client", "fastwebsockets-client",
                  "wsbench-server", "tungstenite-server", "fastwebsockets-server"]
    rows = []
    for s in (16, 125, 1024, 65536):
        g = f"encode/{s}B"
        if not get(g, "wsbench-client"):
            continue
        rows.append([f"{s:,} B"] + [f"{get(g, n)[0]:.1f}" if get(g, n) else "–" for n in contenders])
    print("### Encoding one frame into a reused buffer, ns per frame\n")
    print(table(["payload"] + contenders, rows))
    print()

    # UTF-8.
    contenders = ["wsbench-whole", "wsbench-pieces-1000", "simdutf8-whole", "std-whole"]
    rows = []
    for kind in ("ascii", "mixed"):
        for s in (1024, 65536):
            g = f"utf8/{kind}/{s}B"
            if not get(g, "wsbench-whole"):
                continue
            rows.append([f"{kind} {s:,} B"] + [f"{rate(get(g, n)) / GIB:.1f}" if get(g, n) else "–"
                                               for n in contenders])
    print("### UTF-8 validation, GiB/s\n")
    print(table(["text"] + contenders, rows))
    print()

    # Handshake.
    rows = [[n, f"{get('handshake', n)[0]:.0f}"] for n in
            ("server-parse-and-respond", "client-request-and-check", "httparse-only") if get("handshake", n)]
    print("### Opening handshake, ns per operation\n")
    print(table(["operation", "ns"], rows))
    print()

    print("### Targets\n")
    print(table(["target", "measured", "required", "verdict"],
                [[d, f"{m:.2f}", f"≥ {t}", "pass" if ok else "**FAIL**"] for d, m, t, ok in checks]))
    failed = [c for c in checks if not c[3]]
    if args.check and failed:
        print(f"\n{len(failed)} target(s) missed", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
