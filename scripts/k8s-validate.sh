#!/usr/bin/env bash
# Validates every Kubernetes manifest under deploy/k8s/ offline: the
# Kubernetes API schemas (kubernetes-validate, which bundles them; --strict
# refuses unknown fields), then the sharded-run consistency checks of
# scripts/k8s-check.py (Indexed Job, completions == parallelism == the N of
# --shard, START_AT, the merge step, the scenario).
#
#   scripts/k8s-validate.sh [FILE.yaml ...]     # default: deploy/k8s/*.yaml
#
# Installs kubernetes-validate into target/venv-k8s the first time (needs
# PyPI once). Exit 0 when everything is valid, 1 when something is not,
# 3 when kubernetes-validate could not be installed (nothing was checked).
set -euo pipefail
cd "$(dirname "$0")/.."

venv=target/venv-k8s
version=1.37.0 # the schemas of Kubernetes 1.37 and earlier
if ! "$venv/bin/kubernetes-validate" --version 2>/dev/null | grep -q "$version"; then
    echo "k8s-validate: installing kubernetes-validate $version into $venv" >&2
    if ! python3 -m venv "$venv" || ! "$venv/bin/pip" install --quiet "kubernetes-validate==$version"; then
        echo "k8s-validate: could not install kubernetes-validate $version (needs PyPI once)" >&2
        exit 3
    fi
fi

if [[ $# -gt 0 ]]; then
    files=("$@")
else
    shopt -s nullglob
    files=(deploy/k8s/*.yaml deploy/k8s/*.yml)
fi
if [[ ${#files[@]} -eq 0 ]]; then
    echo "k8s-validate: no manifests to validate" >&2
    exit 1
fi

status=0
"$venv/bin/kubernetes-validate" --strict --quiet "${files[@]}" || status=1
# The consistency checks read a folder; check the folder of the first file.
"$venv/bin/python" scripts/k8s-check.py "$(dirname "${files[0]}")" || status=1
if [[ $status -eq 0 ]]; then
    echo "k8s-validate: ${#files[@]} manifest file(s) valid: ${files[*]}"
else
    echo "k8s-validate: invalid manifests (see above)" >&2
fi
exit "$status"
