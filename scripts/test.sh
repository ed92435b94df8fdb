#!/usr/bin/env bash
# The project's test command: what CI runs and what contributors run.
#
#   scripts/test.sh            everything below
#   scripts/test.sh --quick    unit, property and integration tests only
#
# Installs what it needs (cargo-fuzz, a nightly toolchain with Miri, a
# Python venv with kosoku for the Autobahn cases) when
# missing; a step whose tool cannot be installed here is skipped with the
# reason printed, never silently.
set -euo pipefail
cd "$(dirname "$0")/.."

quick=0
[[ "${1:-}" == "--quick" ]] && quick=1

step() { printf '\n==> %s\n' "$*"; }

step "cargo test --workspace"
cargo test --workspace

[[ $quick == 1 ]] && exit 0

step "Autobahn TestSuite (kosoku), server and client"
bash scripts/autobahn.sh

step "benches run (criterion --test: each benchmark once)"
cargo bench -p wsbench-benches -- --test

have_nightly() { rustup run nightly rustc --version >/dev/null 2>&1; }
if ! have_nightly || ! rustup component list --toolchain nightly --installed 2>/dev/null | grep -q '^miri'; then
    step "installing nightly with miri and rust-src"
    rustup toolchain install nightly --profile minimal --component miri,rust-src || true
fi

if have_nightly; then
    step "fuzz targets build"
    command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
    (cd fuzz && cargo +nightly fuzz build)
else
    echo "SKIPPED fuzz build: no nightly toolchain could be installed (cargo-fuzz needs one)"
fi

if have_nightly && rustup component list --toolchain nightly --installed | grep -q '^miri'; then
    step "Miri: masking backends"
    bash scripts/miri.sh
else
    echo "SKIPPED Miri: the miri component could not be installed on nightly"
fi
echo
echo "all tests passed"
