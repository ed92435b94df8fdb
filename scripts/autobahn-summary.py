#!/usr/bin/env python3
"""Summarise an Autobahn (kosoku) report directory and compare it with the
committed expectation: per case, the behaviour and the close behaviour, with
timings stripped. Prints the counts per behaviour; exits 1 when the run
differs from the expectation or a case is not OK/INFORMATIONAL.

    python3 scripts/autobahn-summary.py --side server --reports target/autobahn/server \\
        --expected tests/autobahn/expected-server.json [--update]
"""

import argparse
import collections
import json
import os
import sys

GOOD = {"OK", "INFORMATIONAL"}


def case_key(case_id):
    return tuple(int(p) for p in case_id.split("."))


def load_results(reports):
    index_path = os.path.join(reports, "index.json")
    if not os.path.exists(index_path):
        sys.exit(f"{index_path} missing: the Autobahn run produced no report (see {reports}/*.log)")
    with open(index_path) as f:
        index = json.load(f)
    if len(index) != 1:
        sys.exit(f"{index_path}: expected one agent, found {sorted(index)}")
    (agent, cases), = index.items()
    return agent, {cid: [c["behavior"], c["behaviorClose"]] for cid, c in cases.items()}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--side", required=True)
    ap.add_argument("--reports", required=True)
    ap.add_argument("--expected", required=True)
    ap.add_argument("--update", action="store_true", help="write the expectation from this run")
    args = ap.parse_args()

    agent, results = load_results(args.reports)
    ordered = dict(sorted(results.items(), key=lambda kv: case_key(kv[0])))
    counts = collections.Counter(b for b, _ in ordered.values())
    print(f"Autobahn {args.side} ({agent}): {len(ordered)} cases: "
          + ", ".join(f"{n} {b}" for b, n in sorted(counts.items())))

    bad = {c: r for c, r in ordered.items() if r[0] not in GOOD}
    for c, (b, bc) in list(bad.items())[:40]:
        print(f"  {c}: {b} (close: {bc})")

    if args.update:
        os.makedirs(os.path.dirname(args.expected), exist_ok=True)
        with open(args.expected, "w") as f:
            lines = [f"  {json.dumps(c)}: {json.dumps(r)}" for c, r in ordered.items()]
            f.write("{\n" + ",\n".join(lines) + "\n}\n")
        print(f"wrote {args.expected}")
        return 1 if bad else 0

    if not os.path.exists(args.expected):
        print(f"{args.expected} missing: run with AUTOBAHN_UPDATE=1 to create it", file=sys.stderr)
        return 1
    with open(args.expected) as f:
        expected = json.load(f)
    diffs = [(c, expected.get(c), ordered.get(c)) for c in sorted(set(expected) | set(ordered), key=case_key)
             if expected.get(c) != ordered.get(c)]
    for c, want, got in diffs[:40]:
        print(f"  differs: {c}: expected {want}, got {got}")
    if diffs:
        print(f"{len(diffs)} case(s) differ from {args.expected}", file=sys.stderr)
    if bad:
        print(f"{len(bad)} case(s) not OK", file=sys.stderr)
    return 1 if diffs or bad else 0


if __name__ == "__main__":
    sys.exit(main())
