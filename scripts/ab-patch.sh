#!/usr/bin/env bash
# What a change would gain, measured before it is written properly: builds
# wsbench at COMMIT and at COMMIT with PATCH applied (in a worktree of
# their own, under target/ab-patch: the checkout and its target/ stay as
# they are), then runs scripts/binary-ab.sh on the two builds.
#
#   scripts/ab-patch.sh PATCH [ROUNDS=8] [COMMIT=HEAD]
#   AB_PARTS="echo client" scripts/ab-patch.sh PATCH   # binary-ab's parts
#
# AB_PARTS defaults to poll-client here. AB_PARTS=echo-path builds the
# echo_path example (benches/examples/echo_path.rs: one echo's user space
# in the transport against the codec alone, in memory) instead of wsbench
# and runs the two builds in turn ROUNDS times (`echo_path 2 100`, the
# first place turning round by round); each run's transport time over its
# codec time takes out how fast the machine ran during it (runs of one
# build spread by tens of percent here, the ratio by a few), and the two
# builds' ratios are compared pair by pair. The patches of scripts/experiments/
# are measurement-only builds (each says what it takes out) or candidate
# changes measured and not kept (each says what it changes); a patch that
# no longer applies to COMMIT stops the script before anything is built.
# The first run builds everything once (several minutes); later runs
# rebuild what the patch or COMMIT changed.
# The patched build stays at target/ab-patch/release/wsbench (to profile
# it as the load generator: scripts/profile.py --run-bin that path).
set -euo pipefail
cd "$(dirname "$0")/.."
if (($# < 1)); then
    sed -n '2,/^set /p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
    exit 2
fi
patch=$(realpath "$1") rounds=${2:-8} commit=${3:-HEAD}
repo=$(pwd)
export CARGO_TARGET_DIR=$repo/target/ab-patch
tmp=$(mktemp -d)
tree=$tmp/tree
cleanup() {
    git -C "$repo" worktree remove --force "$tree" 2> /dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT
git worktree add --detach --quiet "$tree" "$commit"
git -C "$tree" apply --check "$patch" || {
    echo "ab-patch: $patch does not apply to $commit" >&2
    exit 1
}
if [[ ${AB_PARTS:-} == echo-path ]]; then
    build() {
        (cd "$tree" && cargo build --release --quiet -p wsbench-benches --example echo_path) &&
            cp "$CARGO_TARGET_DIR/release/examples/echo_path" "$tmp/$1"
    }
else
    build() { (cd "$tree" && cargo build --release --quiet -p wsbench) && cp "$CARGO_TARGET_DIR/release/wsbench" "$tmp/$1"; }
fi
echo "ab-patch: building $commit" >&2
build base
git -C "$tree" apply "$patch"
echo "ab-patch: building $commit with $(basename "$patch")" >&2
build patched
echo "ab-patch: old = $commit, new = $commit with $(basename "$patch")" >&2
if [[ ${AB_PARTS:-} != echo-path ]]; then
    AB_PARTS=${AB_PARTS:-poll-client} bash scripts/binary-ab.sh "$tmp/base" "$tmp/patched" "$rounds"
    exit
fi
# echo_path prints "transport NS" and "codec NS" (ns per echo).
run() { "$tmp/$1" 2 100 | awk -v b="$1" -v r="$2" '$1 == "transport" && NF == 2 {t = $2} $1 == "codec" {c = $2} END {print r, b, t, c}'; }
for r in $(seq 1 "$rounds"); do
    if ((r % 2)); then run base "$r"; run patched "$r"; else run patched "$r"; run base "$r"; fi
done | python3 -c '
import statistics, sys
runs = {}
for line in sys.stdin:
    r, build, t, c = line.split()
    runs.setdefault(build, {})[int(r)] = (float(t), float(c))
    print(f"round {r} {build:8} transport {float(t):6.1f} codec {float(c):5.1f} ns per echo", flush=True)
ratio = {b: {r: t / c for r, (t, c) in v.items()} for b, v in runs.items()}
pairs = [ratio["patched"][r] / ratio["base"][r] for r in sorted(ratio["base"])]
for b in ("base", "patched"):
    print(f"{b:8} transport/codec median {statistics.median(ratio[b].values()):.3f}, "
          f"transport median {statistics.median(t for t, _ in runs[b].values()):.1f} ns")
print(f"patched/base, pair by pair: median {statistics.median(pairs):.3f} "
      f"({min(pairs):.3f}-{max(pairs):.3f}), patched lower in {sum(p < 1 for p in pairs)} of {len(pairs)}")
'
