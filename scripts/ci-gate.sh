#!/usr/bin/env bash
# The regression gate a CI job runs: the current build against the
# baseline build, side by side on this machine. The baseline is a commit
# (results/baseline/ci-gate.rev); its wsbench is built in a git worktree
# under target/, and the two binaries run the scenario in turn, baseline
# then current, REPS times each, so both sides see the same machine at the
# same time; then the repetitions are compared and the report written.
#
#   scripts/ci-gate.sh                   # scenarios/ci-gate.toml, this build vs the baseline commit's
#   scripts/ci-gate.sh SCENARIO          # another scenario
#   scripts/ci-gate.sh --save            # make the current commit the baseline
#
# Environment: REPS (repetitions a side, default 3), MAX_REGRESSION (the
# gate's limits), OUT (working folder, default target/ci-gate). On GitHub
# Actions the comparison is appended to $GITHUB_STEP_SUMMARY; upload $OUT
# (runs, report.html, charts) as the job's artifact.
#
# Exit codes: 0 pass, 1 a regression (or a failed scenario threshold),
# 2 the results cannot be compared, 3 a gated latency that could not be
# judged, anything else: the run itself failed.
set -euo pipefail
cd "$(dirname "$0")/.."

rev_file=results/baseline/ci-gate.rev
if [[ "${1:-}" == "--save" ]]; then
    if [[ -n "$(git status --porcelain --untracked-files=no)" ]]; then
        echo "ci-gate: commit first: the baseline is a commit, and the tree has changes" >&2
        exit 2
    fi
    mkdir -p "$(dirname "$rev_file")"
    git rev-parse HEAD > "$rev_file"
    echo "ci-gate: the baseline is now $(cat "$rev_file") (commit $rev_file)"
    exit 0
fi
scenario=${1:-scenarios/ci-gate.toml}
reps=${REPS:-3}
out=${OUT:-target/ci-gate}
# Loose enough for shared CI machines: latencies of a small loopback run
# move by tens of percent between runs; deliveries and rates do not.
limits=${MAX_REGRESSION:-p50=100%,p99=200%,msg_rate=10%,delivered_ratio=0%}

rev=$(cat "$rev_file")
if ! git cat-file -e "$rev^{commit}" 2>/dev/null; then
    echo "ci-gate: the baseline commit $rev is not in this clone (a shallow clone?); fetch it, or --save another" >&2
    exit 2
fi

# The baseline commit's wsbench, built once per commit, in a git worktree
# but into this checkout's target directory: the dependencies compiled for
# the current build serve it too (only the workspace's crates are built
# again). The build puts its binary at target/release/wsbench; it is kept
# as $base/wsbench and taken away, and the current build below (its
# workspace crates only, or nothing when it is fresh) links its own
# binary in place again.
base=target/ci-gate-base
baseline_bin=$base/wsbench
if [[ "$(cat "$base/rev" 2>/dev/null)" != "$rev" || ! -x "$baseline_bin" ]]; then
    echo "ci-gate: building the baseline $rev" >&2
    git worktree remove --force "$base/src" 2>/dev/null || rm -rf "$base/src"
    git worktree prune
    rm -rf "$base"
    mkdir -p "$base"
    git worktree add --detach --force "$base/src" "$rev" >/dev/null
    shared="$PWD/target"
    (cd "$base/src" && CARGO_TARGET_DIR="$shared" cargo build --release -p wsbench)
    cp target/release/wsbench "$baseline_bin"
    # Not to be taken for the current build's.
    rm target/release/wsbench
    echo "$rev" > "$base/rev"
fi

cargo build --release -p wsbench
current=target/release/wsbench
if [[ ! -x $current ]]; then
    echo "ci-gate: cargo left no $current after the baseline's build" >&2
    exit 2
fi

rm -rf "$out"
mkdir -p "$out/baseline" "$out/runs"
for i in $(seq 1 "$reps"); do
    echo "ci-gate: run $i of $reps, baseline ($rev) then current: $scenario" >&2
    "$baseline_bin" run "$scenario" --results "$out/baseline" --quiet
    "$current" run "$scenario" --results "$out/runs" --quiet
done

"$current" report "$out"/runs/* --format png,svg,html,md --out "$out/report" >/dev/null
summary=${GITHUB_STEP_SUMMARY:-$out/summary.md}
set +e
"$current" compare "$out/baseline" "$out/runs" --max-regression "$limits" --markdown "$summary"
rc=$?
set -e
echo "ci-gate: report $out/report/report.html; comparison in $summary"
exit $rc
