#!/usr/bin/env bash
# Runs the masking backend suite under Miri (undefined behaviour, out-of-
# bounds and alignment checks), on the portable paths and on every SIMD
# backend: Miri interprets the x86 intrinsics when the features are enabled
# at compile time, so AVX2 and AVX-512 are checked even on CPUs without
# them, and NEON by interpreting an aarch64 build.
set -euo pipefail
cd "$(dirname "$0")/.."

# run LABEL FILTER MUST_RUN TARGET [ENV...]: MUST_RUN lists the backends
# whose tests may not skip themselves in this configuration.
run() {
    local label=$1 filter=$2 must_run=$3 target=$4 out status=0
    shift 4
    printf -- '--- miri: %s\n' "$label"
    out=$(env "$@" cargo +nightly miri test -p wsbench-codec --lib --target "$target" "$filter" \
        -- --test-threads=2 --nocapture 2>&1) || status=$?
    if [[ $status != 0 ]]; then
        printf '%s\n' "$out"
        return "$status"
    fi
    printf '%s\n' "$out" | grep -E '^test |^test result|skipping' || true
    local b
    for b in $must_run; do
        if printf '%s\n' "$out" | grep -q "skipping $b:"; then
            echo "miri: the $b backend was skipped in the configuration meant to check it" >&2
            return 1
        fi
    done
}

host=x86_64-unknown-linux-gnu
run "scalar, swar, sse2, dispatch (x86-64 baseline)" mask::tests sse2 "$host"
run "avx2 and avx512 (features enabled at compile time)" mask::tests::avx "avx2 avx512" "$host" \
    RUSTFLAGS="-Ctarget-feature=+avx2,+avx512f" CARGO_TARGET_DIR=target/miri-x86-avx512
run "neon (aarch64)" mask::tests::neon neon aarch64-unknown-linux-gnu \
    CARGO_TARGET_DIR=target/miri-aarch64
