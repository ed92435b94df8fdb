#!/usr/bin/env bash
# Runs the Autobahn TestSuite cases (kosoku) against both sides of
# wsbench-transport and compares the outcome with the committed expectation.
#
#   scripts/autobahn.sh                 # server and client
#   scripts/autobahn.sh server|client   # one side
#   AUTOBAHN_UPDATE=1 scripts/autobahn.sh   # rewrite tests/autobahn/expected-*.json
#
# Server: `kosoku -m fuzzingclient` drives `wsbench serve` (echo on /).
# Client: `kosoku -m fuzzingserver` is driven by the autobahn_client example.
# Reports land in target/autobahn/{server,client}/ (open index.html).
set -euo pipefail
cd "$(dirname "$0")/.."

sides=${1:-server client}
venv=.venv

if [[ ! -x $venv/bin/kosoku ]]; then
    echo "==> installing kosoku into $venv" >&2
    rm -rf "$venv"
    if ! python3 -m venv "$venv" 2>/dev/null; then
        # Debian splits venv support out of python3.
        sudo=""
        [[ $(id -u) != 0 ]] && sudo=sudo
        echo "==> installing python3-venv" >&2
        $sudo apt-get update -qq && $sudo apt-get install -y -qq python3-venv >/dev/null
        rm -rf "$venv"
        python3 -m venv "$venv"
    fi
    "$venv/bin/pip" install --quiet --disable-pip-version-check kosoku
fi

cargo build --release -q -p wsbench --bin wsbench
cargo build --release -q -p wsbench-transport --example autobahn_client

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

status=0
for side in $sides; do
    out=target/autobahn/$side
    rm -rf "$out"
    mkdir -p "$out"
    port=$(free_port)
    case $side in
    server)
        target/release/wsbench serve --listen "127.0.0.1:$port" >"$out/serve.log" 2>&1 &
        pids+=($!)
        for _ in $(seq 100); do
            grep -q "listening on" "$out/serve.log" 2>/dev/null && break
            sleep 0.1
        done
        echo "==> Autobahn server cases against wsbench serve on 127.0.0.1:$port" >&2
        # kosoku exits 1 when a case fails; the comparison below reports it.
        timeout 1800 "$venv/bin/kosoku" -m fuzzingclient "127.0.0.1:$port" \
            -p 2 -o "$out" >"$out/kosoku.log" 2>&1 || true
        ;;
    client)
        "$venv/bin/kosoku" -m fuzzingserver "127.0.0.1:$port" -o "$out" \
            >"$out/kosoku.log" 2>&1 &
        pids+=($!)
        kosoku_pid=$!
        for _ in $(seq 100); do
            grep -q "listening" "$out/kosoku.log" 2>/dev/null && break
            sleep 0.1
        done
        echo "==> Autobahn client cases: wsbench-transport client against kosoku on 127.0.0.1:$port" >&2
        # Two cases at once, as the server cases run (-p 2).
        timeout 1800 target/release/examples/autobahn_client "ws://127.0.0.1:$port" wsbench 2 \
            2>"$out/driver.log" || true
        timeout 60 tail --pid="$kosoku_pid" -f /dev/null || true
        ;;
    *)
        echo "unknown side $side (server or client)" >&2
        exit 2
        ;;
    esac
    args=(--side "$side" --reports "$out" --expected "tests/autobahn/expected-$side.json")
    [[ -n ${AUTOBAHN_UPDATE:-} ]] && args+=(--update)
    python3 scripts/autobahn-summary.py "${args[@]}" || status=1
done
exit $status
