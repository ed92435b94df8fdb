#!/usr/bin/env bash
# The push floor (benches/examples/push_floor.rs) over WebSocket in several
# variants side by side, interleaved round by round, each against a
# `wsbench serve` of its own pinned to CPU 0, the floor on CPU 1, 10 s
# windows after its 3 s warm-up, every message timed:
#
#   scripts/floor-ab.sh CONNS RATE [ROUNDS=3] [VARIANT...]
#
# A VARIANT is `tokio` (the floor as peer-compare.sh runs it) or the
# floor's flags joined by `+`, e.g. `--epoll`, `--delayed-ack`,
# `--epoll+--delayed-ack` (default: all four). Prints each run, then each
# variant's median (lowest-highest) of the client's µs per message and of
# the push p50 and p99, with the steal of the two CPUs over each run (runs
# with 2 % or more are left out of the medians).
set -euo pipefail
cd "$(dirname "$0")/.."
if (($# < 2)); then
    sed -n '2,/^set /p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
    exit 2
fi
conns=$1 rate=$2 rounds=${3:-3}
shift $(($# < 3 ? $# : 3))
variants=("$@")
((${#variants[@]})) || variants=(tokio --epoll --delayed-ack --epoll+--delayed-ack)
cargo build --release -q -p wsbench -p wsbench-benches --example push_floor
tmp=$(mktemp -d)
pid=
cleanup() {
    [[ -n $pid ]] && kill "$pid" 2> /dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT
tck=$(getconf CLK_TCK)
steal() { awk '/^cpu[01] /{s+=$9} END{print s}' /proc/stat; }
for _ in $(seq "$rounds"); do
    for v in "${variants[@]}"; do
        flags=()
        [[ $v == tokio ]] || IFS=+ read -r -a flags <<< "$v"
        port=$((20000 + RANDOM % 12000))
        taskset -c 0 target/release/wsbench serve --listen "127.0.0.1:$port" > "$tmp/serve.log" 2>&1 &
        pid=$!
        for _ in $(seq 50); do
            grep -q '^listening' "$tmp/serve.log" && break
            sleep 0.1
        done
        s0=$(steal) t0=$(date +%s.%N)
        out=$(taskset -c 1 target/release/examples/push_floor websocket "$port" "$conns" "$rate" 10 --timed "${flags[@]}" 2>&1) ||
            { echo "floor-ab: the $v floor failed: $out" >&2; exit 1; }
        s1=$(steal) t1=$(date +%s.%N)
        kill "$pid" && wait "$pid" 2> /dev/null || true
        pid=
        st=$(python3 -c "print(f'{100 * $((s1 - s0)) / $tck / ($t1 - $t0) / 2:.1f}')")
        echo "$v $(echo "$out" | awk '/client us\/msg/{u=$3} /p50 ms/{a=$3} /p99 ms/{b=$3} END{print u, a, b}') $st" |
            tee -a "$tmp/all"
    done
done
python3 - "$tmp/all" "$conns" "$rate" <<'PY'
import statistics, sys
runs = [l.split() for l in open(sys.argv[1])]
print(f"\n{sys.argv[2]} subscribers x {sys.argv[3]} msg/s, medians of the runs with steal under 2 %:")
for v in dict.fromkeys(r[0] for r in runs):
    kept = [r for r in runs if r[0] == v and float(r[4]) < 2.0]
    if not kept:
        print(f"{v}: no quiet run")
        continue
    cells = [f"{name} {statistics.median(float(r[i]) for r in kept):.2f} "
             f"({min(float(r[i]) for r in kept):.2f}-{max(float(r[i]) for r in kept):.2f})"
             for name, i in (("client µs/msg", 1), ("p50 ms", 2), ("p99 ms", 3))]
    print(f"{v} (n={len(kept)}): " + ", ".join(cells))
PY
