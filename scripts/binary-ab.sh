#!/usr/bin/env bash
# Two builds of wsbench side by side as the server, interleaved run by run,
# server pinned to CPU 0 and client to CPU 1:
#   echo     100 connections x 1 in flight driven by uWS load_test: msg/s
#            (median of its 4 s windows after the first) and the server's
#            CPU µs per echo over those windows;
#   fanout   10,000 subscribers x 10 msg/s and 1,000 x 100 msg/s over
#            WebSocket, 10 s window each, driven by `wsbench run` of NEW:
#            the server's CPU µs per delivered message and the push p99;
#   client   each build as the load generator instead, against uWS
#            echo_server: `wsbench run`, 100 connections x 1 in flight
#            (throughput workload), 10 s window: msg/s and the load
#            generator's CPU µs per echo;
#   push-client  each build as the load generator over WebSocket against
#            NEW's server, 1,000 subscribers x 100 msg/s, 10 s window:
#            msg/s, the load generator's CPU µs per message, push p50;
#   poll-client  the same over long-poll;
# each run with the steal of the two CPUs over it (% of their time the
# hypervisor gave to other guests). Ends with the medians of the runs whose
# steal stayed under 2 %.
#
#   scripts/binary-ab.sh OLD NEW [ROUNDS=4]
#   AB_PARTS="echo client" scripts/binary-ab.sh OLD NEW   # only these parts
#
# AB_PARTS names the parts to run, of echo, fanout, client, push-client
# and poll-client (default: all five).
#
# OLD and NEW are wsbench binaries, e.g. an older commit's:
#   git worktree add /tmp/old COMMIT && (cd /tmp/old && cargo build --release -p wsbench)
#   scripts/binary-ab.sh /tmp/old/target/release/wsbench target/release/wsbench
# Needs target/uws/load_test (scripts/peer-compare.sh builds it) and taskset.
set -euo pipefail
cd "$(dirname "$0")/.."
if (($# < 2)); then
    sed -n '2,/^set /p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
    exit 2
fi
old=$(realpath "$1") new=$(realpath "$2") rounds=${3:-4}
all="echo fanout client push-client poll-client"
parts=" ${AB_PARTS:-$all} "
for p in $parts; do
    [[ " $all " == *" $p "* ]] || { echo "binary-ab: AB_PARTS: no part '$p' (of $all)" >&2; exit 2; }
done
want() { [[ $parts == *" $1 "* ]]; }
uws=target/uws
[[ -x $uws/load_test ]] || { echo "binary-ab: no $uws/load_test: run scripts/peer-compare.sh --smoke first" >&2; exit 2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
tck=$(getconf CLK_TCK)
steal() { awk '/^cpu[01] /{s+=$9} END{print s}' /proc/stat; }
cpu() { awk '{print $14+$15}' "/proc/$1/stat"; }
listening() { grep -q '^listening' "$tmp/serve.log"; }
accepting() { (exec 3<> "/dev/tcp/127.0.0.1/$port") 2> /dev/null; }
# start READY NAME CMD...: runs CMD pinned to CPU 0 on a free port below
# the ephemeral range (a client's port there could hold it), given to it
# as PORT and in place of @PORT@ in its arguments, until READY says it is
# up; sets pid and port.
start() {
    local ready=$1 name=$2
    shift 2
    for _ in 1 2 3 4 5; do
        port=$((20000 + RANDOM % 12000))
        PORT=$port taskset -c 0 "${@//@PORT@/$port}" > "$tmp/serve.log" 2>&1 &
        pid=$!
        for _ in $(seq 50); do
            "$ready" && return 0
            kill -0 "$pid" 2> /dev/null || break
            sleep 0.1
        done
        kill "$pid" 2> /dev/null || true
        wait "$pid" 2> /dev/null || true
    done
    echo "binary-ab: $name did not start: $(cat "$tmp/serve.log")" >&2
    exit 1
}
# Binary $1 as the server.
serve() { start listening "$1 serve" "$1" serve --listen "127.0.0.1:@PORT@"; }
# uWS echo_server, against which each build runs as the load generator.
serve_uws() { start accepting "uWS echo_server" "$uws/echo_server"; }
# Stops the server, which must have lived through the run.
stop() {
    if ! kill "$pid" 2> /dev/null; then
        echo "binary-ab: the $1 server exited during the run: $(cat "$tmp/serve.log")" >&2
        exit 1
    fi
    wait "$pid" 2> /dev/null || true
}
# client_run ROW V BIN SERVER: BIN as the load generator of $tmp/s.toml
# against SERVER on $port, which is stopped after; records the rate, the
# load generator's CPU µs per message and the push p50 (ms; 0 without
# push).
client_run() {
    rm -rf "$tmp/r"
    taskset -c 1 "$3" run "$tmp/s.toml" --quiet --no-calibrate --server-pid "$pid" --results "$tmp/r" > /dev/null 2>&1 || true
    stop "$4 (client $2)"
    python3 - "$tmp/r" "$1" "$2" <<'PY' | tee -a "$tmp/all"
import glob, json, sys
row, v = sys.argv[2], sys.argv[3]
found = glob.glob(sys.argv[1] + "/*/summary.json")
if not found:
    sys.exit(f"binary-ab: the {row} run of {v} wrote no summary")
p = json.load(open(found[0]))["phases"][0]
received = max(p["counters"]["received"], 1)
push = p["latency"].get("push_latency")
print(f"{row} {v} {p['msg_rate']:.0f} {p['client_cpu_s'] * 1e6 / received:.2f} "
      f"{100 * (p['health'].get('steal_share') or 0):.1f} {push['p50'] / 1e6 if push else 0:.2f}")
PY
}
for _ in $(seq "$rounds"); do
    want echo && for v in old new; do
        bin=$old; [[ $v == new ]] && bin=$new
        serve "$bin"; sleep 0.3
        s0=$(steal); t0=$(date +%s.%N)
        timeout 17 taskset -c 1 stdbuf -oL $uws/load_test 100 127.0.0.1 $port 0 0 20 2> /dev/null |
            grep --line-buffered -o "Msg/sec: [0-9.]*" |
            while read -r _ rate; do echo "$rate $(cpu "$pid")"; done > "$tmp/echo" || true
        s1=$(steal); t1=$(date +%s.%N)
        stop "$v"
        python3 - "$tmp/echo" "$v" "$tck" "$((s1 - s0))" "$t0" "$t1" <<'PY' | tee -a "$tmp/all"
import statistics, sys
f, v, tck, st, t0, t1 = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]), float(sys.argv[6])
rows = [l.split() for l in open(f)]
rates = [float(r) for r, _ in rows[1:]]
if not rates:
    sys.exit(f"binary-ab: load_test printed too little for {v}")
cpu_us = (int(rows[-1][1]) - int(rows[0][1])) / tck * 1e6 / (sum(rates) * 4)
print(f"echo {v} {statistics.median(rates):.0f} {cpu_us:.2f} {100 * st / tck / (t1 - t0) / 2:.1f}")
PY
    done
    want fanout && for shape in "10000 10" "1000 100"; do
      read -r conns rate <<< "$shape"
      for v in old new; do
        bin=$old; [[ $v == new ]] && bin=$new
        serve "$bin"; sleep 0.3
        printf 'schema_version = 1\nname = "ab"\n[target]\nurl = "http://127.0.0.1:%s"\n[load]\ntransports = ["websocket"]\nconnections = %s\nramp_rate = 5000\nduration = "10s"\nwarmup = "2s"\n[workload]\nkind = "push"\nrate = %s\npayload_size = 20\n' $port $conns $rate > "$tmp/s.toml"
        rm -rf "$tmp/r"
        taskset -c 1 "$new" run "$tmp/s.toml" --quiet --no-calibrate --server-pid "$pid" --results "$tmp/r" > /dev/null 2>&1 || true
        stop "$v"
        python3 - "$tmp/r" "$v" "fanout-${conns}x$rate" <<'PY' | tee -a "$tmp/all"
import glob, json, sys
found = glob.glob(sys.argv[1] + "/*/summary.json")
if not found:
    sys.exit(f"binary-ab: the fan-out run of {sys.argv[2]} wrote no summary")
p = json.load(open(found[0]))["phases"][0]
print(f"{sys.argv[3]} {sys.argv[2]} {p['server_cpu_us_per_msg']:.2f} {p['latency']['push_latency']['p99'] / 1e6:.1f} "
      f"{100 * (p['health'].get('steal_share') or 0):.1f}")
PY
      done
    done
    want client && for v in old new; do
        bin=$old; [[ $v == new ]] && bin=$new
        serve_uws; sleep 0.3
        printf 'schema_version = 1\nname = "ab"\n[target]\nurl = "http://127.0.0.1:%s"\n[load]\ntransports = ["websocket"]\nconnections = 100\nramp_rate = 5000\nduration = "10s"\nwarmup = "1s"\n[workload]\nkind = "throughput"\nin_flight = 1\npayload_size = 20\npayload = "binary"\n' $port > "$tmp/s.toml"
        client_run client "$v" "$bin" "uWS echo_server"
    done
    for transport in websocket long-poll; do
        part=push-client; [[ $transport == long-poll ]] && part=poll-client
        want $part && for v in old new; do
            bin=$old; [[ $v == new ]] && bin=$new
            serve "$new"; sleep 0.3
            printf 'schema_version = 1\nname = "ab"\n[target]\nurl = "http://127.0.0.1:%s"\n[load]\ntransports = ["%s"]\nconnections = 1000\nramp_rate = 5000\nduration = "10s"\nwarmup = "3s"\n[workload]\nkind = "push"\nrate = 100\npayload_size = 20\n' $port $transport > "$tmp/s.toml"
            client_run $part "$v" "$bin" "wsbench serve"
        done
    done
done
python3 - "$tmp/all" <<'PY'
import statistics, sys
runs = [l.split() for l in open(sys.argv[1])]
print("\nmedians of the runs with steal under 2 % (n = runs kept):")
fanout = ("server µs/msg", "p99 ms")
for what, cols in (("echo", ("msg/s", "server µs/echo")), ("fanout-10000x10", fanout), ("fanout-1000x100", fanout),
                   ("client", ("msg/s", "client µs/echo")), ("push-client", ("msg/s", "client µs/msg", "p50 ms")),
                   ("poll-client", ("msg/s", "client µs/msg", "p50 ms"))):
    for v in ("old", "new"):
        kept = [r for r in runs if r[0] == what and r[1] == v and float(r[4]) < 2.0]
        if not kept:
            print(f"{what} {v}: no quiet run")
            continue
        # Columns 2 and 3, the steal in 4, any further ones from 5.
        at = [2, 3, 5, 6][:len(cols)]
        cells = [f"{c} {statistics.median(float(r[i]) for r in kept):.2f} "
                 f"({min(float(r[i]) for r in kept):.2f}-{max(float(r[i]) for r in kept):.2f})"
                 for c, i in zip(cols, at)]
        print(f"{what} {v} (n={len(kept)}): " + ", ".join(cells))
PY
