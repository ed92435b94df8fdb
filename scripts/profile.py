"""Where one side of a peer-compare run spends its CPU: the server or the
load generator, profiled with perf during the measured window.

    python3 scripts/profile.py SIDE SERVER WORKLOAD [--secs N] [--push-floor [--floor-variant V]...] [--echo-floor] [--spin NS | --codec]
    python3 scripts/profile.py client SERVER WORKLOAD --vs-floor [ROWS]
    python3 scripts/profile.py server own echo|echo-lt --vs-floor [ROWS]

SIDE      client (the load generator, `wsbench run`) or server
SERVER    own (`wsbench serve`), uws (uWS push_hub, or echo_server for echo)
          or floor (benches/examples/tokio_floor.rs, echo only: the least a
          tokio server does per echo; build it first, as scripts/peer-compare.sh does;
          --spin NS makes it busy-wait NS ns of user space per echo;
          --codec has the codec's connection do its WebSocket work)
WORKLOAD  push-10k   WebSocket push, 10,000 subscribers x 10 msg/s
          push-1k    WebSocket push, 1,000 subscribers x 100 msg/s
          poll-1k    long-poll push, 1,000 x 100 msg/s (server: own only)
          poll-100   long-poll push, 100 x 1,000 msg/s: the same messages per
                     second with a tenth of the pollers' state (own only)
          echo       100 connections x 1 in flight (throughput workload)
          echo-lt    the same driven by uWS load_test instead of wsbench run

--push-floor drives a push workload with the push floor
(benches/examples/push_floor.rs, every message timed) instead of
`wsbench run` (against `wsbench serve` or uWS push_hub): the least a
tokio subscriber does per message. With
--floor-variant epoll (WebSocket workloads) the floor runs without tokio,
on one epoll set; with --floor-variant delayed-ack its sockets acknowledge
every second small segment (push_floor.rs --epoll, --delayed-ack).
--echo-floor drives echo with the tokio floor's client
(benches/examples/tokio_floor.rs client, every round trip timed): the
least a tokio load generator does per echo.
--vs-floor runs the load generator, then that floor client in its place
(each against a server started for it), and prints, next to both runs'
figures, the CPU per message each spends in the kernel and in user space,
the user space summed by layer (LAYERS below: the transport, the codec,
the loop, allocation, tokio's I/O and tasks, ...) and the ROWS frames
(default 25) whose self time per message differs most:
where `wsbench run` spends more than the least a tokio client does. With
`server own echo` (or `echo-lt`), `wsbench serve` and then the tokio
floor's server, each driven by `wsbench run` (or uWS load_test): where
the echo server spends more than the least a tokio server does.

Same scenarios and pinning as scripts/peer-compare.sh (server on CPU 0,
client on CPU 1). Prints the run's figures, the profiled process's CPU per
message split between the kernel and user space, its system calls per
message (sendto, recvfrom, write, writev, read, epoll_wait, epoll_pwait:
perf stat's counts of their tracepoints over the recording), its context
switches and the TCP segments both sides sent per message (the machine's
OutSegs, /proc/net/snmp: loopback carries only this run), the system
calls' shares (inclusive), the network receive processing the kernel ran
inside them (on loopback, a socket's send runs the peer socket's TCP
receive in the sender's context), and the top frames. Figures include
perf's own cost during the 5 s it samples. Needs target/release/wsbench,
target/uws (built by scripts/peer-compare.sh) and perf (Debian:
linux-perf).
"""

import argparse
import os
import re
import statistics
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
    "poll-100": (lambda s: pc.push_body("long-poll", 100, 1000, s, 3), 5),
    "echo": (lambda s: pc.echo_body(100, 1, s), 3),
    "echo-lt": (None, 3),
}
SAMPLE_SECS = 5
# The system calls counted per message: a message's socket calls and the
# event loop's waits.
SYSCALLS = ("sendto", "recvfrom", "write", "writev", "read", "epoll_wait", "epoll_pwait")
# Also counted per message: the profiled process's context switches (a
# software event perf counts without a PMU), and the TCP segments both
# sides sent (/proc/net/snmp).
SWITCHES = "context-switches"
SEGMENTS = "TCP segments, both sides"
# The push floor's arguments per push workload: transport, subscribers, rate.
FLOOR_ARGS = {
    "push-10k": ("websocket", 10000, 10),
    "push-1k": ("websocket", 1000, 100),
    "poll-1k": ("long-poll", 1000, 100),
    "poll-100": ("long-poll", 100, 1000),
}


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


