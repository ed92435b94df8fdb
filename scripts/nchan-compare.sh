#!/usr/bin/env bash
# Push over WebSocket, long-poll and SSE from nginx with Nchan, and the same scenario
# (connections, rate, duration, payload) from the builtin server, back to
# back: one table per target.
#
#   scripts/nchan-compare.sh [RUNS]     (default 1 run of each, interleaved)
#
# Needs nginx-light and libnginx-mod-nchan (Debian); nginx runs from
# tests/nchan/nginx.conf on a free loopback port in a scratch folder.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-1}
for f in /usr/sbin/nginx /usr/lib/nginx/modules/ngx_nchan_module.so; do
    [[ -e $f ]] || { echo "missing $f: apt-get install nginx-light libnginx-mod-nchan" >&2; exit 3; }
done
cargo build --release -q -p wsbench
tmp=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$tmp/tmp"
sed "s/127.0.0.1:8080/127.0.0.1:$port/" tests/nchan/nginx.conf > "$tmp/nginx.conf"
nginx -p "$tmp" -c "$tmp/nginx.conf" 2> "$tmp/nginx.log" &
nginx_pid=$!
disown
trap 'kill $nginx_pid 2>/dev/null; rm -rf "$tmp"' EXIT
for _ in $(seq 100); do
    (echo > "/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.05
done
sed "s/127.0.0.1:8080/127.0.0.1:$port/g" scenarios/nchan-push-compare.toml > "$tmp/nchan.toml"
# The builtin twin: the same file with the target replaced.
python3 - scenarios/nchan-push-compare.toml "$tmp/builtin.toml" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
text = re.sub(r'\[target\].*?(?=\[load\])', '[target]\nbuiltin = true\n\n', text, flags=re.S)
text = text.replace('name = "nchan-push-compare"', 'name = "nchan-twin-builtin"')
open(sys.argv[2], 'w').write(text)
PY
for i in $(seq "$runs"); do
    for s in nchan builtin; do
        ./target/release/wsbench run "$tmp/$s.toml" --results "$tmp/results-$s" --quiet --no-calibrate > /dev/null || true
    done
done
python3 - "$tmp" <<'PY'
import glob, json, sys
for s in ("nchan", "builtin"):
    print(f"\n{s}:\n")
    print("| transport | p50 ms | p99 ms | p99.9 ms | delivered | lost | B/msg | req/msg | harness |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---|")
    for f in sorted(glob.glob(f"{sys.argv[1]}/results-{s}/*/summary.json")):
        for p in json.load(open(f))["phases"]:
            lat = p["latency"]["push_latency"]
            c = p["counters"]
            ms = lambda k: f"{lat[k] / 1e6:.2f}"
            print(f"| {p['transport']} | {ms('p50')} | {ms('p99')} | {ms('p999')} | {c['delivered']} "
                  f"| {c['lost']} | {p['bytes_per_msg']:.1f} | {p['requests_per_msg']:.3f} "
                  f"| {p['health']['verdict']} |")
PY
