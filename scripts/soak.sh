#!/usr/bin/env bash
# A soak of the builtin server and the load generator (release build):
# 20,000 WebSocket push subscribers at 10 msg/s for 10 minutes by default,
# worker processes on both sides, resident memory sampled every 10 s;
# reports the RSS slope, messages lost and duplicated, and p99 per minute
# (scripts/soak.py; figures in docs/reliability.md). Not part of CI.
#
#   scripts/soak.sh                                 # 20,000 x 10 msg/s, 10 min
#   scripts/soak.sh --minutes 2 --subscribers 2000  # a shorter one
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p wsbench
# Exact per-minute p99 merges the run's interval histograms with the
# hdrh package, in a venv of its own.
venv=target/soak-venv
if [[ ! -x $venv/bin/python ]] || ! "$venv/bin/python" -c 'import hdrh' 2>/dev/null; then
    python3 -m venv "$venv" && "$venv/bin/pip" install -q --disable-pip-version-check hdrhistogram \
        || echo "hdrh could not be installed: per-minute p99 will read n/a" >&2
fi
py=python3
[[ -x $venv/bin/python ]] && py=$venv/bin/python
exec "$py" scripts/soak.py target/release/wsbench "$@"
