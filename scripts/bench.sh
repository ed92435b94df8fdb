#!/usr/bin/env bash
# Runs the codec benches ROUNDS times (default 3), saving each round as a
# criterion baseline (round1, round2, ...), then prints the tables and the
# target checks from the minimum of medians over the rounds.
#
#   scripts/bench.sh            # 3 rounds of everything (~35 minutes on 2 cores)
#   scripts/bench.sh 5 mask/    # 5 rounds of the benches whose id matches mask/
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
filter=${2:-}
# Rounds from an earlier invocation (other code) must not mix in.
find target/criterion -mindepth 2 -type d -name 'round*' -prune -exec rm -rf {} + 2>/dev/null || true
for i in $(seq 1 "$rounds"); do
    echo "round $i of $rounds" >&2
    cargo bench -p wsbench-benches -- --save-baseline "round$i" ${filter:+"$filter"} >/dev/null
done
python3 scripts/bench-table.py --rounds "$rounds"
