#!/usr/bin/env python3
"""Runs one scenario with two wsbench builds in turn (A, B, A, B, ...) and
prints each run's main figures and the medians side by side, so a change
can be judged against the run-to-run noise of the same machine:

    scripts/ab-scenario.py --a /path/to/old/wsbench --b target/release/wsbench \\
        --runs 3 scenarios/throughput-small-frames.toml

Each build runs its own builtin target (the scenario's), so a change to
the server shows too. Results go to a temporary folder, removed at the
end. Prints a Markdown table.
"""

import argparse
import json
import statistics
import subprocess
import sys
import tempfile


def run(binary, scenario, root):
    out = subprocess.run(
        [binary, "run", scenario, "--results", root, "--quiet", "--no-calibrate"],
        capture_output=True,
        text=True,
    )
    folder = next(
        (l[len("results: "):] for l in out.stdout.splitlines() if l.startswith("results: ")),
        None,
    )
    if folder is None:
        sys.exit(f"{binary}: no results (exit {out.returncode})\n{out.stdout}\n{out.stderr}")
    with open(f"{folder}/summary.json") as f:
        return json.load(f)


MAIN = {"push": "push_latency", "echo": "echo_rtt", "throughput": "throughput_rtt",
        "connect": "handshake_time"}


def figures(summary):
    """(phase, figure) -> value for every phase of a run."""
    out = {}
    for p in summary["phases"]:
        t = p["transport"]
        lat = p["latency"].get(MAIN.get(p["workload"], ""), {})
        out[(t, "msg/s")] = p["msg_rate"]
        for stat in ("p50", "p99"):
            if lat.get("count"):
                out[(t, f"{stat} ms")] = lat[stat] / 1e6
        out[(t, "lost")] = p["counters"].get("lost", 0)
        if p.get("server_cpu_us_per_msg") is not None:
            out[(t, "server µs/msg")] = p["server_cpu_us_per_msg"]
        h = p.get("health") or {}
        if h.get("harness_lag_p99_ns") is not None:
            out[(t, "harness lag p99 ms")] = h["harness_lag_p99_ns"] / 1e6
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--a", required=True, help="the first wsbench binary (e.g. before)")
    ap.add_argument("--b", required=True, help="the second wsbench binary (e.g. after)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("scenario")
    args = ap.parse_args()
    runs = {"A": [], "B": []}
    with tempfile.TemporaryDirectory() as root:
        for _ in range(args.runs):
            for side, binary in (("A", args.a), ("B", args.b)):
                runs[side].append(figures(run(binary, args.scenario, root)))
    keys = sorted({k for side in runs.values() for r in side for k in r})
    print(f"{args.scenario}: A = {args.a}, B = {args.b}, {args.runs} runs each, interleaved\n")
    print("| phase | figure | A runs | B runs | A median | B median | B / A |")
    print("|---|---|---|---|---:|---:|---:|")
    for k in keys:
        a = [r[k] for r in runs["A"] if k in r]
        b = [r[k] for r in runs["B"] if k in r]
        if not a or not b:
            continue
        ma, mb = statistics.median(a), statistics.median(b)
        ratio = f"{mb / ma:.3f}" if ma else "-"
        fmt = lambda xs: ", ".join(f"{x:.3g}" for x in xs)
        print(f"| {k[0]} | {k[1]} | {fmt(a)} | {fmt(b)} | {ma:.4g} | {mb:.4g} | {ratio} |")


if __name__ == "__main__":
    main()
