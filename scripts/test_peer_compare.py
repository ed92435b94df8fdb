"""Checks of scripts/peer_compare.py's measurement of uWS load_test: its
CPU per echo is the load_test process's own, window by window, and the
server's is the server process's own over the same windows.

A stand-in for load_test prints `Msg/sec: 1000` every half second, either
busy (its whole core: 1,000 µs of CPU per message) or asleep (none); a
stand-in server is the opposite (asleep beside the busy client, busy
beside the idle one). Read from the wrong process, or over the wrong
window, a busy one would not come out near 1,000 µs per message and an
idle one near zero.

    python3 scripts/test_peer_compare.py
"""

import os
import subprocess
import sys
import tempfile
import textwrap

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peer_compare as pc  # noqa: E402

STAND_IN = textwrap.dedent(
    """\
    #!/usr/bin/env python3
    import sys, time
    busy = {busy}
    start = time.monotonic()
    k = 1
    while True:
        due = start + 0.5 * k
        while time.monotonic() < due:
            if not busy:
                time.sleep(max(0.0, due - time.monotonic()))
        print("Msg/sec: 1000.000000", flush=True)
        k += 1
    """
)


# A server that spins (or sleeps) until killed.
SERVER = "import time\nwhile True:\n    {body}\n"


def run(busy):
    """The stand-in client, busy or not, beside a stand-in server that is
    the opposite, pinned to the server's CPU."""
    body = "time.sleep(1)" if busy else "pass"
    server = subprocess.Popen(["taskset", "-c", pc.SERVER_CPU, sys.executable, "-c",
                               SERVER.format(body=body)])
    try:
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "load_test")
            with open(path, "w") as f:
                f.write(STAND_IN.format(busy=busy))
            os.chmod(path, 0o755)
            return pc.load_test(d, 1, 1, 2.3, server.pid)
    finally:
        server.kill()
        server.wait()


def near(got, col, busy):
    """Whether column `col` is about 1,000 µs per message when its process
    was busy (the whole core over 1,000 messages a second; a neighbour on
    the core may take some of it) and under 100 when it slept."""
    us = got[col] or 0
    return 550 <= us <= 1100 if busy else us < 100


def main():
    failed = []
    for busy in (True, False):
        got = run(busy)
        ok = (got["msg/s"] == 1000 and near(got, "client µs/msg", busy)
              and near(got, "server µs/msg", not busy))
        if not ok:
            failed.append(f"{'busy' if busy else 'idle'} client beside "
                          f"{'an idle' if busy else 'a busy'} server: {got}, expected 1000 "
                          "msg/s and about 1000 µs/msg for the busy one, under 100 for the other")
        else:
            print(f"test_peer_compare: {'busy' if busy else 'idle'} client "
                  f"{got['client µs/msg']:.1f} µs/msg, server {got['server µs/msg']:.1f}")
    for f in failed:
        print(f"test_peer_compare: FAIL: {f}")
    if failed:
        sys.exit(1)
    print("test_peer_compare: ok")


if __name__ == "__main__":
    main()
