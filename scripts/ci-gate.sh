#!/usr/bin/env bash
# The regression gate a CI job runs: run a scenario a few times, compare
# the repetitions with a committed baseline, write the report.
#
#   scripts/ci-gate.sh                   # scenarios/ci-gate.toml vs results/baseline/ci-gate
#   scripts/ci-gate.sh SCENARIO BASELINE # another scenario and baseline folder
#   scripts/ci-gate.sh --save [SCENARIO BASELINE]   # (re)record the baseline instead
#
# Environment: REPS (repetitions, default 3), MAX_REGRESSION (the gate's
# limits), OUT (working folder, default target/ci-gate). On GitHub Actions
# the comparison is appended to $GITHUB_STEP_SUMMARY; upload $OUT (runs,
# report.html, charts) as the job's artifact.
#
# Exit codes: 0 pass, 1 a regression (or a failed scenario threshold),
# 2 the results cannot be compared, anything else: the run itself failed.
set -euo pipefail
cd "$(dirname "$0")/.."

save=0
if [[ "${1:-}" == "--save" ]]; then
    save=1
    shift
fi
scenario=${1:-scenarios/ci-gate.toml}
baseline=${2:-results/baseline/ci-gate}
reps=${REPS:-3}
out=${OUT:-target/ci-gate}
# Loose enough for shared CI machines: latencies of a small loopback run
# move by tens of percent between runs; deliveries and rates do not.
limits=${MAX_REGRESSION:-p50=100%,p99=200%,msg_rate=10%,delivered_ratio=0%}

cargo build --release -p wsbench
wsbench=target/release/wsbench

rm -rf "$out"
mkdir -p "$out/runs"
for i in $(seq 1 "$reps"); do
    echo "ci-gate: run $i of $reps: $scenario" >&2
    "$wsbench" run "$scenario" --results "$out/runs" --quiet
done

if [[ $save == 1 ]]; then
    rm -rf "$baseline"
    mkdir -p "$baseline"
    cp -r "$out"/runs/* "$baseline"/
    # The per-run charts are not part of a baseline.
    echo "ci-gate: baseline saved to $baseline ($reps repetitions)"
    exit 0
fi

"$wsbench" report "$out"/runs/* --format png,svg,html,md --out "$out/report" >/dev/null
summary=${GITHUB_STEP_SUMMARY:-$out/summary.md}
set +e
"$wsbench" compare "$baseline" "$out/runs" --max-regression "$limits" --markdown "$summary"
rc=$?
set -e
echo "ci-gate: report $out/report/report.html; comparison in $summary"
exit $rc
