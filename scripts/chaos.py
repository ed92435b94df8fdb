#!/usr/bin/env python3
"""Attacks on `wsbench serve`, each for a bounded time on loopback, with a
normal echo client and a normal push subscriber measuring all along.

    python3 scripts/chaos.py WSBENCH [--short] [ATTACK ...]

Attacks: big-frames, pollers, bombs, bombs-echoed, slow-push,
slow-push-fastwebsockets, slow-push-tokio-tungstenite, http. Each starts its own
server, prints its figures and asserts the limits in docs/reliability.md;
the exit status is 1 when any assertion fails. Standard library only.
"""

import base64
import json
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import urllib.request
import zlib

SHORT = "--short" in sys.argv
MIB = 1 << 20
failures = []


def check(ok, what):
    print(("  ok    " if ok else "  FAIL  ") + what, flush=True)
    if not ok:
        failures.append(what)


class Server:
    """`wsbench serve` on a free loopback port."""

    def __init__(self, exe, *flags):
        self.proc = subprocess.Popen(
            [exe, "serve", "--listen", "127.0.0.1:0", *flags],
            stdout=subprocess.PIPE,
            text=True,
        )
        line = self.proc.stdout.readline()
        m = re.match(r"listening on (\S+):(\d+)", line)
        if not m:
            raise SystemExit(f"server did not start: {line!r}")
        self.host, self.port = m.group(1), int(m.group(2))

    def rss(self):
        """Resident memory, bytes."""
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        return 0

    def health(self):
        with urllib.request.urlopen(f"http://{self.host}:{self.port}/health", timeout=10) as r:
            return json.load(r)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def ws_connect(server, path, extensions=None):
    s = socket.create_connection((server.host, server.port), timeout=10)
    key = base64.b64encode(os.urandom(16)).decode()
    head = (
        f"GET {path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
    )
    if extensions:
        head += f"Sec-WebSocket-Extensions: {extensions}\r\n"
    s.sendall((head + "\r\n").encode())
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(4096)
        if not chunk:
            raise ConnectionError("closed during the handshake")
        buf += chunk
    head, rest = buf.split(b"\r\n\r\n", 1)
    if not head.startswith(b"HTTP/1.1 101"):
        raise ConnectionError(head.decode(errors="replace"))
    return s, rest


def frame(opcode, payload, rsv1=False):
    """A masked client frame (mask 0: the payload goes as it is)."""
    b0 = 0x80 | opcode | (0x40 if rsv1 else 0)
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", b0, 0x80 | n)
    elif n < 1 << 16:
        head = struct.pack("!BBH", b0, 0x80 | 126, n)
    else:
        head = struct.pack("!BBQ", b0, 0x80 | 127, n)
    return head + b"\0\0\0\0" + payload


