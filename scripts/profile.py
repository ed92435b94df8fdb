"""Where one side of a peer-compare run spends its CPU: the server or the
load generator, profiled with perf during the measured window.

    python3 scripts/profile.py SIDE SERVER WORKLOAD [--secs N]

SIDE      client (the load generator, `wsbench run`) or server
SERVER    own (`wsbench serve`) or uws (uWS push_hub, or echo_server for echo)
WORKLOAD  push-10k   WebSocket push, 10,000 subscribers x 10 msg/s
          push-1k    WebSocket push, 1,000 subscribers x 100 msg/s
          poll-1k    long-poll push, 1,000 x 100 msg/s (server: own only)
          echo       100 connections x 1 in flight (throughput workload)

Same scenarios and pinning as scripts/peer-compare.sh (server on CPU 0,
client on CPU 1). Prints the run's figures, the profiled process's CPU per
message split between the kernel and user space, the system calls' shares
(inclusive), the network receive processing the kernel ran inside them
(on loopback, a socket's send runs the peer socket's TCP receive in the
sender's context), and the top frames. Figures include perf's own cost
during the 5 s it samples. Needs target/release/wsbench, target/uws (built
by scripts/peer-compare.sh) and perf (Debian: linux-perf).
"""

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import peer_compare as pc  # noqa: E402

WORKLOADS = {
    # name: (scenario body, seconds before the window settles)
    "push-10k": (lambda s: pc.push_body("websocket", 10000, 10, s, 5), 8),
    "push-1k": (lambda s: pc.push_body("websocket", 1000, 100, s, 3), 5),
    "poll-1k": (lambda s: pc.push_body("long-poll", 1000, 100, s, 3), 5),
    "echo": (lambda s: pc.echo_body(100, 1, s), 3),
}
SAMPLE_SECS = 5


def perf_report(data, *args):
    out = subprocess.run(
        ["perf", "report", "-i", data, "--stdio", "-g", "none", *args],
        capture_output=True, text=True, check=True,
    ).stdout
    return [l for l in out.splitlines() if l.strip() and not l.startswith("#")]


def shares(lines, columns):
    """(percent, rest of line) per report line; `columns` percentages lead
    each line, the first is taken."""
    got = []
    for line in lines:
        m = re.match(r"\s*([0-9.]+)%" + r"\s+[0-9.]+%" * (columns - 1) + r"\s+(.*)$", line)
        if m:
            got.append((float(m.group(1)), m.group(2).strip()))
    return got


def per_message(summary, side):
    c = summary["counters"]
    if side == "server":
        return summary.get("server_cpu_us_per_msg")
    return summary["client_cpu_s"] * 1e6 / max(c["received"], 1)


def report(data, summary, side):
    us = per_message(summary, side)
    c = summary["counters"]
    print(f"msg/s {summary['msg_rate']:,.0f}, received {c['received']:,}, lost {c['lost']}, "
          f"harness {summary['health']['verdict']}")
    for why in summary["health"].get("reasons", []):
        print(f"  harness: {why}")
    if summary.get("requests_per_msg"):
        print(f"HTTP requests per message {summary['requests_per_msg']:.3f}")
    print(f"{side} CPU per message: " + (f"{us:.2f} µs" if us else "not measured"))
    dso = shares(perf_report(data, "--no-children", "--sort", "dso"), 1)
    kernel = sum(p for p, name in dso if name.startswith("[kernel"))
    split = f"kernel {kernel:.1f} %, user space and libraries {100 - kernel:.1f} %"
    if us:
        split += f" (about {us * kernel / 100:.2f} and {us * (100 - kernel) / 100:.2f} µs)"
    print(split)
    print("\ninclusive share of the samples:")
    inclusive = shares(perf_report(data, "--children", "--sort", "sym"), 2)
    for p, name in inclusive:
        if re.search(r"\] (__x64_sys_\w+|vfs_writev|tcp_sendmsg|tcp_recvmsg|net_rx_action|tcp_ack|__tcp_transmit_skb)$", name) \
                and p >= 0.5:
            print(f"  {p:5.1f} %  {name}")
    frames = shares(perf_report(data, "--no-children", "--sort", "sym"), 1)
    print("\ntop frames (self):")
    for p, name in frames[:20]:
        print(f"  {p:5.1f} %  {name}")
    print("\ntop user-space frames (self):")
    for p, name in [f for f in frames if f[1].startswith("[.]")][:15]:
        print(f"  {p:5.1f} %  {name}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("side", choices=["client", "server"])
    ap.add_argument("server", choices=["own", "uws"])
    ap.add_argument("workload", choices=list(WORKLOADS))
    ap.add_argument("--secs", type=int, default=14, help="measured window (default 14)")
    ap.add_argument("--uws", default="target/uws")
    a = ap.parse_args()
    if not shutil.which("perf"):
        print("profile: SKIPPED: perf not found (apt-get install linux-perf)", file=sys.stderr)
        return 0
    if a.server == "uws" and a.workload == "poll-1k":
        ap.error("uWS push_hub serves WebSocket only")
    kind = a.server if a.server == "own" else ("uws-echo" if a.workload == "echo" else "uws-hub")
    body, settle = WORKLOADS[a.workload]
    if a.secs < SAMPLE_SECS + 2:
        ap.error(f"--secs must be at least {SAMPLE_SECS + 2}")
    with tempfile.TemporaryDirectory() as tmp, pc.servers(a.uws, [kind])[0][1]() as server:
        client, results = pc.start_scenario(tmp, server.port, server.proc.pid, body(a.secs))
        time.sleep(settle)
        pid = client.pid if a.side == "client" else server.proc.pid
        data = f"{tmp}/perf.data"
        subprocess.run(["perf", "record", "-F", "2000", "-g", "-p", str(pid), "-o", data,
                        "--", "sleep", str(SAMPLE_SECS)],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        summary = pc.finish_scenario(client, results)
        print(f"# {a.side} profile: {server.name}, {a.workload}, {a.secs} s window, "
              f"perf {SAMPLE_SECS} s at 2,000 Hz")
        report(data, summary, a.side)
    return 0


if __name__ == "__main__":
    sys.exit(main())
