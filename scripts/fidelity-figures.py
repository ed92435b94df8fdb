#!/usr/bin/env python3
"""Reproduces, with any wsbench build, the figures a skeptical engineer
checks first: what the load generator reports when the target loses
messages, when the server freezes, when the load generator itself
freezes, when a threshold cannot be checked, and when two result sets of
one configuration are compared. Run it against two builds to compare
them (e.g. before and after a change to the measurements):

    scripts/fidelity-figures.py                        # target/release/wsbench
    scripts/fidelity-figures.py --wsbench /path/to/old/wsbench

The target is always `wsbench serve` of --serve (default: this checkout's
release build, which has the fault flags --stop-delivering-after and
--echo-delay-ms). Everything runs on 127.0.0.1 and stops by itself
(about 2 minutes). Prints one Markdown table per check.
"""

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time


def serve(binary, *args):
    p = subprocess.Popen(
        [binary, "serve", "--listen", "127.0.0.1:0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    line = p.stdout.readline().strip()
    if not line.startswith("listening on "):
        sys.exit(f"unexpected first line from serve: {line!r}")
    return p, line[len("listening on "):]


def stop(p):
    p.send_signal(signal.SIGCONT)
    p.kill()
    p.wait()


def scenario(path, name, addr, body, thresholds=()):
    t = ", ".join(json.dumps(x) for x in thresholds)
    with open(path, "w") as f:
        f.write(
            f'schema_version = 1\nname = "{name}"\nthresholds = [{t}]\n'
            f'[target]\nurl = "ws://{addr}"\n{body}'
        )
    return path


class Harness:
    def __init__(self, binary, work):
        self.binary = binary
        self.work = work
        helptext = subprocess.run(
            [binary, "run", "--help"], capture_output=True, text=True
        ).stdout
        self.extra = ["--no-calibrate"] if "--no-calibrate" in helptext else []

    def start(self, file, results):
        return subprocess.Popen(
            [self.binary, "run", file, "--quiet", "--results", results, *self.extra],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def run(self, file, results):
        p = self.start(file, results)
        out, err = p.communicate()
        return p.returncode, out, err


def newest(root):
    runs = sorted(
        os.path.join(root, d)
        for d in os.listdir(root)
        if os.path.exists(os.path.join(root, d, "summary.json"))
    )
    with open(os.path.join(runs[-1], "summary.json")) as f:
        return runs[-1], json.load(f)


def ms(ns):
    return "-" if ns is None else f"{ns / 1e6:.2f} ms"


def lat(phase, name, stat):
    s = phase.get("latency", {}).get(name)
    return s[stat] if s and s.get("count") else None


def table(title, rows):
    print(f"\n### {title}\n")
    print("| figure | value |\n|---|---|")
    for k, v in rows:
        print(f"| {k} | {v} |")


def threshold_lines(out):
    return "; ".join(l for l in out.splitlines() if l.startswith("threshold "))


def loss(h, target_bin, work):
    """A target that accepts every publish and stops delivering after
    about 150 of the window's 300 messages."""
    srv, addr = serve(target_bin, "--stop-delivering-after", "210")
    try:
        f = scenario(
            f"{work}/loss.toml",
            "loss",
            addr,
            '[load]\ntransports = ["websocket"]\nconnections = 10\nduration = "6s"\n'
            'warmup = "1s"\n[workload]\nkind = "push"\nrate = 50\n',
            ["lost == 0", "delivered_ratio >= 1.0"],
        )
        rc, out, _ = h.run(f, f"{work}/loss")
        _, s = newest(f"{work}/loss")
        c = s["phases"][0]["counters"]
        table(
            "1. A target that stops delivering after about 150 of 300 messages "
            "(`wsbench serve --stop-delivering-after 210`, 10 subscribers, 50 msg/s, 6 s)",
            [
                ("published", c["published"]),
                ("owed", c["owed"]),
                ("delivered", c["delivered"]),
                ("lost", c["lost"]),
                ("delivered_ratio", f'{s["phases"][0]["delivered_ratio"]:.4f}'),
                ("thresholds", threshold_lines(out)),
                ("exit code", rc),
            ],
        )
    finally:
        stop(srv)


def server_freeze(h, target_bin, work):
    """The server frozen (SIGSTOP) for 1 s in the middle of the window."""
    srv, addr = serve(target_bin)
    try:
        f = scenario(
            f"{work}/freeze.toml",
            "freeze",
            addr,
            '[load]\ntransports = ["websocket"]\nconnections = 10\nduration = "4s"\n'
            'warmup = "500ms"\n[workload]\nkind = "push"\nrate = 500\n',
        )
        p = h.start(f, f"{work}/freeze")
        time.sleep(2.0)
        srv.send_signal(signal.SIGSTOP)
        time.sleep(1.0)
        srv.send_signal(signal.SIGCONT)
        p.communicate()
        _, s = newest(f"{work}/freeze")
        ph = s["phases"][0]
        c = ph["counters"]
        table(
            "2. The server frozen for 1 s (SIGSTOP) mid-window "
            "(10 subscribers, 500 msg/s, 4 s, websocket)",
            [
                ("push_latency p50", ms(lat(ph, "push_latency", "p50"))),
                ("push_latency p99", ms(lat(ph, "push_latency", "p99"))),
                ("push_latency max", ms(lat(ph, "push_latency", "max"))),
                ("push_latency_uncorrected p99", ms(lat(ph, "push_latency_uncorrected", "p99"))),
                ("publish_lag p99", ms(lat(ph, "publish_lag", "p99"))),
                ("delivered / published", f'{c["delivered"]} / {c["published"]}'),
            ],
        )
    finally:
        stop(srv)


def harness_freeze(h, target_bin, work):
    """The load generator frozen (SIGSTOP) for 300 ms against a healthy
    server; the same run unfrozen beside it."""
    srv, addr = serve(target_bin, "--echo-delay-ms", "20")
    try:
        f = scenario(
            f"{work}/hfreeze.toml",
            "hfreeze",
            addr,
            '[load]\ntransports = ["websocket"]\nconnections = 4\nduration = "3s"\n'
            'warmup = "300ms"\n[workload]\nkind = "echo"\nrate = 20\n',
        )
        rows = []
        for frozen in (False, True):
            root = f"{work}/hfreeze-{frozen}"
            p = h.start(f, root)
            time.sleep(1.8)
            if frozen:
                p.send_signal(signal.SIGSTOP)
                time.sleep(0.3)
                p.send_signal(signal.SIGCONT)
            p.communicate()
            _, s = newest(root)
            ph = s["phases"][0]
            health = ph.get("health") or {}
            what = "frozen 300 ms" if frozen else "not frozen"
            rows.append((f"{what}: echo_rtt p99", ms(lat(ph, "echo_rtt", "p99"))))
            rows.append(
                (
                    f"{what}: harness verdict",
                    health.get("verdict", "(none reported)")
                    + ("; " + "; ".join(health.get("reasons", [])) if health.get("reasons") else ""),
                )
            )
        table(
            "3. The load generator frozen for 300 ms (SIGSTOP) against a server "
            "that answers every echo in 20 ms (4 connections, 20 msg/s each, 3 s)",
            rows,
        )
    finally:
        stop(srv)


def gate(h, target_bin, work):
    """Thresholds that cannot be checked, and how verdicts print."""
    srv, addr = serve(target_bin)
    try:
        body = (
            '[load]\ntransports = ["websocket"]\nconnections = 5\nduration = "2s"\n'
            '[workload]\nkind = "push"\nrate = 20\n'
        )
        rows = []
        for t in ["sse.push_latency.p99 < 1us", "push_latency.p95 < 50ms", "push_latency.p99 < 50ms"]:
            f = scenario(f"{work}/gate.toml", "gate", addr, body, [t])
            start = time.time()
            rc, out, err = h.run(f, f"{work}/gate")
            said = "; ".join(l.strip() for l in (out + err).splitlines() if "threshold" in l)
            rows.append((f"`{t}`", f"exit {rc} after {time.time() - start:.1f} s: {said}"))
        table("4. Thresholds on a websocket-only push run", rows)
    finally:
        stop(srv)


def noise(h, target_bin, work):
    """Two sets of three runs of one configuration, compared."""
    srv, addr = serve(target_bin)
    try:
        f = scenario(
            f"{work}/noise.toml",
            "noise",
            addr,
            '[load]\ntransports = ["websocket"]\nconnections = 4\nduration = "2s"\n'
            'warmup = "300ms"\n[workload]\nkind = "echo"\nrate = 100\n',
        )
        # Interleaved, so a disturbance of the machine does not fall on
        # one side only.
        for _ in range(3):
            for side in ("a", "b"):
                h.run(f, f"{work}/noise-{side}")
        out = subprocess.run(
            [h.binary, "compare", f"{work}/noise-a", f"{work}/noise-b"],
            capture_output=True,
            text=True,
        )
        verdicts = [
            l
            for l in out.stdout.splitlines()
            if re.search(r"(p50|p99)\b", l) and not l.startswith("rule")
        ]
        table(
            "5. `wsbench compare` of two sets of 3 runs of one configuration "
            "(echo, 4 connections × 100 msg/s, 2 s; default limits)",
            [("exit code", out.returncode)]
            + [(f"row {i + 1}", " ".join(v.split())) for i, v in enumerate(verdicts)]
            + [("last line", (out.stdout.strip().splitlines() or [""])[-1])],
        )
    finally:
        stop(srv)


def main():
    a = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    a.add_argument("--wsbench", default="target/release/wsbench")
    a.add_argument("--serve", default="target/release/wsbench")
    a.add_argument(
        "--checks",
        default="loss,server_freeze,harness_freeze,gate,noise",
        help="which checks, comma-separated (default: all)",
    )
    args = a.parse_args()
    h = Harness(os.path.abspath(args.wsbench), None)
    print(f"load generator: {args.wsbench}; target: {args.serve} serve")
    with tempfile.TemporaryDirectory(prefix="wsbench-figures-") as work:
        known = {f.__name__: f for f in (loss, server_freeze, harness_freeze, gate, noise)}
        for name in args.checks.split(","):
            if name not in known:
                sys.exit(f"unknown check {name!r}; known: {', '.join(known)}")
            known[name](h, os.path.abspath(args.serve), work)


if __name__ == "__main__":
    main()
