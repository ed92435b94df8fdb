#!/usr/bin/env bash
# Attacks on `wsbench serve`, each bounded in time, on loopback, with a
# normal echo client and a normal push subscriber measuring all along
# (scripts/chaos.py; the limits it asserts are in docs/reliability.md):
#
#   scripts/chaos.sh            every attack, the full durations (~1 min)
#   scripts/chaos.sh --short    shorter attacks (the test command runs this)
#   scripts/chaos.sh bombs      one attack: big-frames, pollers, bombs,
#                               slow-push, http
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p wsbench
exec python3 scripts/chaos.py target/release/wsbench "$@"