def run_figures(summary, side):
    """The run's figures from `wsbench run`'s summary: lines to print,
    the profiled side's CPU µs per message and the messages per second."""
    c = summary["counters"]
    lines = [f"msg/s {summary['msg_rate']:,.0f}, received {c['received']:,}, lost {c['lost']}, "
             f"harness {summary['health']['verdict']}"]
    lines += [f"  harness: {why}" for why in summary["health"].get("reasons", [])]
    if summary.get("requests_per_msg"):
        lines.append(f"HTTP requests per message {summary['requests_per_msg']:.3f}")
    if side == "server":
        us = summary.get("server_cpu_us_per_msg")
    else:
        us = summary["client_cpu_s"] * 1e6 / max(c["received"], 1)
    return lines, us, summary["msg_rate"]


def cpu_secs(pid):
    """User + system CPU seconds of process `pid` so far (/proc)."""
    with open(f"/proc/{pid}/stat") as f:
        rest = f.read().rsplit(")", 1)[1].split()
    return (int(rest[11]) + int(rest[12])) / os.sysconf("SC_CLK_TCK")


def report(data, run, side, user_frames=15, frames=True):
    """Prints the run's figures (`run`: lines, CPU µs per message,
    messages per second, system calls per second) and, with `frames`, the
    recording's shares."""
    lines, us, rate, calls = run
    for line in lines:
        print(line)
    print(f"{side} CPU per message: " + (f"{us:.2f} µs" if us else "not measured"))
    other = {k: calls.pop(k) for k in (SWITCHES, SEGMENTS) if k in calls}
    if other and rate:
        print("per message: " + ", ".join(f"{k} {n / rate:.3f}" for k, n in other.items()))
    if calls and rate:
        print("system calls per message: "
              + ", ".join(f"{c} {n / rate:.2f}" for c, n in calls.items() if n))
    else:
        print("system calls per message: not counted (perf stat cannot count "
              "the syscalls tracepoints here)")
    dso = shares(perf_report(data, "--no-children", "--sort", "dso"), 1)
    kernel = sum(p for p, name in dso if name.startswith("[kernel"))
    split = f"kernel {kernel:.1f} %, user space and libraries {100 - kernel:.1f} %"
    if us:
        split += f" (about {us * kernel / 100:.2f} and {us * (100 - kernel) / 100:.2f} µs)"
    print(split)
    if not frames:
        return
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
    for p, name in [f for f in frames if f[1].startswith("[.]")][:user_frames]:
        print(f"  {p:5.1f} %  {name}")


