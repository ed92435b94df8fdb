#!/usr/bin/env bash
# Runs the codec benches ROUNDS times (default 3), saving each round as a
# criterion baseline (round1, round2, ...), then prints the tables and the
# target checks from the minimum of medians over the rounds.
#
#   scripts/bench.sh            # 3 rounds of everything (~50 minutes on 2 cores)
#   scripts/bench.sh 5 mask/    # 5 rounds of the benches whose id matches mask/
set -euo pipefail
cd "$(dirname "$0")/.."
# criterion finds its output folder through `cargo metadata`, which fails
# while a manifest in the workspace is being edited; pin it.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
rounds=${1:-3}
filter=${2:-}
# Rounds from an earlier invocation (other code) must not mix in.
find target/criterion -mindepth 2 -type d -name 'round*' -prune -exec rm -rf {} + 2>/dev/null || true
for i in $(seq 1 "$rounds"); do
    echo "round $i of $rounds" >&2
    cargo bench -p wsbench-benches -- --save-baseline "round$i" ${filter:+"$filter"} >/dev/null
done
python3 scripts/bench-table.py --criterion-dir "$CARGO_TARGET_DIR/criterion" --rounds "$rounds"