class FrameReader:
    def __init__(self, sock, rest=b""):
        self.sock, self.buf = sock, bytearray(rest)

    def _need(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(1 << 16)
            if not chunk:
                raise ConnectionError("closed")
            self.buf += chunk

    def next(self):
        """(opcode, payload) of the next frame."""
        self._need(2)
        op, n = self.buf[0] & 0x0F, self.buf[1] & 0x7F
        at = 2
        if n == 126:
            self._need(4)
            n, at = struct.unpack("!H", self.buf[2:4])[0], 4
        elif n == 127:
            self._need(10)
            n, at = struct.unpack("!Q", self.buf[2:10])[0], 10
        self._need(at + n)
        payload = bytes(self.buf[at : at + n])
        del self.buf[: at + n]
        return op, payload


class EchoProbe(threading.Thread):
    """A normal client: one 64-byte echo every 10 ms, round trips kept."""

    def __init__(self, server):
        super().__init__(daemon=True)
        self.server, self.rtts, self.errors, self.stop = server, [], [], False

    def run(self):
        try:
            s, rest = ws_connect(self.server, "/echo")
            r = FrameReader(s, rest)
            while not self.stop:
                t0 = time.perf_counter()
                s.sendall(frame(0x1, b"e" * 64))
                while True:
                    op, _ = r.next()
                    if op == 0x1:
                        break
                self.rtts.append(time.perf_counter() - t0)
                time.sleep(0.01)
        except Exception as e:  # noqa: BLE001 - reported as a failure
            self.errors.append(repr(e))

    def p99_ms(self):
        if not self.rtts:
            return float("inf")
        xs = sorted(self.rtts)
        return xs[min(len(xs) - 1, int(len(xs) * 0.99))] * 1000


class PushProbe(threading.Thread):
    """A normal subscriber: every message's sequence number, checked for
    gaps and repeats."""

    def __init__(self, server):
        super().__init__(daemon=True)
        self.server, self.seqs, self.errors, self.stop = server, [], [], False

    def run(self):
        try:
            s, rest = ws_connect(self.server, "/push")
            s.settimeout(30)
            r = FrameReader(s, rest)
            while not self.stop:
                op, payload = r.next()
                if op == 0x1:
                    self.seqs.append(int(re.match(rb'\{"seq":(\d+)', payload).group(1)))
        except Exception as e:  # noqa: BLE001
            if not self.stop:
                self.errors.append(repr(e))

    def missed(self):
        s = self.seqs
        return sum(b - a - 1 for a, b in zip(s, s[1:]) if b > a) + sum(1 for a, b in zip(s, s[1:]) if b <= a)


def probes(server):
    e, p = EchoProbe(server), PushProbe(server)
    e.start()
    p.start()
    return e, p


def end_probes(e, p, push=True):
    e.stop = p.stop = True
    e.join(5)
    check(not e.errors, f"normal echo client kept working ({len(e.rtts)} echoes, p99 {e.p99_ms():.2f} ms) {e.errors}")
    if push:
        p.join(1)
        check(
            not p.errors and len(p.seqs) > 0 and p.missed() == 0,
            f"normal push subscriber missed nothing ({len(p.seqs)} messages, {p.missed()} missed) {p.errors}",
        )


def big_frames(exe):
    """Three clients send one 64 MiB frame each to /echo and never read."""
    srv = Server(exe, "--max-message-size", str(64 * MIB), "--publish-rate", "50")
    e, p = probes(srv)
    time.sleep(0.5)
    start = srv.rss()
    socks = []
    for _ in range(3):
        s, _ = ws_connect(srv, "/echo")
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.sendall(frame(0x2, b"\0" * (64 * MIB)))
        socks.append(s)
    sent = time.monotonic()
    peak = srv.rss()
    deadline = 5.0
    while time.monotonic() - sent < deadline + 1 and srv.rss() - start > 50 * MIB:
        peak = max(peak, srv.rss())
        time.sleep(0.1)
    after = srv.rss()
    took = time.monotonic() - sent
    print(f"  RSS start {start / MIB:.1f} MiB, peak {peak / MIB:.1f} MiB, {after / MIB:.1f} MiB after {took:.1f} s")
    check(after - start <= 50 * MIB, "RSS back within 50 MiB of its start within the write deadline + 1 s")
    cut = srv.health()["cut"]
    check(cut["write_timeout"] + cut["send_queue_full"] >= 3, f"three connections cut: {cut}")
    end_probes(e, p)
    for s in socks:
        s.close()
    srv.stop()


def publish(srv, body):
    req = urllib.request.Request(f"http://{srv.host}:{srv.port}/publish", data=body, method="POST")
    with urllib.request.urlopen(req, timeout=10) as r:
        r.read()


def pollers(exe):
    """60 MiB of publishes, then 50 pollers from cursor 0 and an SSE client
    from Last-Event-ID 0, none reading."""
    srv = Server(exe)
    history = 32 * MIB
    for _ in range(60):
        publish(srv, b"\x01" * MIB)
    published = srv.rss()
    socks = []
    for i in range(51):
        s = socket.create_connection((srv.host, srv.port), timeout=10)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        if i < 50:
            s.sendall(b"GET /poll?cursor=0 HTTP/1.1\r\nHost: x\r\n\r\n")
        else:
            s.sendall(b"GET /events HTTP/1.1\r\nHost: x\r\nLast-Event-ID: 0\r\n\r\n")
        socks.append(s)
    peak = 0
    for _ in range(30 if not SHORT else 10):
        peak = max(peak, srv.rss())
        time.sleep(0.1)
    h = srv.health()
    print(f"  history {h['history']['bytes'] / MIB:.1f} MiB in {h['history']['messages']} messages; server RSS {published / MIB:.1f} MiB after publishing, peak {peak / MIB:.1f} MiB with the pollers")
    check(h["history"]["bytes"] <= history, "history within its byte budget")
    check(peak < history + 50 * MIB, f"RSS under history budget + 50 MiB ({(history + 50 * MIB) / MIB:.0f} MiB)")
    for s in socks:
        s.close()
    srv.stop()


def bomb_frame():
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    data = c.compress(b"\0" * (64 * MIB)) + c.flush(zlib.Z_SYNC_FLUSH)
    assert data.endswith(b"\0\0\xff\xff")
    return frame(0x2, data[:-4], rsv1=True)


def bombs(exe, *flags):
    """Two clients send deflate bombs (65 KB inflating to 64 MiB) back to
    back, reconnecting after each refusal."""
    srv = Server(exe, "--max-message-size", str(64 * MIB), "--publish-rate", "50", *flags)
    bomb = bomb_frame()
    print(f"  bomb: {len(bomb)} bytes on the wire, 64 MiB inflated")
    e, p = probes(srv)
    stop, sent, codes = [False], [0], {}

    def sender():
        while not stop[0]:
            try:
                s, rest = ws_connect(srv, "/echo", "permessage-deflate")
                s.sendall(bomb)
                sent[0] += 1
                op, payload = FrameReader(s, rest).next()
                code = struct.unpack("!H", payload[:2])[0] if op == 0x8 and len(payload) >= 2 else None
                codes[code] = codes.get(code, 0) + 1
                s.close()
            except Exception:  # noqa: BLE001 - a refused bomb may end in a reset
                pass

    senders = [threading.Thread(target=sender, daemon=True) for _ in range(2)]
    for t in senders:
        t.start()
    time.sleep(3 if SHORT else 10)
    stop[0] = True
    for t in senders:
        t.join(5)
    print(f"  {sent[0]} bombs sent; close codes {codes}")
    if flags:
        check(sent[0] >= 2, "bombs inflated, echoed and compressed again")
    else:
        check(sent[0] >= 2 and codes.get(1009, 0) >= 1, "bombs refused with 1009")
    check(e.p99_ms() < 50, f"normal echo p99 {e.p99_ms():.2f} ms < 50 ms while two bomb senders run")
    end_probes(e, p)
    srv.stop()


def bombs_echoed(exe):
    """The same bombs with the ratio limit off: each inflates to 64 MiB
    and is echoed, compressed again, off the async workers."""
    bombs(exe, "--max-inflate-ratio", "0")


def slow_push(exe, stack="own", seconds=None):
    """A /push reader at 256 KiB/s, publish rate 500 x 64 KiB."""
    srv = Server(exe, "--publish-rate", "500", "--payload-size", "65536", "--impl", stack)
    e, p = probes(srv)
    time.sleep(0.3)
    start = srv.rss()
    s, _ = ws_connect(srv, "/push")
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    s.settimeout(1)
    read, closed_after, peak = 0, None, start
    t0 = time.monotonic()
    # Read at 256 KiB/s until the server drops this reader; keep measuring
    # the server's memory and the normal clients to the end either way.
    while time.monotonic() - t0 < (seconds or (5 if SHORT else 10)):
        if closed_after is None:
            try:
                chunk = s.recv(8192)
                if not chunk:
                    closed_after = time.monotonic() - t0
                read += len(chunk)
            except (TimeoutError, socket.timeout):
                pass
            except OSError:
                closed_after = time.monotonic() - t0
        peak = max(peak, srv.rss())
        time.sleep(8192 / (256 * 1024))
    time.sleep(1)
    cut = srv.health()["cut"]
    print(f"  slow reader read {read / MIB:.1f} MiB, closed by the server after {closed_after if closed_after is None else round(closed_after, 2)} s; RSS start {start / MIB:.1f}, peak {peak / MIB:.1f} MiB; cut {cut}")
    check(closed_after is not None and cut["send_queue_full"] + cut["write_timeout"] >= 1, "the slow reader was dropped")
    check(peak - start < 32 * MIB + 50 * MIB, "RSS bounded (history budget + 50 MiB over the start)")
    end_probes(e, p)
    srv.stop()


# These stacks write in place, without a queue of ours: a reader that keeps
# taking some bytes is cut only when one write waits past the write
# deadline, which the kernel's send-buffer hysteresis makes take longer.
def slow_push_fastwebsockets(exe):
    """The slow /push reader with the fastwebsockets stack behind --impl."""
    slow_push(exe, "fastwebsockets", 15)


def slow_push_tungstenite(exe):
    """The slow /push reader with the tokio-tungstenite stack behind --impl."""
    slow_push(exe, "tokio-tungstenite", 15)


def http_attacks(exe):
    """Conflicting Content-Length; SIGTERM with 100 idle keep-alive
    connections."""
    srv = Server(exe)
    s = socket.create_connection((srv.host, srv.port), timeout=10)
    s.sendall(b"POST /publish HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 9\r\n\r\nabc" + b"z" * 65536)
    answer = b""
    while True:
        chunk = s.recv(4096)
        if not chunk:
            break
        answer += chunk
    check(answer.startswith(b"HTTP/1.1 400 "), f"conflicting Content-Length: {answer[:40]!r}")
    idle = []
    for _ in range(100):
        c = socket.create_connection((srv.host, srv.port), timeout=10)
        c.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        c.recv(4096)
        idle.append(c)
    t0 = time.monotonic()
    srv.proc.send_signal(signal.SIGTERM)
    srv.proc.wait(10)
    took = (time.monotonic() - t0) * 1000
    check(took < 100, f"SIGTERM with 100 idle keep-alive connections: exit in {took:.0f} ms (< 100 ms)")
    for c in idle:
        c.close()


ATTACKS = {
    "big-frames": big_frames,
    "pollers": pollers,
    "bombs": bombs,
    "bombs-echoed": bombs_echoed,
    "slow-push": slow_push,
    "slow-push-fastwebsockets": slow_push_fastwebsockets,
    "slow-push-tokio-tungstenite": slow_push_tungstenite,
    "http": http_attacks,
}


def main():
    exe = sys.argv[1]
    names = [a for a in sys.argv[2:] if not a.startswith("--")] or list(ATTACKS)
    for name in names:
        print(f"== {name}: {ATTACKS[name].__doc__.split(chr(10))[0]}", flush=True)
        ATTACKS[name](exe)
    if failures:
        print(f"\n{len(failures)} check(s) failed")
        sys.exit(1)
    print("\nall chaos checks passed")


if __name__ == "__main__":
    main()
