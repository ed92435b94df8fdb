#!/usr/bin/env bash
# Runs the masking backend suite under Miri (undefined behaviour, out-of-
# bounds and alignment checks), on the portable paths and on every SIMD
# backend: Miri interprets the x86 intrinsics when the features are enabled
# at compile time, so AVX2 and AVX-512 are checked even on CPUs without
# them, and NEON by interpreting an aarch64 build.
set -euo pipefail
cd "$(dirname "$0")/.."

run() {
    local label=$1 filter=$2 out status=0
    shift 2
    printf -- '--- miri: %s\n' "$label"
    out=$("$@" cargo +nightly miri test -p wsbench-codec --lib "$filter" -- --test-threads=2 --nocapture 2>&1) \
        || status=$?
    if [[ $status != 0 ]]; then
        printf '%s\n' "$out"
        return "$status"
    fi
    printf '%s\n' "$out" | grep -E '^test |^test result|skipping' || true
}

run "scalar, swar, sse2, dispatch (x86-64 baseline)" mask::tests env
run "avx2 and avx512 (features enabled at compile time)" mask::tests::avx \
    env RUSTFLAGS="-Ctarget-feature=+avx2,+avx512f" CARGO_TARGET_DIR=target/miri-x86-avx512
run "neon (aarch64)" mask::tests::neon \
    env CARGO_TARGET_DIR=target/miri-aarch64 CARGO_BUILD_TARGET=aarch64-unknown-linux-gnu
