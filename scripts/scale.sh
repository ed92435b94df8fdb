#!/usr/bin/env bash
# The load generator's scale and speed figures, from the shipped scenarios
# on the builtin server (release build; about 5 minutes on 2 cores):
#
#   scripts/scale.sh                 # all of them
#   scripts/scale.sh hold-50k        # one
#   scripts/scale.sh memory          # load generator bytes per added connection
#   scripts/scale.sh push-memory     # the same for push subscribers
#
# Results go to results/ as usual; the figures below are read from each
# run's summary.json, except the builtin server's peak resident memory,
# which the script samples from /proc while a scenario runs.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p wsbench >&2
scenarios=${*:-"push-fanout-10k hold-50k throughput-small-frames echo-open-model"}
for name in $scenarios; do
    echo "== $name" >&2
    if [ "$name" = memory ]; then
        # Resident memory of one load generator process holding 4,000 and
        # then 16,000 connections: the slope is the cost of one more
        # connection, without the process's fixed costs.
        tmp=$(mktemp -d)
        for n in 4000 16000; do
            sed -e "s/connections = 10000/connections = $n/" -e "s/name = \"connect-storm\"/name = \"memory-$n\"/" \
                scenarios/connect-storm.toml > "$tmp/memory-$n.toml"
            ./target/release/wsbench run "$tmp/memory-$n.toml" --results "$tmp" --quiet --workers 1 >/dev/null
        done
        python3 - "$tmp" <<'PY'
import glob, json, sys
per = {}
for f in glob.glob(sys.argv[1] + '/*-memory-*/summary.json'):
    p = json.load(open(f))['phases'][0]
    per[p['counters']['connections_opened']] = p['client_rss_per_conn']
a, b = sorted(per)
slope = (per[b] * b - per[a] * a) / (b - a)
print(f"load generator RSS per connection: {per[a]:.0f} B at {a}, {per[b]:.0f} B at {b}; {slope:.0f} B per added connection")
PY
        rm -rf "$tmp"
        continue
    fi
    if [ "$name" = push-memory ]; then
        # Resident memory of one load generator process holding 4,000 and
        # then 16,000 WebSocket push subscribers of a `wsbench serve` on
        # its own (1 msg/s), and the slope: the cost of one more subscriber.
        tmp=$(mktemp -d)
        ./target/release/wsbench serve --listen 127.0.0.1:0 --max-connections 30000 > "$tmp/serve.out" &
        serve=$!
        trap 'kill $serve 2>/dev/null || true' EXIT
        for _ in $(seq 50); do grep -q '^listening on' "$tmp/serve.out" && break; sleep 0.1; done
        addr=$(sed -n 's/^listening on //p' "$tmp/serve.out")
        [ -n "$addr" ] || { echo "push-memory: wsbench serve did not start" >&2; exit 1; }
        for n in 4000 16000; do
            cat > "$tmp/push-memory-$n.toml" <<EOF
schema_version = 1
name = "push-memory-$n"
description = "$n WebSocket push subscribers held 10 s, 1 msg/s: memory per subscriber"

[target]
url = "ws://$addr"

[load]
transports = ["websocket"]
connections = $n
ramp_rate = 5000
duration = "10s"
warmup = "1s"
source_addresses = 4

[workload]
kind = "push"
rate = 1
payload_size = 64
EOF
            ./target/release/wsbench run "$tmp/push-memory-$n.toml" --results "$tmp" --quiet --workers 1 --no-calibrate >/dev/null
        done
        kill $serve; wait $serve 2>/dev/null || true
        trap - EXIT
        python3 - "$tmp" <<'PY'
import glob, json, sys
per = {}
for f in glob.glob(sys.argv[1] + '/*-push-memory-*/summary.json'):
    p = json.load(open(f))['phases'][0]
    per[p['counters']['connections_opened']] = p['client_rss_per_conn']
a, b = sorted(per)
slope = (per[b] * b - per[a] * a) / (b - a)
print(f"load generator RSS per push subscriber: {per[a]:.0f} B at {a}, {per[b]:.0f} B at {b}; {slope:.0f} B per added subscriber")
PY
        rm -rf "$tmp"
        continue
    fi
    # The builtin server's resident memory: every `wsbench serve` process
    # (coordinator and workers) summed, sampled twice a second; the peak
    # is kept (fixed costs included, so an upper bound per connection).
    peak=$(mktemp)
    echo 0 > "$peak"
    (
        max=0
        while sleep 0.5; do
            kb=0
            for pid in $(pgrep -f 'target/release/wsbench serve' || true); do
                kb=$((kb + $(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)))
            done
            if [ "$kb" -gt "$max" ]; then max=$kb; echo "$max" > "$peak"; fi
        done
    ) &
    sampler=$!
    dir=$(./target/release/wsbench run "scenarios/$name.toml" --quiet | tee /dev/stderr | sed -n 's/^results: //p') || true
    kill $sampler 2>/dev/null || true
    wait $sampler 2>/dev/null || true
    [ -n "$dir" ] || dir=$(ls -d results/*-"$name" | tail -1)
    python3 - "$dir/summary.json" "$(cat "$peak")" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
server_peak_kb = int(sys.argv[2])
print(f"{s['scenario']}: load generator processes {s['environment']['workers']}, partial {s['partial']}")
for p in s['phases']:
    c = p['counters']
    line = [f"  {p['transport']:<10}"]
    for name in ('push_latency', 'echo_rtt', 'echo_rtt_uncorrected', 'throughput_rtt', 'handshake_time'):
        st = p['latency'].get(name)
        if st and st['count']:
            line.append(f"{name} p50/p99/p99.9 {st['p50']/1e6:.2f}/{st['p99']/1e6:.2f}/{st['p999']/1e6:.2f} ms")
    line.append(f"opened {c['connections_opened']} failed {c['connections_failed']}")
    line.append(f"delivered {c['delivered']} ratio {p['delivered_ratio']:.4f} lost {c['lost']}")
    line.append(f"{p['msg_rate']:.0f} msg/s")
    if c['delivered']:
        line.append(f"client CPU {p['client_cpu_s'] / c['delivered'] * 1e6:.2f} s per million msgs")
    if p.get('server_cpu_us_per_msg'):
        line.append(f"server {p['server_cpu_us_per_msg']:.2f} us/msg")
    if p.get('client_rss_per_conn') is not None:
        line.append(f"client RSS {p['client_rss_per_conn']:.0f} B/conn")
    if server_peak_kb and c['connections_opened'] and len(s['phases']) == 1:
        per = server_peak_kb * 1024 / c['connections_opened']
        line.append(f"server RSS peak {server_peak_kb / 1024:.0f} MiB ({per:.0f} B/conn, all processes, fixed costs included)")
    line.append(f"errors {sum(c['errors'].values())}")
    print(", ".join(line))
PY
    rm -f "$peak"
done
