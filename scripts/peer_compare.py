"""wsbench against the uWebSockets peers, side by side on one machine.

Every server runs pinned to CPU 0 and every client to CPU 1 (taskset), one
at a time, the contenders of a row interleaved run by run; each cell is the
median of the runs with the spread (min-max). Called by
scripts/peer-compare.sh, which builds the binaries.

    python3 scripts/peer_compare.py UWS_DIR RUNS [--smoke]
"""

import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

WSBENCH = "target/release/wsbench"
# The binary `start_scenario` runs as the load generator (scripts/profile.py
# --run-bin sets another, to compare two builds with the same server).
WSBENCH_RUN = WSBENCH
# The least a tokio program does per echo (benches/examples/tokio_floor.rs):
# built by scripts/peer-compare.sh, used by it and by scripts/profile.py.
FLOOR = "target/release/examples/tokio_floor"
# The least a tokio program does per pushed message it receives
# (benches/examples/push_floor.rs): built by scripts/peer-compare.sh.
PUSH_FLOOR = "target/release/examples/push_floor"
SERVER_CPU, CLIENT_CPU = "0", "1"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A server process pinned to SERVER_CPU, listening on a fresh port."""

    def __init__(self, name, argv, env=None):
        self.name = name
        self.port = free_port()
        argv = [a.replace("PORT", str(self.port)) for a in argv]
        full_env = dict(os.environ, PORT=str(self.port), **(env or {}))
        self.proc = subprocess.Popen(
            ["taskset", "-c", SERVER_CPU] + argv,
            env=full_env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"{name} did not listen on {self.port}")

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def servers(uws, kinds):
    """Constructors of the servers named in `kinds`, by name."""
    table = {
        "uws-hub": lambda: Server("uWS push_hub", [f"{uws}/push_hub"]),
        "uws-echo": lambda: Server("uWS echo_server", [f"{uws}/echo_server"]),
        "own": lambda: Server("wsbench serve", wsbench_serve("own")),
        "fastwebsockets": lambda: Server(
            "wsbench serve --impl fastwebsockets", wsbench_serve("fastwebsockets")
        ),
        "tokio-tungstenite": lambda: Server(
            "wsbench serve --impl tokio-tungstenite", wsbench_serve("tokio-tungstenite")
        ),
        "floor": lambda: Server("tokio floor", [FLOOR, "server", "PORT"]),
    }
    return [(k, table[k]) for k in kinds]


def wsbench_serve(stack):
    return [WSBENCH, "serve", "--listen", "127.0.0.1:PORT", "--impl", stack]


def run_scenario(tmp, port, pid, body):
    """`wsbench run` pinned to CLIENT_CPU against the server on `port`; the
    phase summary."""
    return finish_scenario(*start_scenario(tmp, port, pid, body))


def start_scenario(tmp, port, pid, body):
    """Starts `wsbench run` of `body` pinned to CLIENT_CPU against the
    server on `port` (`pid`: its process, whose CPU time the run reads);
    the client process and its results folder."""
    file = Path(tmp) / f"s{port}.toml"
    file.write_text(
        'schema_version = 1\nname = "peer-compare"\n'
        f'[target]\nurl = "http://127.0.0.1:{port}"\n{body}'
    )
    results = Path(tmp) / f"r{port}"
    proc = subprocess.Popen(
        ["taskset", "-c", CLIENT_CPU, WSBENCH_RUN, "run", str(file), "--quiet",
         "--no-calibrate", "--server-pid", str(pid), "--results", str(results)],
        stdout=subprocess.DEVNULL,
    )
    return proc, results


def finish_scenario(proc, results):
    """Waits for the run of `start_scenario`; its phase summary."""
    proc.wait()
    found = sorted(results.glob("*/summary.json"))
    if not found:
        raise RuntimeError(f"wsbench run wrote no summary in {results}")
    return json.loads(found[-1].read_text())["phases"][0]


def push_body(transport, conns, rate, secs, warmup):
    return (
        f'[load]\ntransports = ["{transport}"]\nconnections = {conns}\n'
        f'ramp_rate = 5000\nduration = "{secs}s"\nwarmup = "{warmup}s"\n'
        f'[workload]\nkind = "push"\nrate = {rate}\npayload_size = 20\n'
    )


def echo_body(conns, in_flight, secs):
    return (
        f'[load]\ntransports = ["websocket"]\nconnections = {conns}\n'
        f'ramp_rate = 5000\nduration = "{secs}s"\nwarmup = "1s"\n'
        f'[workload]\nkind = "throughput"\nin_flight = {in_flight}\n'
        'payload_size = 20\npayload = "binary"\n'
    )


def push_cells(p):
    lat = p["latency"]["push_latency"]
    c = p["counters"]
    received = max(c["received"], 1)
    return {
        "p50 ms": lat["p50"] / 1e6,
        "p99 ms": lat["p99"] / 1e6,
        # None when wsbench could not read the server's CPU or the window
        # was too short for the /proc clock's resolution: shown as "-".
        "server µs/msg": p.get("server_cpu_us_per_msg"),
        "client µs/msg": p["client_cpu_s"] * 1e6 / received,
        "lost": c["lost"],
        "harness": p["health"]["verdict"],
    }


def load_test(uws, port, conns, secs, server_pid=None):
    """uWS load_test (1 message in flight per connection) pinned to
    CLIENT_CPU for `secs`: the median of its 4-second Msg/sec lines after
    the first, and of its CPU per echo over the same windows ("client
    µs/msg": its user + system time between two lines, read from /proc as
    each line arrives, over the window's echoes; echoes a second per
    client core are 10⁶ over it). With `server_pid`, that process's CPU
    per echo too, read the same way at the same instants ("server
    µs/msg")."""
    proc = subprocess.Popen(
        ["taskset", "-c", CLIENT_CPU, "stdbuf", "-oL", f"{uws}/load_test",
         str(conns), "127.0.0.1", str(port), "0", "0", "20"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    pids = {"client µs/msg": proc.pid}
    if server_pid is not None:
        pids["server µs/msg"] = server_pid
    lines = []  # (monotonic s, {column: CPU s}, msg/s) at each Msg/sec line

    def read():
        for line in proc.stdout:
            m = re.search(r"Msg/sec: ([0-9.]+)", line)
            if m:
                cpu = {col: cpu_s(pid) for col, pid in pids.items()}
                lines.append((time.monotonic(), cpu, float(m.group(1))))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    time.sleep(secs)
    proc.kill()
    proc.wait()
    reader.join(5)
    rates = [r for _, _, r in lines]
    if not rates:
        raise RuntimeError("load_test printed no rate")
    got = {"msg/s": statistics.median(rates[1:] or rates)}
    for col in pids:
        got[col] = per_echo(lines, col)
    return got


def per_echo(lines, col):
    """The median over the windows between two of load_test's lines of
    column `col`'s CPU µs per echo (None without a window)."""
    per_msg = [(c1[col] - c0[col]) / (t1 - t0) / r * 1e6
               for (t0, c0, _), (t1, c1, r) in zip(lines, lines[1:])
               if None not in (c0[col], c1[col]) and t1 > t0 and r > 0]
    return statistics.median(per_msg) if per_msg else None


def cpu_s(pid):
    """User + system CPU seconds of process `pid` so far (all its
    threads; /proc's clock ticks), or None once it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    # utime and stime: fields 14 and 15 of stat(5), 12 and 13 after ")".
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def steal_ticks():
    """CPU steal of the server's and the client's CPU so far, in clock
    ticks (/proc/stat: time the hypervisor ran other guests while these
    virtual CPUs wanted to run)."""
    cpus = {f"cpu{SERVER_CPU}", f"cpu{CLIENT_CPU}"}
    with open("/proc/stat") as f:
        return sum(int(l.split()[8]) for l in f if l.split()[0] in cpus)


def measure(rows, runs, one):
    """`one(kind, server)` for every contender of `rows`, interleaved run
    by run, run r starting with the r-th contender (the order turns: the
    first place of a run goes to each contender in turn);
    {kind: [cells, ...]}. Every cell also gets "steal %": the share of the
    two pinned CPUs' time the hypervisor took during the run, which slows
    server and client alike."""
    got = {k: [] for k, _ in rows}
    tick = os.sysconf("SC_CLK_TCK")
    for r in range(runs):
        for j in range(len(rows)):
            kind, start = rows[(r + j) % len(rows)]
            t0, s0 = time.monotonic(), steal_ticks()
            with start() as s:
                cells = one(kind, s)
            secs = time.monotonic() - t0
            cells["steal %"] = 100.0 * (steal_ticks() - s0) / tick / secs / 2
            got[kind].append(cells)
    return got


def stat(values):
    nums = [v for v in values if isinstance(v, (int, float)) and v == v]
    if not nums:
        words = sorted({str(v) for v in values if isinstance(v, str)})
        return None, ", ".join(words) if words else "-"
    med = statistics.median(nums)
    return med, f"{fmt(med)} ({fmt(min(nums))}–{fmt(max(nums))})" if len(nums) > 1 else fmt(med)


def fmt(v):
    if isinstance(v, float):
        return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.3g}" if abs(v) < 10 else f"{v:.1f}"
    return f"{v:,}" if isinstance(v, int) else str(v)


def table(title, got, names, first="server"):
    cols = list(next(iter(got.values()))[0].keys())
    print(f"\n### {title}\n")
    print(f"| {first} | " + " | ".join(cols) + " |")
    print("|---" * (len(cols) + 1) + "|")
    medians = {}
    for kind, cells in got.items():
        row = []
        for c in cols:
            med, text = stat([x[c] for x in cells])
            medians[(kind, c)] = med
            row.append(text)
        print(f"| {names.get(kind, kind)} | " + " | ".join(row) + " |")
    return medians


GOALS = []
# Figures that bound a goal (the tokio floor's) or stand beside one,
# printed after the goals.
FLOORS = []


def goal(name, got, need, lower_is_better):
    """A target figure (None: not measured): printed at the end with its
    verdict."""
    GOALS.append((name, got, need, lower_is_better))


def floor_client(port, conns, secs, timed):
    """The tokio floor's echo client (benches/examples/tokio_floor.rs, 1
    message in flight per connection) pinned to CLIENT_CPU: its msg/s and
    its CPU per echo over `secs` after a 1 s warm-up."""
    argv = ["taskset", "-c", CLIENT_CPU, FLOOR, "client", str(port), str(conns), str(secs)]
    out = subprocess.run(argv + (["--timed"] if timed else []), capture_output=True,
                         text=True, timeout=secs + 30).stdout
    got = dict(re.findall(r"^(msg/s|client us/msg) ([0-9.]+)$", out, re.M))
    if len(got) != 2:
        raise RuntimeError(f"tokio_floor client printed no rate: {out!r}")
    return {"msg/s": float(got["msg/s"]), "client µs/msg": float(got["client us/msg"])}


def floor_push(port, transport, conns, rate, secs):
    """The tokio push floor (benches/examples/push_floor.rs) pinned to
    CLIENT_CPU: `conns` subscribers over `transport` and its own publisher
    at `rate`, every message timed, over `secs` after its 3 s warm-up; the
    columns of `push_cells` it measures (the rest "-")."""
    argv = ["taskset", "-c", CLIENT_CPU, PUSH_FLOOR, transport, str(port), str(conns),
            str(rate), str(max(1, round(secs))), "--timed"]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=secs + 60).stdout
    got = dict(re.findall(r"^(p50 ms|p99 ms|client us/msg) ([0-9.]+)$", out, re.M))
    if len(got) != 3:
        raise RuntimeError(f"push_floor printed no figures: {out!r}")
    return {"p50 ms": float(got["p50 ms"]), "p99 ms": float(got["p99 ms"]),
            "server µs/msg": None, "client µs/msg": float(got["client us/msg"]),
            "lost": "-", "harness": "-"}


def push_rows(uws, kinds):
    """The push table's rows: the servers of `kinds` driven by `wsbench
    run`, then `wsbench serve` driven by the push floor, and uWS's hub
    too when it is among them (a client lighter than any load generator
    that checks what it receives: at 100,000 messages a second every load
    generator here saturates its core, and then sets the latencies)."""
    rows = servers(uws, kinds) + [("push-floor", servers(uws, ["own"])[0][1])]
    if "uws-hub" in kinds:
        rows.append(("push-floor-uws", servers(uws, ["uws-hub"])[0][1]))
    return rows


def push_floors(label, m):
    """The push floor's figures of one table, among the floors."""
    floor = m[("push-floor", "client µs/msg")]
    FLOORS.append((f"{label}: tokio push floor client µs per message", floor))
    FLOORS.append((f"{label}: wsbench run / tokio push floor client, µs per message",
                   ratio(m[("own", "client µs/msg")], floor)))
    if ("push-floor-uws", "p99 ms") in m:
        FLOORS.append((f"{label}: wsbench serve / uWS push_hub p99 ms, both driven by the "
                       "tokio push floor",
                       ratio(m[("push-floor", "p99 ms")], m[("push-floor-uws", "p99 ms")])))


def echo_client_us(p):
    """`wsbench run`'s CPU per echo in the window (µs), from its phase
    summary `p`; None without echoes."""
    received = p["counters"]["received"]
    return p["client_cpu_s"] * 1e6 / received if received else None


def ratio(a, b):
    """a / b, or None when either side is missing or b is zero."""
    return None if a is None or b is None or b == 0 else a / b


def main():
    uws, runs = sys.argv[1], int(sys.argv[2])
    smoke = "--smoke" in sys.argv
    # Sizes: the full comparison, or seconds of everything for the test command.
    big = (200, 10, 1, 0.5) if smoke else (10000, 10, 20, 5)
    small = (100, 100, 1, 0.5) if smoke else (1000, 100, 20, 3)
    echo_secs = 1 if smoke else 10
    names = {"uws-hub": "uWS push_hub", "uws-echo": "uWS echo_server",
             "own": "wsbench serve", "fastwebsockets": "wsbench --impl fastwebsockets",
             "tokio-tungstenite": "wsbench --impl tokio-tungstenite",
             "floor": "tokio floor (benches/examples/tokio_floor.rs)",
             "push-floor": "wsbench serve, driven by the tokio push floor "
                           "(benches/examples/push_floor.rs, every message timed)",
             "push-floor-uws": "uWS push_hub, driven by the tokio push floor"}
    with tempfile.TemporaryDirectory() as tmp:
        def push(transport, conns, rate, secs, warmup):
            def one(k, s):
                if k.startswith("push-floor"):
                    return floor_push(s.port, transport, conns, rate, secs)
                return push_cells(run_scenario(
                    tmp, s.port, s.proc.pid, push_body(transport, conns, rate, secs, warmup)))
            return one

        for conns, rate, secs, warmup in (big, small):
            got = measure(push_rows(uws, ["uws-hub", "own"]), runs,
                          push("websocket", conns, rate, secs, warmup))
            m = table(f"Push fan-out over WebSocket: {conns:,} subscribers × {rate} msg/s, "
                      f"{secs} s window", got, names)
            for col in ("p99 ms", "server µs/msg"):
                goal(f"push {conns:,}×{rate}: wsbench / uWS {col}",
                     ratio(m[("own", col)], m[("uws-hub", col)]), 1.0, True)
            goal(f"push {conns:,}×{rate}: load generator µs per message (websocket)",
                 m[("own", "client µs/msg")], 2.5, True)
            push_floors(f"push {conns:,}×{rate} over WebSocket", m)
        conns, rate, secs, warmup = small
        got = measure(push_rows(uws, ["own"]), runs,
                      push("long-poll", conns, rate, secs, warmup))
        m = table(f"Push over long-poll (wsbench serve only): {conns:,} × {rate} msg/s", got, names)
        goal("load generator µs per message (long-poll)", m[("own", "client µs/msg")], 5.0, True)
        push_floors(f"push {conns:,}×{rate} over long-poll", m)

        stacks = ["uws-echo", "own", "fastwebsockets", "tokio-tungstenite", "floor"]
        got = measure(servers(uws, stacks), runs,
                      # 4 s more than the rate's first window: its CPU per
                      # echo needs a window between two lines.
                      lambda k, s: load_test(uws, s.port, 100, max(echo_secs, 4.5) + 4,
                                             s.proc.pid))
        one = table("Echo, 100 connections × 1 in flight, driven by uWS load_test", got, names)
        goal("echo 1 in flight: wsbench serve / uWS echo_server",
             ratio(one[("own", "msg/s")], one[("uws-echo", "msg/s")]), 1.0, False)
        FLOORS.append(("echo 1 in flight: tokio floor server / uWS echo_server",
                       ratio(one[("floor", "msg/s")], one[("uws-echo", "msg/s")])))
        FLOORS.append(("echo 1 in flight: wsbench serve / tokio floor server",
                       ratio(one[("own", "msg/s")], one[("floor", "msg/s")])))
        FLOORS.append(("echo 1 in flight: server CPU µs per echo, wsbench serve / uWS "
                       "echo_server (above 1: more CPU per echo)",
                       ratio(one[("own", "server µs/msg")], one[("uws-echo", "server µs/msg")])))

        def echo32(k, s):
            p = run_scenario(tmp, s.port, s.proc.pid, echo_body(100, 32, echo_secs))
            return {"msg/s": p["msg_rate"], "harness": p["health"]["verdict"]}
        m = table("Echo, 100 connections × 32 in flight, driven by wsbench run",
                  measure(servers(uws, stacks), runs, echo32), names)
        goal("echo 32 in flight: wsbench serve / uWS echo_server",
             ratio(m[("own", "msg/s")], m[("uws-echo", "msg/s")]), 0.8, False)

        def client1(k, s):
            if k != "run":
                # The floor client judges nothing of itself: no harness verdict.
                return dict(floor_client(s.port, 100, echo_secs, k == "floor-timed"), harness="-")
            p = run_scenario(tmp, s.port, s.proc.pid, echo_body(100, 1, echo_secs))
            return {"msg/s": p["msg_rate"], "client µs/msg": echo_client_us(p),
                    "harness": p["health"]["verdict"]}
        uws_echo = servers(uws, ["uws-echo"])[0][1]
        clients = {"run": "wsbench run", "floor": "tokio floor client",
                   "floor-timed": "tokio floor client, every round trip timed"}
        m = table("Load generators, 100 connections × 1 in flight, against uWS echo_server "
                  "(compare load_test's row above)",
                  measure([(k, uws_echo) for k in clients], runs, client1), clients, "client")
        # Per client core: echoes a second over the client's CPU share,
        # 10⁶ over its µs per echo; one load generator against another,
        # load_test's µs per echo over this one's.
        lt_us = one[("uws-echo", "client µs/msg")]
        goal("load generator echo 1 in flight: wsbench run / uWS load_test, msg/s per client core",
             ratio(lt_us, m[("run", "client µs/msg")]), 1.0, False)
        FLOORS.append(("load generator echo 1 in flight: wsbench run / uWS load_test, msg/s "
                       "(per client core only while both clients' cores are saturated)",
                       ratio(m[("run", "msg/s")], one[("uws-echo", "msg/s")])))
        for k in ("floor", "floor-timed"):
            FLOORS.append((f"load generator echo 1 in flight: {clients[k]} / uWS load_test, "
                           "msg/s per client core", ratio(lt_us, m[(k, "client µs/msg")])))

    print("\n### Goals\n")
    print("| goal | measured | required | verdict |")
    print("|---|---|---|---|")
    for name, got, need, lower in GOALS:
        sign = "≤" if lower else "≥"
        if got is None:
            # A goal without its figure is not met: say so, never a pass.
            print(f"| {name} | - | {sign} {need} | not measured |")
            continue
        ok = got <= need if lower else got >= need
        verdict = "n/a (smoke)" if smoke else ("pass" if ok else "**miss**")
        print(f"| {name} | {got:.2f} | {sign} {need} | {verdict} |")
    # What the least a tokio program does per echo or per pushed message
    # reaches, measured in the same runs: the part of a gap that tokio and
    # the kernel alone account for; and the raw rates beside a goal per core.
    print("\n### The tokio floor, and figures beside the goals\n")
    print("| figure | measured |")
    print("|---|---|")
    for name, got in FLOORS:
        print(f"| {name} | {'-' if got is None else f'{got:.2f}'} |")


if __name__ == "__main__":
    main()
