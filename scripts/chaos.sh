#!/usr/bin/env bash
# Attacks on `wsbench serve`, each bounded in time, on loopback, with a
# normal echo client and a normal push subscriber measuring all along
# (scripts/chaos.py; the limits it asserts are in docs/reliability.md):
#
#   scripts/chaos.sh            every attack, the full durations (~1.5 min)
#   scripts/chaos.sh --short    shorter attacks (the test command runs this)
#   scripts/chaos.sh bombs      some attacks by name (scripts/chaos.py lists
#                               them)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p wsbench
exec python3 scripts/chaos.py target/release/wsbench "$@"
