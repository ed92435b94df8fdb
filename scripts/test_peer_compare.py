"""Checks of scripts/peer_compare.py's measurement of uWS load_test: its
CPU per echo is the load_test process's own, window by window.

A stand-in for load_test prints `Msg/sec: 1000` every half second, either
busy (its whole core: 1,000 µs of CPU per message) or asleep (none). Read
from the wrong process, or over the wrong window, the busy one would not
come out near 1,000 µs per message and the idle one near zero.

    python3 scripts/test_peer_compare.py
"""

import os
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


def run(busy):
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "load_test")
        with open(path, "w") as f:
            f.write(STAND_IN.format(busy=busy))
        os.chmod(path, 0o755)
        return pc.load_test(d, 1, 1, 2.3)


def main():
    failed = []
    busy = run(True)
    # The whole core over 1,000 messages a second: 1,000 µs each (a
    # neighbour on the core may take some of it).
    if not (busy["msg/s"] == 1000 and 550 <= (busy["client µs/msg"] or 0) <= 1100):
        failed.append(f"busy stand-in: {busy}, expected 1000 msg/s and about 1000 µs/msg")
    idle = run(False)
    if not (idle["msg/s"] == 1000 and (idle["client µs/msg"] or 0) < 100):
        failed.append(f"idle stand-in: {idle}, expected 1000 msg/s and under 100 µs/msg")
    for f in failed:
        print(f"test_peer_compare: FAIL: {f}")
    if failed:
        sys.exit(1)
    print("test_peer_compare: ok (busy "
          f"{busy['client µs/msg']:.0f} µs/msg, idle {idle['client µs/msg']:.1f})")


if __name__ == "__main__":
    main()
