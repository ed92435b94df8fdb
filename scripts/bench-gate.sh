#!/usr/bin/env bash
# The codec's microbench regression gate: save a criterion baseline, then
# check later code against it and exit non-zero on a slowdown.
#
#   scripts/bench-gate.sh save [FILTER]
#       run the benches once, saved as the criterion baseline `gate-base`
#   scripts/bench-gate.sh check [--threshold 10%] [--rounds N] [FILTER]
#       run the benches N times (default 1, saved as gate-cur1..gate-curN)
#       and compare each benchmark's best median with gate-base
#
# FILTER is criterion's: a regular expression matched against benchmark
# ids such as `mask/16/off0/dispatch` (see benches/README.md).
# Exit codes of `check`: 0 no benchmark slower than the threshold, 1 a
# regression (named on stderr), 2 a usage error, no `gate-base` saved, or
# nothing matched the filter. The comparison itself is
# scripts/bench-gate.py, which can be run alone on saved baselines.
set -euo pipefail
cd "$(dirname "$0")/.."
# criterion finds its output folder through `cargo metadata`, which fails
# while a manifest in the workspace is being edited; pin it.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
criterion_dir="$CARGO_TARGET_DIR/criterion"
log="$CARGO_TARGET_DIR/bench-gate.log"

usage() {
    sed -n '2,16s/^# \{0,1\}//p' "$0" >&2
    exit 2
}

# One `cargo bench` saving baseline $1, with optional filter $2. Its output
# (long) goes to $log, whose end is shown if it fails. --noplot: the SVG
# plots take longer than the measurements and the gate reads only the
# estimates.
bench() {
    local name=$1 filter=${2:-}
    if ! cargo bench -p wsbench-benches -- --noplot --save-baseline "$name" ${filter:+"$filter"} >>"$log" 2>&1; then
        tail -n 30 "$log" >&2
        echo "bench-gate: cargo bench failed (whole output: $log)" >&2
        exit 2
    fi
}

has_baseline() {
    [[ -d $criterion_dir ]] &&
        [[ -n $(find "$criterion_dir" -mindepth 2 -type d -name "$1" -print -quit 2>/dev/null) ]]
}

[[ $# -ge 1 ]] || usage
mode=$1
shift

case $mode in
save)
    [[ $# -le 1 ]] || usage
    [[ ${1:-} != -* ]] || usage
    filter=${1:-}
    quoted=${filter:+" '$filter'"}
    : >"$log"
    echo "bench-gate: saving baseline gate-base${filter:+ for}$quoted (criterion output: $log)" >&2
    bench gate-base "$filter"
    echo "bench-gate: saved; compare later code with: scripts/bench-gate.sh check$quoted" >&2
    ;;
check)
    threshold=10%
    rounds=1
    filter=
    while [[ $# -gt 0 ]]; do
        case $1 in
        --threshold) [[ $# -ge 2 ]] || usage; threshold=$2; shift 2 ;;
        --threshold=*) threshold=${1#*=}; shift ;;
        --rounds) [[ $# -ge 2 ]] || usage; rounds=$2; shift 2 ;;
        --rounds=*) rounds=${1#*=}; shift ;;
        -h | --help) usage ;;
        -*) echo "bench-gate: unknown option $1" >&2; usage ;;
        *) [[ -z $filter ]] || usage; filter=$1; shift ;;
        esac
    done
    if ! [[ $rounds =~ ^[1-9][0-9]*$ ]]; then
        echo "bench-gate: --rounds takes a positive whole number, got '$rounds'" >&2
        exit 2
    fi
    if ! [[ $threshold =~ ^[0-9]+(\.[0-9]+)?%?$ ]]; then
        echo "bench-gate: --threshold takes a percentage like 10%, got '$threshold'" >&2
        exit 2
    fi
    quoted=${filter:+" '$filter'"}
    if ! has_baseline gate-base; then
        echo "bench-gate: no baseline gate-base under $criterion_dir: run \`scripts/bench-gate.sh save$quoted\` first" >&2
        exit 2
    fi
    # Rounds from an earlier check (perhaps with another filter) must not mix in.
    find "$criterion_dir" -mindepth 2 -type d -name 'gate-cur*' -prune -exec rm -rf {} + 2>/dev/null || true
    : >"$log"
    current=
    for i in $(seq 1 "$rounds"); do
        echo "bench-gate: round $i of $rounds${filter:+ for}$quoted (criterion output: $log)" >&2
        bench "gate-cur$i" "$filter"
        current=${current:+$current,}gate-cur$i
    done
    exec python3 scripts/bench-gate.py --criterion-dir "$criterion_dir" \
        --baseline gate-base --current "$current" --threshold "$threshold"
    ;;
-h | --help | help) usage ;;
*)
    echo "bench-gate: unknown mode '$mode' (save or check)" >&2
    usage
    ;;
esac
