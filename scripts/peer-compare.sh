#!/usr/bin/env bash
# wsbench against the uWebSockets peers (../shared/peers/uws), side by side:
# push fan-out (10,000 x 10 msg/s and 1,000 x 100 msg/s over WebSocket),
# echo at 1 and 32 in flight on the three --impl stacks, and the load
# generator against uWS load_test, each echo also against the tokio floor
# (the least a tokio program does per echo, benches/examples/tokio_floor.rs)
# and each push also driven by the push floor (the least a tokio subscriber
# does per message, benches/examples/push_floor.rs), over WebSocket against
# both servers;
# servers pinned to CPU 0, clients to CPU 1.
# Prints Markdown tables (median and spread of RUNS runs) and the goals
# with verdicts (docs/performance.md keeps the latest).
#
#   scripts/peer-compare.sh [RUNS=3]     about 8 minutes per run
#   scripts/peer-compare.sh --smoke      seconds; no goals judged (test command)
#
# Needs a C/C++ compiler and zlib headers for the peers (Debian:
# build-essential zlib1g-dev); without them it says SKIPPED and exits 0.
set -euo pipefail
cd "$(dirname "$0")/.."
smoke=""
runs=3
case "${1:-}" in
    --smoke) smoke=--smoke; runs=1 ;;
    "") ;;
    *) runs=$1 ;;
esac
for need in taskset stdbuf; do
    if ! command -v "$need" > /dev/null; then
        echo "peer-compare: SKIPPED: $need not found (apt-get install util-linux coreutils)" >&2
        exit 0
    fi
done
if (($(nproc) < 2)); then
    echo "peer-compare: SKIPPED: needs 2 cores to pin server and client apart, have $(nproc)" >&2
    exit 0
fi
# The peers' sources are not in this repository: WSBENCH_UWS_PEERS names
# a folder with their build.sh (default ../shared/peers/uws).
source scripts/uws-peers.sh
uws_peers peer-compare || exit 0
cargo build --release -q -p wsbench
# The tokio floors: a contender in the echo tables (benches/examples/tokio_floor.rs)
# and a load generator in the push tables (benches/examples/push_floor.rs).
cargo build --release -q -p wsbench-benches --example tokio_floor --example push_floor
echo "Measured $(date -u +%F) at $(git rev-parse --short HEAD) on $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores; $runs run(s)"
python3 scripts/peer_compare.py "$uws" "$runs" $smoke
