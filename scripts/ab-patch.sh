#!/usr/bin/env bash
# What a change would gain, measured before it is written properly: builds
# wsbench at COMMIT and at COMMIT with PATCH applied (in a worktree of
# their own, under target/ab-patch: the checkout and its target/ stay as
# they are), then runs scripts/binary-ab.sh on the two builds.
#
#   scripts/ab-patch.sh PATCH [ROUNDS=8] [COMMIT=HEAD]
#   AB_PARTS="echo client" scripts/ab-patch.sh PATCH   # binary-ab's parts
#
# AB_PARTS defaults to poll-client here. The patches of scripts/experiments/
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
build() { (cd "$tree" && cargo build --release --quiet -p wsbench) && cp "$CARGO_TARGET_DIR/release/wsbench" "$tmp/$1"; }
echo "ab-patch: building $commit" >&2
build base
git -C "$tree" apply "$patch"
echo "ab-patch: building $commit with $(basename "$patch")" >&2
build patched
echo "ab-patch: old = $commit, new = $commit with $(basename "$patch")" >&2
AB_PARTS=${AB_PARTS:-poll-client} bash scripts/binary-ab.sh "$tmp/base" "$tmp/patched" "$rounds"