def record(pid, data):
    """perf's samples of process `pid` over SAMPLE_SECS into `data`, and
    the system calls of SYSCALLS it made meanwhile, per second (perf
    stat's counts of their tracepoints; empty when they cannot be
    counted)."""
    events = ",".join([f"syscalls:sys_enter_{c}" for c in SYSCALLS] + [SWITCHES])
    segs = tcp_out_segments()
    stat = subprocess.Popen(["perf", "stat", "-x", ",", "-e", events, "-p", str(pid),
                             "--", "sleep", str(SAMPLE_SECS)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    subprocess.run(["perf", "record", "-F", "2000", "-g", "-p", str(pid), "-o", data,
                    "--", "sleep", str(SAMPLE_SECS)],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    calls = {}
    for line in stat.communicate()[1].splitlines():
        f = line.split(",")
        if len(f) > 2 and f[0].isdigit() and f[2].startswith("syscalls:sys_enter_"):
            calls[f[2].removeprefix("syscalls:sys_enter_")] = int(f[0]) / SAMPLE_SECS
        elif len(f) > 2 and f[0].isdigit() and f[2] == SWITCHES:
            calls[SWITCHES] = int(f[0]) / SAMPLE_SECS
    # Over the time perf stat and perf record took, both SAMPLE_SECS long.
    calls[SEGMENTS] = (tcp_out_segments() - segs) / SAMPLE_SECS
    return calls


def tcp_out_segments():
    """TCP segments sent so far by every socket of the machine (its
    OutSegs, /proc/net/snmp): on loopback, the segments of both sides."""
    with open("/proc/net/snmp") as f:
        tcp = [l.split()[1:] for l in f if l.startswith("Tcp:")]
    return int(dict(zip(tcp[0], tcp[1]))["OutSegs"])


def load_test_run(a, server, settle, data):
    """uWS load_test (100 connections, 1 in flight) pinned to the client's
    CPU against `server`, the chosen side recorded; its figures: the median
    of load_test's 4-second rates, the side's CPU over the recording and
    its system calls per second."""
    lt = subprocess.Popen(
        ["taskset", "-c", pc.CLIENT_CPU, "stdbuf", "-oL", f"{a.uws}/load_test",
         "100", "127.0.0.1", str(server.port), "0", "0", "20"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    time.sleep(settle)
    pid = lt.pid if a.side == "client" else server.proc.pid
    c0, t0 = cpu_secs(pid), time.monotonic()
    calls = record(pid, data)
    cpu, secs = cpu_secs(pid) - c0, time.monotonic() - t0
    time.sleep(max(0, a.secs - settle - secs))
    lt.kill()
    rates = [float(r) for r in re.findall(r"Msg/sec: ([0-9.]+)", lt.communicate()[0])]
    if not rates:
        raise RuntimeError("load_test printed no rate")
    rate = statistics.median(rates[1:] or rates)
    return [f"msg/s {rate:,.0f} (load_test, median of {len(rates)} windows)"], \
        cpu * 1e6 / (rate * secs), rate, calls


def floor_run(a, server, settle, data, argv, keys):
    """A floor client (`argv`, pinned to the client's CPU) against
    `server`, the chosen side recorded once `settle` and one more second
    have passed (its connections open, its warm-up); the figures it
    printed (`keys`, each on a line of its own), the side's CPU seconds
    and wall seconds over the recording, and its system calls per second."""
    floor = subprocess.Popen(["taskset", "-c", pc.CLIENT_CPU, *argv],
                             stdout=subprocess.PIPE, text=True)
    time.sleep(settle + 1)
    pid = floor.pid if a.side == "client" else server.proc.pid
    c0, t0 = cpu_secs(pid), time.monotonic()
    calls = record(pid, data)
    cpu, secs = cpu_secs(pid) - c0, time.monotonic() - t0
    out = floor.communicate(timeout=a.secs + 60)[0]
    pattern = "^(" + "|".join(re.escape(k) for k in keys) + ") ([0-9.]+)$"
    got = dict(re.findall(pattern, out, re.M))
    if len(got) != len(keys):
        raise RuntimeError(f"{argv[0]} printed no figures: {out!r}")
    return got, cpu, secs, calls


def push_floor_run(a, server, settle, data):
    """The push floor against `server`: its figures, and the side's CPU
    per message over the recording (the floor's rate over its window)."""
    transport, conns, rate = FLOOR_ARGS[a.workload]
    argv = [pc.PUSH_FLOOR, transport, str(server.port), str(conns), str(rate), str(a.secs),
            "--timed"] + [f"--{v}" for v in a.floor_variant]
    got, cpu, secs, calls = floor_run(a, server, settle, data, argv,
                                      ["msg/s", "p50 ms", "p99 ms", "client us/msg"])
    msgs = float(got["msg/s"])
    return [f"msg/s {msgs:,.0f}, p50 {got['p50 ms']} ms, p99 {got['p99 ms']} ms "
            f"(push floor; its own CPU per message {got['client us/msg']} µs)"], \
        cpu * 1e6 / (msgs * secs), msgs, calls


def echo_floor_run(a, server, settle, data):
    """The tokio floor's client (100 connections, 1 in flight, every round
    trip timed) against `server`: its figures, and the side's CPU per echo
    over the recording (the floor's rate over its window)."""
    argv = [pc.FLOOR, "client", str(server.port), "100", str(a.secs), "--timed"]
    got, cpu, secs, calls = floor_run(a, server, settle, data, argv,
                                      ["msg/s", "p50 us", "p99 us"])
    rate = float(got["msg/s"])
    return [f"msg/s {rate:,.0f}, round trip p50 {got['p50 us']} µs, p99 {got['p99 us']} µs "
            "(tokio floor client, every round trip timed)"], cpu * 1e6 / (rate * secs), rate, calls


def side_run(a, start, body, settle, tmp, floor, n=0):
    """One recorded run against a server from `start`: `floor` names the
    floor client that drives it ("push" or "echo"), else `wsbench run`
    (or load_test for echo-lt) does; `n` numbers the run's files. Returns
    the server's name, the recording's path and the run's figures (as
    `report` takes them)."""
    data = f"{tmp}/perf-{n}.data"
    with start() as server:
        if body is None:
            run = load_test_run(a, server, settle, data)
        elif floor == "push":
            run = push_floor_run(a, server, settle, data)
        elif floor == "echo":
            run = echo_floor_run(a, server, settle, data)
        else:
            client, results = pc.start_scenario(tmp, server.port, server.proc.pid, body(a.secs))
            time.sleep(settle)
            calls = record(client.pid if a.side == "client" else server.proc.pid, data)
            run = (*run_figures(pc.finish_scenario(client, results), a.side), calls)
        return server.name, data, run


# The user-space layers --vs-floor sums frames into, by their names (the
# first layer with a matching part wins; frames of none are "other").
# "UnixStream": the linker folds mio's socket read and write into the
# same code as std's UnixStream's, and perf names them by the latter.
LAYERS = [
    ("wsbench transport", ("wsbench_transport", "futures_util::lock")),
    ("wsbench codec", ("wsbench_codec", "simdutf8", "core::str::converts::from_utf8")),
    ("clock reads", ("clock_gettime", "monotonic_ns", "Instant")),
    ("the loop: server, load generator or floor, and their async blocks",
     ("wsbench_server", "wsbench_load", "wsbench_protocol", "hdrhistogram", "tokio_floor",
      "push_floor", "Either<", "Pin<P>", "PollFn", "futures_util")),
    ("allocation and memory copies", ("_rjem", "malloc", "free", "memmove", "memset",
                                      "memcpy", "raw_vec", "__rust_alloc", "__rust_dealloc")),
    ("libc system call stubs", ("__send", "__libc_recv", "__libc_send", "__recv", "epoll_wait",
                                "__writev", "__libc_write", "__libc_read")),
    ("tokio I/O", ("tokio::net", "tokio::io", "tokio::runtime::io", "mio::", "UnixStream",
                   "PollEvented")),
    ("tokio tasks and runtime", ("tokio::",)),
]


def layer_of(frame):
    """The layer of LAYERS a user-space frame's name belongs to."""
    return next((name for name, parts in LAYERS if any(p in frame for p in parts)), "other")


def by_layer(ns):
    """{layer: ns per message} of the user-space frames of `ns`."""
    got = {}
    for frame, v in ns.items():
        if frame.startswith("[.]"):
            layer = layer_of(frame)
            got[layer] = got.get(layer, 0) + v
    return got


def per_message(data, us):
    """The recording's frames by self time, as ns per message of a side
    that took `us` µs of CPU per message: {frame: ns}."""
    frames = shares(perf_report(data, "--no-children", "--sort", "sym"), 1)
    return {name: p * us * 10 for p, name in frames}


def against_floor(ours, floor, rows, names):
    """Prints where the profiled side of `ours` spends more per message
    than that of `floor` (`names`: the two, as printed): the kernel and
    user-space totals, then the `rows` frames with the largest distance
    (ns per message, both recordings' self time)."""
    (_, data_o, run_o), (_, data_f, run_f) = ours, floor
    if not (run_o[1] and run_f[1]):
        print("\nno CPU per message for one side: no comparison")
        return
    o, f = per_message(data_o, run_o[1]), per_message(data_f, run_f[1])
    kernel = [sum(v for k, v in d.items() if k.startswith("[k]")) for d in (o, f)]
    total = [run_o[1] * 1000, run_f[1] * 1000]
    print(f"\nper message, {names[0]} against {names[1]} (ns): "
          f"total {total[0]:.0f} / {total[1]:.0f} ({total[0] - total[1]:+.0f}), "
          f"kernel {kernel[0]:.0f} / {kernel[1]:.0f} ({kernel[0] - kernel[1]:+.0f}), "
          f"user space {total[0] - kernel[0]:.0f} / {total[1] - kernel[1]:.0f} "
          f"({total[0] - kernel[0] - total[1] + kernel[1]:+.0f})")
    lo, lf = by_layer(o), by_layer(f)
    print(f"user space by layer, ns per message ({names[0]}, {names[1]}, distance):")
    for name in sorted(set(lo) | set(lf), key=lambda k: -(lo.get(k, 0) - lf.get(k, 0))):
        x, y = lo.get(name, 0), lf.get(name, 0)
        print(f"  {x:6.0f} {y:6.0f} {x - y:+7.0f}  {name}")
    print(f"frames by distance, ns per message ({names[0]}, {names[1]}, distance):")
    diff = sorted(set(o) | set(f), key=lambda k: -abs(o.get(k, 0) - f.get(k, 0)))
    for name in diff[:rows]:
        x, y = o.get(name, 0), f.get(name, 0)
        print(f"  {x:6.1f} {y:6.1f} {x - y:+7.1f}  {name}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("side", choices=["client", "server"])
    ap.add_argument("server", choices=["own", "uws", "floor"])
    ap.add_argument("workload", choices=list(WORKLOADS))
    ap.add_argument("--secs", type=int, default=14, help="measured window (default 14)")
    ap.add_argument("--uws", default="target/uws")
    ap.add_argument("--user-frames", type=int, default=15, metavar="N",
                    help="user-space frames to list (default 15)")
    ap.add_argument("--keep", metavar="FILE", help="keep perf's recording as FILE")
    ap.add_argument("--spin", type=int, default=0, metavar="NS",
                    help="the tokio floor server busy-waits NS ns of user space per echo "
                         "(tokio_floor.rs server --spin)")
    ap.add_argument("--codec", action="store_true",
                    help="the tokio floor server does its WebSocket work with the codec's "
                         "connection (tokio_floor.rs server --codec)")
    ap.add_argument("--push-floor", action="store_true",
                    help="drive a push workload with benches/examples/push_floor.rs "
                         "(build it first, as scripts/peer-compare.sh does)")
    ap.add_argument("--floor-variant", action="append", default=[], choices=["epoll", "delayed-ack"],
                    help="with --push-floor: the floor without tokio (epoll, WebSocket only) "
                         "or its sockets in delayed-ACK mode (push_floor.rs --epoll, --delayed-ack)")
    ap.add_argument("--echo-floor", action="store_true",
                    help="drive echo with the tokio floor's client, every round trip timed "
                         "(benches/examples/tokio_floor.rs; build it first)")
    ap.add_argument("--vs-floor", type=int, nargs="?", const=25, default=0, metavar="ROWS",
                    help="the profiled side, then its floor in its place (the push or "
                         "echo floor client; with server own echo|echo-lt, the tokio "
                         "floor's server), each with a server of its own; prints both "
                         "runs' figures and the ROWS frames (default 25) whose ns per "
                         "message differ most")
    ap.add_argument("--run-bin", metavar="PATH",
                    help="the wsbench binary that runs the load as `wsbench run` (default "
                         "target/release/wsbench, which serves as `wsbench serve` either way): "
                         "two builds' load generators profiled against the same server")
    a = ap.parse_args()
    if a.run_bin:
        if not (os.path.isfile(a.run_bin) and os.access(a.run_bin, os.X_OK)):
            ap.error(f"--run-bin {a.run_bin}: not an executable file")
        pc.WSBENCH_RUN = a.run_bin
    if not shutil.which("perf"):
        print("profile: SKIPPED: perf not found (apt-get install linux-perf)", file=sys.stderr)
        return 0
    if a.server == "uws" and a.workload.startswith("poll"):
        ap.error("uWS push_hub serves WebSocket only")
    if a.server == "floor" and not a.workload.startswith("echo"):
        ap.error("the tokio floor serves echo only")
    if a.push_floor and (a.workload not in FLOOR_ARGS or a.server == "floor"):
        ap.error("--push-floor drives a push workload against wsbench serve (own) "
                 "or uWS push_hub (uws)")
    if a.floor_variant and not a.push_floor:
        ap.error("--floor-variant is for --push-floor")
    if "epoll" in a.floor_variant and FLOOR_ARGS[a.workload][0] != "websocket":
        ap.error("--floor-variant epoll is for the WebSocket workloads")
    if a.echo_floor and a.workload != "echo":
        ap.error("--echo-floor drives the echo workload")
    served = a.side == "server" and a.server == "own" and a.workload.startswith("echo")
    driven = a.side == "client" and (a.workload == "echo" or
                                     (a.workload in FLOOR_ARGS and a.server == "own"))
    if a.vs_floor and (not (served or driven) or a.push_floor or a.echo_floor or a.keep):
        ap.error("--vs-floor profiles the client of the echo workload or of a push "
                 "workload against wsbench serve (own), or the server (own) of echo or "
                 "echo-lt, without --keep or a floor flag")
    kind = a.server if a.server in ("own", "floor") else ("uws-echo" if a.workload.startswith("echo") else "uws-hub")
    if (a.spin or a.codec) and a.server != "floor":
        ap.error("--spin and --codec are the tokio floor server's")
    if a.spin and a.codec:
        ap.error("--spin and --codec are two variants of the floor server: one at a time")
    body, settle = WORKLOADS[a.workload]
    if a.secs < SAMPLE_SECS + 2:
        ap.error(f"--secs must be at least {SAMPLE_SECS + 2}")
    start = pc.servers(a.uws, [kind])[0][1]
    if a.spin:
        def start():
            return pc.Server(f"tokio floor, {a.spin} ns spin per echo",
                             [pc.FLOOR, "server", "PORT", "--spin", str(a.spin)])
    if a.codec:
        def start():
            return pc.Server("tokio floor, the codec's connection",
                             [pc.FLOOR, "server", "PORT", "--codec"])
    floor_kind = "echo" if a.workload == "echo" else "push"
    # (server, floor client driving it) per run.
    if a.vs_floor and a.side == "server":
        pairs = [(start, None), (pc.servers(a.uws, ["floor"])[0][1], None)]
        names = ("wsbench serve", "the tokio floor server")
    elif a.vs_floor:
        pairs = [(start, None), (start, floor_kind)]
        names = ("wsbench run", "the floor client")
    else:
        pairs = [(start, "push" if a.push_floor else "echo" if a.echo_floor else None)]
    with tempfile.TemporaryDirectory() as tmp:
        runs = [side_run(a, st, body, settle, tmp, f, n) for n, (st, f) in enumerate(pairs)]
        for (name, data, run), (_, f) in zip(runs, pairs):
            driver = f" driven by the {f} floor" if f else ""
            print(f"# {a.side} profile: {name}, {a.workload}{driver}, {a.secs} s window, "
                  f"perf {SAMPLE_SECS} s at 2,000 Hz")
            report(data, run, a.side, 0 if a.vs_floor else a.user_frames,
                   frames=not a.vs_floor)
        if a.vs_floor:
            against_floor(*runs, a.vs_floor, names)
        if a.keep:
            shutil.copyfile(runs[0][1], a.keep)
    return 0


if __name__ == "__main__":
    sys.exit(main())
