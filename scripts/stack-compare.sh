#!/usr/bin/env bash
# Memory per idle connection and echo throughput of the WebSocket stacks
# (`wsbench serve --impl own|fastwebsockets|tokio-tungstenite`, and uWS
# echo_server when the uWebSockets peers can be built), and client
# memory per idle connection (wsbench-transport vs tokio-tungstenite).
# Loopback only; about a minute.
#
#   scripts/stack-compare.sh [IDLE=5000] [ECHO_CONNS=100] [SECONDS=10]
set -euo pipefail
cd "$(dirname "$0")/.."
idle=${1:-5000}
conns=${2:-100}
seconds=${3:-10}
cargo build --release -q -p wsbench --bin wsbench
cargo build --release -q -p wsbench-server --example stack_compare
# uWS echo_server in the servers' table too, when its peers can be built
# (scripts/uws-peers.sh; otherwise it says SKIPPED and why).
source scripts/uws-peers.sh
if uws_peers stack-compare; then
    export WSBENCH_UWS_ECHO=$PWD/$uws/echo_server
fi
bin=target/release/examples/stack_compare
echo "Measured $(date -u +%F) on $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores"
echo
"$bin" servers "$idle" "$conns" "$seconds"
echo
echo "| client | memory |"
echo "|---|---|"
"$bin" client own "$idle"
"$bin" client tungstenite "$idle"
