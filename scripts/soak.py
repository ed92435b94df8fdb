#!/usr/bin/env python3
"""A soak: push subscribers held on the builtin server at a steady rate,
with the resident memory of every wsbench process sampled every 10 s.

    python3 scripts/soak.py WSBENCH [--minutes 10] [--subscribers 20000] [--rate 10]

Reports, per minute: server and load-generator RSS, messages lost (from the
delivery ledger), and the exact p99 of push latency (the minute's interval
histograms merged; needs the `hdrh` package). Then the RSS slope after the
first minute (% of the mean per minute), the totals of lost and duplicated
messages, and the verdict against the targets in docs/reliability.md.
"""

import argparse
import glob
import json
import os
import subprocess
import sys
import tempfile
import threading
import time

SCENARIO = """schema_version = 1
name = "soak"
description = "soak: {n} push subscribers, {rate} msg/s, {minutes} minutes"

[target]
builtin = true

[load]
transports = ["websocket"]
connections = {n}
ramp_rate = 2000
duration = "{minutes}m"
warmup = "0s"
source_addresses = 4

[workload]
kind = "push"
rate = {rate}
payload_size = 64
"""


def rss_by_role():
    """Summed RSS (bytes) of wsbench server and load-generator processes."""
    server = load = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
            if not argv or not argv[0].endswith(b"wsbench"):
                continue
            with open(f"/proc/{pid}/status") as f:
                rss = next(int(l.split()[1]) * 1024 for l in f if l.startswith("VmRSS:"))
        except (OSError, StopIteration):
            continue
        if b"serve" in argv[1:3]:
            server += rss
        else:
            load += rss
    return server, load


def slope_pct_per_min(samples):
    """Least-squares slope of (t_s, bytes) as % of the mean per minute."""
    if len(samples) < 3:
        return float("nan")
    n = len(samples)
    mt = sum(t for t, _ in samples) / n
    mv = sum(v for _, v in samples) / n
    num = sum((t - mt) * (v - mv) for t, v in samples)
    den = sum((t - mt) ** 2 for t, _ in samples)
    return num / den * 60 / mv * 100 if den and mv else float("nan")


def per_minute_p99(hlog, minutes):
    try:
        from hdrh.histogram import HdrHistogram
        from hdrh.log import HistogramLogReader
    except ImportError:
        return None
    out = []
    reader = HistogramLogReader(hlog, HdrHistogram(1, 3600 * 10**9, 3))
    per = [HdrHistogram(1, 3600 * 10**9, 3) for _ in range(minutes + 1)]
    start = None
    while True:
        h = reader.get_next_interval_histogram()
        if h is None:
            break
        if start is None:
            start = h.get_start_time_stamp()
        m = int((h.get_start_time_stamp() - start) / 60000)
        per[min(m, minutes)].add(h)
    for h in per[:minutes]:
        out.append(h.get_value_at_percentile(99) / 1e6 if h.get_total_count() else None)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("wsbench")
    ap.add_argument("--minutes", type=int, default=10)
    ap.add_argument("--subscribers", type=int, default=20000)
    ap.add_argument("--rate", type=int, default=10)
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="wsbench-soak-")
    scenario = os.path.join(tmp, "soak.toml")
    with open(scenario, "w") as f:
        f.write(SCENARIO.format(n=a.subscribers, rate=a.rate, minutes=a.minutes))
    run = subprocess.Popen(
        [a.wsbench, "run", scenario, "--results", tmp, "--quiet"],
        stdout=subprocess.PIPE,
        text=True,
    )
    samples, t0 = [], time.monotonic()
    done = threading.Event()

    def sample():
        while not done.wait(10):
            samples.append((time.monotonic() - t0, *rss_by_role()))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    output = run.communicate()[0]
    done.set()
    print(output)
    summaries = glob.glob(os.path.join(tmp, "*-soak", "summary.json"))
    if run.returncode not in (0, 3) or not summaries:
        sys.exit(f"the run failed (exit {run.returncode}); results in {tmp}")
    folder = os.path.dirname(summaries[0])
    phase = json.load(open(summaries[0]))["phases"][0]
    c = phase["counters"]
    # The phase starts once every subscriber is connected; sample times
    # count from the start of the run, which includes the ramp.
    ramp_s = a.subscribers / 2000 + 5
    print(f"results: {folder}")
    print(f"{'minute':>6} {'server RSS MiB':>15} {'load gen RSS MiB':>17} {'lost':>6} {'p99 ms':>8}")
    ledger = json.load(open(os.path.join(folder, "websocket-ledger.json")))
    lost_per_min = [0] * a.minutes
    j = 0
    for count, owed, got in ledger["runs"]:
        for k in range(count):
            m = min(int((j + k) / a.rate / 60), a.minutes - 1)
            lost_per_min[m] += owed - got
        j += count
    p99s = per_minute_p99(os.path.join(folder, "websocket-timeline.hlog"), a.minutes)
    for m in range(a.minutes):
        in_min = [s for s in samples if ramp_s + 60 * m <= s[0] < ramp_s + 60 * (m + 1)]
        srv = max((s[1] for s in in_min), default=0) / 2**20
        gen = max((s[2] for s in in_min), default=0) / 2**20
        p99 = "n/a" if p99s is None or p99s[m] is None else f"{p99s[m]:.2f}"
        print(f"{m + 1:>6} {srv:>15.1f} {gen:>17.1f} {lost_per_min[m]:>6} {p99:>8}")
    after = [s for s in samples if s[0] >= ramp_s + 60]
    server_slope = slope_pct_per_min([(t, s) for t, s, _ in after])
    load_slope = slope_pct_per_min([(t, g) for t, _, g in after])
    lost = c.get("lost", 0)
    dup = c.get("duplicated", 0)
    print(f"RSS slope after the first minute: server {server_slope:+.3f} %/min, load generator {load_slope:+.3f} %/min")
    print(f"delivered {c.get('delivered', '?')}, lost {lost}, duplicated {dup}; push_latency p99 {phase['latency']['push_latency']['p99'] / 1e6:.2f} ms")
    ok = abs(server_slope) < 1 and abs(load_slope) < 1 and lost == 0 and dup == 0
    if p99s and p99s[0]:
        worst = max(p for p in p99s if p is not None)
        print(f"p99 per minute: first {p99s[0]:.2f} ms, worst {worst:.2f} ms ({worst / p99s[0]:.2f}x)")
        ok = ok and worst <= 2 * p99s[0]
    print("soak targets met" if ok else "soak targets NOT met")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
