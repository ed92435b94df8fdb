#!/usr/bin/env bash
# The floors (benches/examples/push_floor.rs and tokio_floor.rs) in several
# variants side by side, interleaved round by round, server pinned to CPU 0
# and client to CPU 1:
#
#   scripts/floor-ab.sh push CONNS RATE [ROUNDS=3] [VARIANT...]
#   scripts/floor-ab.sh echo [ROUNDS=3] [VARIANT...]
#   scripts/floor-ab.sh echo-client [ROUNDS=3] [VARIANT...]
#
# push: the push floor over WebSocket as the client, each run against a
#   `wsbench serve` of its own, 10 s window after its 3 s warm-up, every
#   message timed. A VARIANT is `tokio` (the floor as peer-compare.sh runs
#   it) or the floor's flags joined by `+`: `--epoll`, `--delayed-ack`,
#   `--epoll+--delayed-ack` (default: all four); `uws:` before a VARIANT
#   (`uws:tokio`, `uws:--epoll`) runs it against uWS push_hub instead (needs
#   target/uws). Figures: the client's µs per message, the push p50 and
#   p99 (ms).
# echo: uWS load_test as the client, CONNS connections x 1 in flight, 16 s,
#   against a VARIANT of server: `uws` (uWS echo_server), `own` (`wsbench
#   serve`), `tokio` (the tokio floor's server), or the floor's server
#   with one flag: `--epoll` (without tokio) or `--codec` (the codec's
#   connection doing the WebSocket work) (default: uws, tokio, --epoll).
#   Figures: echoes a second (median of load_test's 4 s windows after the
#   first) and the server's CPU µs per echo (median over the same windows,
#   read as peer-compare reads it: scripts/peer_compare.py's load_test).
#   Needs target/uws (scripts/peer-compare.sh builds it).
# echo-client: a VARIANT of client, CONNS connections x 1 in flight, against
#   uWS echo_server: `load_test` (uWS load_test, its 4 s windows after the
#   first), `run` (`wsbench run`, peer-compare.sh's echo scenario, 12 s
#   after a 1 s warm-up), or the tokio floor's client for 12 s after a 1 s
#   warm-up, `tokio` or with its flags joined by `+` (`--epoll`,
#   `--codec`, `--timed`, `--epoll+--timed`, `--codec+--timed`) (default:
#   load_test, tokio, --epoll, --timed, --epoll+--timed). Figures: echoes a
#   second, the client's CPU µs per echo (load_test's from /proc over its
#   windows, the others' own) and echoes a second per client core (10⁶
#   over the µs).
#
# CONNS (echo, echo-client): the connections, 100 unless set.
#
# Each round runs every variant once, starting from the next one each
# round. Prints each run, then each variant's median (lowest-highest), with
# the steal of the two CPUs over each run (runs with 2 % or more are left
# out), and each variant's first figure (push: and its p99; echo-client:
# and its echoes a second per client core) against the first VARIANT's in
# the same round:
# the median of those ratios, their range, and in how many rounds it was
# higher.
set -euo pipefail
cd "$(dirname "$0")/.."
usage() {
    sed -n '2,/^set /p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
    exit 2
}
mode=${1:-}
uws=target/uws
case $mode in
    push)
        (($# >= 3)) || usage
        conns=$2 rate=$3 rounds=${4:-3}
        shift $(($# < 4 ? $# : 4))
        variants=("$@")
        ((${#variants[@]})) || variants=(tokio --epoll --delayed-ack --epoll+--delayed-ack)
        cols=("client µs/msg" "p50 ms" "p99 ms")
        ;;
    echo | echo-client)
        conns=${CONNS:-100}
        rounds=${2:-3}
        shift $(($# < 2 ? $# : 2))
        variants=("$@")
        if [[ $mode == echo ]]; then
            ((${#variants[@]})) || variants=(uws tokio --epoll)
            cols=("msg/s" "server µs/echo")
        else
            ((${#variants[@]})) || variants=(load_test tokio --epoll --timed --epoll+--timed)
            cols=("msg/s" "client µs/echo" "msg/s per client core")
        fi
        [[ -x $uws/load_test && -x $uws/echo_server ]] ||
            { echo "floor-ab: no $uws/load_test or echo_server: run scripts/peer-compare.sh --smoke first" >&2; exit 2; }
        ;;
    *) usage ;;
esac
cargo build --release -q -p wsbench -p wsbench-benches --bin wsbench --example push_floor --example tokio_floor
tmp=$(mktemp -d)
pid=
cleanup() {
    [[ -n $pid ]] && kill "$pid" 2> /dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT
tck=$(getconf CLK_TCK)
steal() { awk '/^cpu[01] /{s+=$9} END{print s}' /proc/stat; }
accepting() { (exec 3<> "/dev/tcp/127.0.0.1/$port") 2> /dev/null; }
# start CMD...: CMD pinned to CPU 0 on a free port (given as PORT and in
# place of @PORT@), until it accepts connections; sets pid and port.
start() {
    port=$((20000 + RANDOM % 12000))
    PORT=$port taskset -c 0 "${@//@PORT@/$port}" > "$tmp/serve.log" 2>&1 &
    pid=$!
    for _ in $(seq 50); do
        accepting && return 0
        sleep 0.1
    done
    echo "floor-ab: $1 did not start: $(cat "$tmp/serve.log")" >&2
    exit 1
}
stop() {
    kill "$pid" 2> /dev/null && wait "$pid" 2> /dev/null || true
    pid=
}
# push_run VARIANT: the push floor's figures.
push_run() {
    local flags=() v=$1 server=(target/release/wsbench serve --listen "127.0.0.1:@PORT@")
    if [[ $v == uws:* ]]; then
        [[ -x $uws/push_hub ]] ||
            { echo "floor-ab: no $uws/push_hub: run scripts/peer-compare.sh --smoke first" >&2; exit 2; }
        server=("$uws/push_hub") v=${v#uws:}
    fi
    [[ $v == tokio ]] || IFS=+ read -r -a flags <<< "$v"
    start "${server[@]}"
    out=$(taskset -c 1 target/release/examples/push_floor websocket "$port" "$conns" "$rate" 10 --timed "${flags[@]}" 2>&1) ||
        { echo "floor-ab: the $1 floor failed: $out" >&2; exit 1; }
    stop
    echo "$out" | awk '/client us\/msg/{u=$3} /p50 ms/{a=$3} /p99 ms/{b=$3} END{print u, a, b}'
}
# load_test_figures: uWS load_test against the server on $port, read by
# peer-compare's runner (scripts/peer_compare.py): its echoes a second, its
# CPU µs per echo, and the server's ($pid's).
load_test_figures() {
    python3 - "$uws" "$port" "$conns" "$pid" <<'PY' || { echo "floor-ab: load_test failed" >&2; exit 1; }
import sys
sys.path.insert(0, "scripts")
import peer_compare as pc
uws, port, conns, pid = sys.argv[1:]
got = pc.load_test(uws, int(port), int(conns), 17, int(pid))
if None in (got["client µs/msg"], got["server µs/msg"]):
    sys.exit("floor-ab: load_test printed too little")
print(f"{got['msg/s']:.0f} {got['client µs/msg']:.3f} {got['server µs/msg']:.2f}")
PY
    stop
}
# echo_run VARIANT: load_test's echoes a second and the server's CPU per echo.
echo_run() {
    case $1 in
        uws) start "$uws/echo_server" ;;
        own) start target/release/wsbench serve --listen "127.0.0.1:@PORT@" ;;
        tokio) start target/release/examples/tokio_floor server @PORT@ ;;
        *) start target/release/examples/tokio_floor server @PORT@ "$1" ;;
    esac
    load_test_figures | awk '{print $1, $3}'
}
# run_echo: `wsbench run`'s echoes a second, its CPU per echo and its
# echoes a second per client core against the server on $port
# (peer-compare's echo scenario and runner: scripts/peer_compare.py).
run_echo() {
    python3 - "$tmp" "$port" "$pid" "$conns" <<'PY' || { echo "floor-ab: wsbench run failed" >&2; exit 1; }
import sys
sys.path.insert(0, "scripts")
import peer_compare as pc
tmp, port, pid, conns = sys.argv[1:]
phase = pc.run_scenario(tmp, int(port), int(pid), pc.echo_body(int(conns), 1, 12))
us = pc.echo_client_us(phase)
if not us:
    sys.exit("floor-ab: wsbench run received no echo")
print(f"{phase['msg_rate']:.0f} {us:.3f} {1e6 / us:.0f}")
PY
    stop
}
# echo-client_run VARIANT: the client's echoes a second, CPU µs per echo and
# echoes a second per client core against uWS echo_server.
echo-client_run() {
    start "$uws/echo_server"
    if [[ $1 == load_test ]]; then
        load_test_figures | awk '{printf "%s %s %.0f\n", $1, $2, 1e6 / $2}'
        return
    fi
    if [[ $1 == run ]]; then
        run_echo
        return
    fi
    local flags=()
    [[ $1 == tokio ]] || IFS=+ read -r -a flags <<< "$1"
    out=$(taskset -c 1 target/release/examples/tokio_floor client "$port" "$conns" 12 "${flags[@]}" 2>&1) ||
        { echo "floor-ab: the $1 client failed: $out" >&2; exit 1; }
    stop
    echo "$out" | awk '/^msg\/s/{r=$2} /^client us\/msg/{u=$3} END{printf "%s %s %.0f\n", r, u, 1e6 / u}'
}
# Round k starts with the k-th variant (the order turns each round): the
# first place of a round goes to each variant in turn. (Who runs right
# before whom stays: the order turns, it is not shuffled.)
n=${#variants[@]}
for round in $(seq 0 $((rounds - 1))); do
    for j in $(seq 0 $((n - 1))); do
        v=${variants[$(((round + j) % n))]}
        s0=$(steal) t0=$(date +%s.%N)
        figures=$("${mode}_run" "$v")
        s1=$(steal) t1=$(date +%s.%N)
        st=$(python3 -c "print(f'{100 * $((s1 - s0)) / $tck / ($t1 - $t0) / 2:.1f}')")
        echo "$v $figures $st" | tee -a "$tmp/all"
        echo "$round" >> "$tmp/rounds"
    done
done
python3 - "$tmp/all" "$tmp/rounds" "$mode" "${cols[@]}" <<'PY'
import statistics, sys
runs = [l.split() for l in open(sys.argv[1])]
rounds = [int(l) for l in open(sys.argv[2])]
mode, cols = sys.argv[3], sys.argv[4:]
print(f"\n{mode}: medians of the runs with steal under 2 %:")
for v in dict.fromkeys(r[0] for r in runs):
    kept = [r for r in runs if r[0] == v and float(r[-1]) < 2.0]
    if not kept:
        print(f"{v}: no quiet run")
        continue
    cells = [f"{name} {statistics.median(float(r[i]) for r in kept):.2f} "
             f"({min(float(r[i]) for r in kept):.2f}-{max(float(r[i]) for r in kept):.2f})"
             for i, name in enumerate(cols, 1)]
    print(f"{v} (n={len(kept)}): " + ", ".join(cells))
# Each variant against the first, round by round (both runs quiet): the
# machine's drift between rounds cancels out of a pair.
variants = list(dict.fromkeys(r[0] for r in runs))
ref = variants[0]
by_round = {}
for k, r in zip(rounds, runs):
    if float(r[-1]) < 2.0:
        by_round.setdefault(k, {})[r[0]] = [float(x) for x in r[1:-1]]
# The first figure, and the p99 or the echoes per client core too.
paired = [0] + [i for i, c in enumerate(cols) if i and (c == "p99 ms" or c.endswith("per client core"))]
for i in paired if len(variants) > 1 else []:
    print(f"\n{cols[i]}, each variant / {ref} in the same round:")
    for v in variants[1:]:
        pairs = [f[v][i] / f[ref][i] for f in by_round.values()
                 if v in f and ref in f and f[ref][i] > 0]
        if not pairs:
            print(f"{v}: no round with both runs quiet")
            continue
        above = sum(p > 1 for p in pairs)
        print(f"{v}: {statistics.median(pairs):.2f} ({min(pairs):.2f}-{max(pairs):.2f}), "
              f"higher in {above} of {len(pairs)} rounds")
PY
