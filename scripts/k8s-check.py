#!/usr/bin/env python3
"""Consistency checks of the sharded-run manifests in deploy/k8s/ that a
schema cannot express (run by scripts/k8s-validate.sh after the schema
validation; needs PyYAML):

- the shard Job is Indexed with completions == parallelism == N, and its
  command runs `wsbench run ... --shard ${JOB_COMPLETION_INDEX}/N
  --start-at ... --results ...` with N the same number;
- START_AT is RFC 3339 UTC, and RUN_ID is START_AT without '-' and ':',
  the same in every manifest;
- the merge Job merges exactly `*-shard-*-of-N` and writes a report;
- the volumes the pods mount exist (ConfigMap, PVC), and the scenario in
  the ConfigMap is TOML naming a url target (shards refuse a builtin one).

Exit 0 when all hold, 1 otherwise (each problem printed).

    python3 scripts/k8s-check.py [deploy/k8s]
"""

import glob
import os
import re
import sys

import yaml

try:
    import tomllib
except ImportError:  # Python < 3.11: the scenario is then only checked for text
    tomllib = None

SHARD_RE = re.compile(r"--shard\s+\"?(?:\$\{JOB_COMPLETION_INDEX\}|\$\(JOB_COMPLETION_INDEX\))/(\d+)\"?")
START_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")


def load_docs(folder):
    docs = []
    for path in sorted(glob.glob(os.path.join(folder, "*.yaml")) + glob.glob(os.path.join(folder, "*.yml"))):
        with open(path) as f:
            for d in yaml.safe_load_all(f):
                if d:
                    docs.append((path, d))
    return docs


def pod_spec(obj):
    if obj["kind"] == "Pod":
        return obj["spec"]
    return obj["spec"]["template"]["spec"]


def script_of(container):
    return " ".join(container.get("command", []) + container.get("args", []))


def env_of(container):
    return {e["name"]: e.get("value") for e in container.get("env", [])}


def main(argv):
    folder = argv[1] if len(argv) > 1 else "deploy/k8s"
    try:
        docs = load_docs(folder)
    except yaml.YAMLError as e:
        print(f"k8s-check: not YAML: {e}", file=sys.stderr)
        return 1
    problems = []

    def problem(path, obj, text):
        problems.append(f"{path}: {obj['kind']}/{obj['metadata']['name']}: {text}")

    by_kind = {}
    for path, obj in docs:
        by_kind.setdefault(obj["kind"], []).append((path, obj))
    configmaps = {o["metadata"]["name"]: o for _, o in by_kind.get("ConfigMap", [])}
    claims = {o["metadata"]["name"] for _, o in by_kind.get("PersistentVolumeClaim", [])}

    shard_jobs, merge_jobs = [], []
    for path, job in by_kind.get("Job", []):
        text = " ".join(script_of(c) for c in pod_spec(job)["containers"])
        if "wsbench run" in text:
            shard_jobs.append((path, job, text))
        elif "wsbench merge" in text:
            merge_jobs.append((path, job, text))
    if not shard_jobs:
        problems.append(f"{folder}: no Job runs `wsbench run` shards")
    if not merge_jobs:
        problems.append(f"{folder}: no Job runs `wsbench merge`")

    shards = None
    run_ids = set()
    for path, job, text in shard_jobs:
        spec = job["spec"]
        if spec.get("completionMode") != "Indexed":
            problem(path, job, f"completionMode is {spec.get('completionMode')!r}, not 'Indexed'")
        if spec.get("completions") != spec.get("parallelism"):
            problem(path, job, f"completions ({spec.get('completions')}) != parallelism ({spec.get('parallelism')}): "
                               "shards that do not all run at once miss the common start")
        m = SHARD_RE.search(text)
        if not m:
            problem(path, job, "the command has no `--shard ${JOB_COMPLETION_INDEX}/N`")
        else:
            shards = int(m.group(1))
            if shards != spec.get("completions"):
                problem(path, job, f"--shard .../{shards} but completions is {spec.get('completions')}")
        for flag in ("--start-at", "--results"):
            if flag not in text:
                problem(path, job, f"the command has no {flag}")
        if pod_spec(job).get("restartPolicy") != "Never":
            problem(path, job, "restartPolicy must be Never (a restarted shard misses the common start)")
        for c in pod_spec(job)["containers"]:
            env = env_of(c)
            start = env.get("START_AT")
            if start is None or not START_RE.match(start):
                problem(path, job, f"START_AT {start!r} is not RFC 3339 UTC like 2026-11-27T16:00:00Z")
            elif env.get("RUN_ID") != start.replace("-", "").replace(":", ""):
                problem(path, job, f"RUN_ID {env.get('RUN_ID')!r} is not START_AT without '-' and ':'")
            run_ids.add(env.get("RUN_ID"))

    for path, job, text in merge_jobs:
        m = re.search(r"-shard-\*-of-(\d+)", text)
        if not m:
            problem(path, job, "merge does not select `*-shard-*-of-N` folders")
        elif shards is not None and int(m.group(1)) != shards:
            problem(path, job, f"merges -of-{m.group(1)} but the shard Job runs {shards} shards")
        if "wsbench report" not in text:
            problem(path, job, "no `wsbench report` after the merge")
        for c in pod_spec(job)["containers"]:
            run_ids.add(env_of(c).get("RUN_ID"))
    if len(run_ids) > 1:
        problems.append(f"{folder}: RUN_ID differs between manifests: {sorted(map(str, run_ids))}")

    # Every mounted ConfigMap and claim is defined here.
    for path, obj in docs:
        if obj["kind"] not in ("Pod", "Job", "Deployment"):
            continue
        for v in pod_spec(obj).get("volumes", []):
            if "configMap" in v and v["configMap"]["name"] not in configmaps:
                problem(path, obj, f"volume {v['name']}: no ConfigMap {v['configMap']['name']!r}")
            if "persistentVolumeClaim" in v and v["persistentVolumeClaim"]["claimName"] not in claims:
                problem(path, obj, f"volume {v['name']}: no PersistentVolumeClaim "
                                   f"{v['persistentVolumeClaim']['claimName']!r}")

    for name, cm in configmaps.items():
        for key, text in (cm.get("data") or {}).items():
            if not key.endswith(".toml"):
                continue
            where = f"ConfigMap/{name}: {key}"
            if tomllib is None:
                if "url" not in text:
                    problems.append(f"{where}: the target has no url")
                continue
            try:
                scenario = tomllib.loads(text)
            except tomllib.TOMLDecodeError as e:
                problems.append(f"{where}: not TOML: {e}")
                continue
            target = scenario.get("target", {})
            if target.get("builtin") or "url" not in target:
                problems.append(f"{where}: shards need a url target, not the builtin server")
            elif not re.match(r"^(ws|wss|http|https)://[^/]+/?$", target["url"]):
                problems.append(f"{where}: url {target['url']!r} must be an origin (scheme://host:port)")
            elif "127.0.0." not in target["url"] and "localhost" not in target["url"] \
                    and not target.get("allow_remote"):
                problems.append(f"{where}: a non-loopback url needs allow_remote = true")

    for p in problems:
        print(p, file=sys.stderr)
    if problems:
        return 1
    print(f"k8s-check: {len(docs)} objects in {folder} consistent"
          + (f" ({shards} shards)" if shards else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
