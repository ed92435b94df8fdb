#!/usr/bin/env bash
# The project's test command: what CI runs and what contributors run.
#
#   scripts/test.sh            everything below
#   scripts/test.sh --quick    unit, property and integration tests only
#
# Installs what it needs (a C compiler and make for jemalloc, Chromium
# and a font for the report tests, nginx with the Nchan module for the
# nchan tests, Prometheus for the live metrics test, a Python venv with
# the websockets package for the targets tests, cargo-fuzz, a nightly
# toolchain with Miri, Python venvs with kosoku for the Autobahn cases and
# kubernetes-validate for the manifests) when missing; a step whose tool
# cannot be installed here is skipped with the reason printed, never
# silently.
set -euo pipefail
cd "$(dirname "$0")/.."

quick=0
[[ "${1:-}" == "--quick" ]] && quick=1

# Each step's header carries the time it starts (CI's log then shows
# where the time goes), and the last line the time it all took.
step() { printf '\n==> %s  [%s]\n' "$*" "$(date +%T)"; }

source scripts/apt.sh
build_tools
disk_room

if [[ $quick == 0 ]]; then
    # The report test renders report.html in headless Chromium; charts
    # need a TrueType font.
    if ! command -v chromium >/dev/null || ! fc-match -f '%{file}' sans-serif >/dev/null 2>&1; then
        step "installing chromium and fonts-dejavu-core (apt)"
        apt_install chromium fonts-dejavu-core || true
    fi
    if command -v chromium >/dev/null; then
        export WSBENCH_REQUIRE_CHROMIUM=1
    else
        echo "SKIPPED the Chromium render check: the chromium package could not be installed"
    fi
fi

# The nchan tests measure nginx with the Nchan module.
if [[ ! -x /usr/sbin/nginx || ! -e /usr/lib/nginx/modules/ngx_nchan_module.so ]]; then
    step "installing nginx-light and libnginx-mod-nchan (apt)"
    apt_install nginx-light libnginx-mod-nchan || true
fi
if [[ -x /usr/sbin/nginx && -e /usr/lib/nginx/modules/ngx_nchan_module.so ]]; then
    export WSBENCH_REQUIRE_NCHAN=1
else
    echo "SKIPPED the nchan tests: nginx-light and libnginx-mod-nchan could not be installed"
fi

# The live-metrics test has a real Prometheus scrape a run.
if [[ ! -x /usr/bin/prometheus ]]; then
    step "installing prometheus (apt)"
    apt_install prometheus || true
fi
if [[ -x /usr/bin/prometheus ]]; then
    export WSBENCH_REQUIRE_PROMETHEUS=1
else
    echo "SKIPPED the Prometheus scrape test: the prometheus package could not be installed"
fi

# The targets tests run echo and rpc against the Python websockets
# package's server (tests/pyws/server.py).
pyws=.venv-websockets
if [[ ! -x $pyws/bin/python ]] || ! "$pyws/bin/python" -c 'import websockets' 2>/dev/null; then
    step "installing the websockets package into $pyws (pip)"
    rm -rf "$pyws"
    if ! python3 -m venv "$pyws" 2>/dev/null; then
        # Debian splits venv support out of python3.
        apt_install python3-venv || true
        rm -rf "$pyws"
        python3 -m venv "$pyws" || true
    fi
    "$pyws/bin/pip" install --quiet --disable-pip-version-check 'websockets>=13' || true
fi
if "$pyws/bin/python" -c 'import websockets' 2>/dev/null; then
    export WSBENCH_PY_WEBSOCKETS="$PWD/$pyws/bin/python" WSBENCH_REQUIRE_PY_WEBSOCKETS=1
else
    echo "SKIPPED the Python websockets tests: the websockets package could not be installed in a venv"
fi

step "cargo test --workspace"
cargo test --workspace

[[ $quick == 1 ]] && exit 0

step "codec bench gate: comparison logic"
python3 scripts/test_bench_gate.py

step "peer comparison: load_test's and the server's CPU per echo, each read from its own process"
python3 scripts/test_peer_compare.py

step "Kubernetes manifests (kubernetes-validate)"
set +e
bash scripts/k8s-validate.sh
rc=$?
set -e
if [[ $rc == 3 ]]; then
    echo "SKIPPED manifest validation: kubernetes-validate could not be installed"
elif [[ $rc != 0 ]]; then
    exit "$rc"
fi

step "CI regression gate: scenarios/ci-gate.toml, this build against the baseline commit's (results/baseline/ci-gate.rev), side by side"
bash scripts/ci-gate.sh

step "chaos: attacks on wsbench serve (short form)"
bash scripts/chaos.sh --short

step "peer comparison against uWebSockets (smoke: seconds, no goals judged)"
if ! command -v c++ >/dev/null || [[ ! -f /usr/include/zlib.h ]]; then
    apt_install build-essential zlib1g-dev || true
fi
bash scripts/peer-compare.sh --smoke

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
echo "all tests passed  [$(date +%T), $((SECONDS / 60)) min $((SECONDS % 60)) s in scripts/test.sh]"
