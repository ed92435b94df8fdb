#!/usr/bin/env python3
"""Tests of scripts/bench-gate.py on a fake criterion folder (no benches run).

    python3 scripts/test_bench_gate.py
"""

import json
import os
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
GATE = os.path.join(HERE, "bench-gate.py")
GATE_SH = os.path.join(HERE, "bench-gate.sh")


def write_bench(root, group, function, baselines):
    """One benchmark as criterion lays it out: <group dir>/<function>/<baseline>/
    {benchmark,estimates}.json, with `baselines` mapping name -> median ns."""
    group_dir = group.replace("/", "_")
    for name, median in baselines.items():
        d = os.path.join(root, group_dir, function, name)
        os.makedirs(d, exist_ok=True)
        meta = {"group_id": group, "function_id": None, "value_str": function,
                "throughput": {"Bytes": 16}, "full_id": f"{group}/{function}",
                "directory_name": f"{group_dir}/{function}", "title": f"{group}/{function}"}
        with open(os.path.join(d, "benchmark.json"), "w") as f:
            json.dump(meta, f)
        est = {stat: {"confidence_interval": {"confidence_level": 0.95, "lower_bound": median * 0.9,
                                              "upper_bound": median * 1.1},
                      "point_estimate": median, "standard_error": median * 0.01}
               for stat in ("mean", "median", "median_abs_dev", "slope", "std_dev")}
        with open(os.path.join(d, "estimates.json"), "w") as f:
            json.dump(est, f)
    os.makedirs(os.path.join(root, group_dir, function, "report"), exist_ok=True)


def gate(*args):
    return subprocess.run([sys.executable, GATE, *args], capture_output=True, text=True)


class BenchGate(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.root = os.path.join(self.tmp.name, "criterion")
        # mask/16/off0/dispatch: 30 % slower in the best current round.
        write_bench(self.root, "mask/16/off0", "dispatch",
                    {"gate-base": 10.0, "gate-cur1": 14.0, "gate-cur2": 13.0, "new": 14.0})
        # decode/16B/wsbench: unchanged.
        write_bench(self.root, "decode/16B", "wsbench",
                    {"gate-base": 20000.0, "gate-cur1": 20000.0, "gate-cur2": 21000.0})

    def tearDown(self):
        self.tmp.cleanup()

    def check(self, threshold, baseline="gate-base", current="gate-cur1,gate-cur2"):
        return gate("--criterion-dir", self.root, "--baseline", baseline,
                    "--current", current, "--threshold", threshold)

    def test_regression_past_threshold_exits_1_and_names_it(self):
        r = self.check("10%")
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("mask/16/off0/dispatch", r.stderr)
        self.assertNotIn("decode/16B/wsbench", r.stderr)
        self.assertIn("+30.0 %", r.stdout)
        self.assertIn("REGRESSED", r.stdout)

    def test_regression_within_threshold_exits_0(self):
        r = self.check("50%")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("decode/16B/wsbench", r.stdout)
        self.assertNotIn("REGRESSED", r.stdout)

    def test_threshold_without_percent_sign(self):
        self.assertEqual(self.check("29").returncode, 1)
        self.assertEqual(self.check("31").returncode, 0)

    def test_current_is_best_of_rounds(self):
        # Round 1 alone is +40 %, round 2 alone +30 %: best of both is +30 %.
        self.assertEqual(self.check("35%", current="gate-cur1").returncode, 1)
        self.assertEqual(self.check("35%", current="gate-cur1,gate-cur2").returncode, 0)

    def test_missing_baseline_exits_2_and_says_save(self):
        r = self.check("10%", baseline="no-such-baseline")
        self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
        self.assertIn("save", r.stderr)

    def test_missing_criterion_dir_exits_2(self):
        r = gate("--criterion-dir", os.path.join(self.tmp.name, "nothing"),
                 "--current", "gate-cur1", "--threshold", "10%")
        self.assertEqual(r.returncode, 2)
        self.assertIn("save", r.stderr)

    def test_no_current_results_exits_2(self):
        r = self.check("10%", current="gate-cur9")
        self.assertEqual(r.returncode, 2)

    def test_bad_threshold_is_a_usage_error(self):
        self.assertEqual(self.check("ten").returncode, 2)
        self.assertEqual(self.check("-5%").returncode, 2)

    def test_benchmark_without_baseline_is_listed_not_gated(self):
        write_bench(self.root, "utf8/ascii/1024B", "wsbench-whole", {"gate-cur1": 50.0})
        r = self.check("10%", current="gate-cur1")
        # dispatch is still +40 %; the new benchmark alone must not fail or pass anything.
        self.assertEqual(r.returncode, 1)
        self.assertIn("utf8/ascii/1024B/wsbench-whole", r.stdout)
        self.assertIn("new (no baseline)", r.stdout)
        self.assertNotIn("utf8/ascii", r.stderr.split("slower than")[1])

    def test_benchmark_left_out_by_filter_is_not_compared(self):
        write_bench(self.root, "handshake", "httparse-only", {"gate-base": 300.0})
        r = self.check("50%")
        self.assertEqual(r.returncode, 0)
        self.assertNotIn("httparse-only", r.stdout)


class BenchGateShell(unittest.TestCase):
    """The shell front end's own checks, which return before any cargo run."""

    def run_sh(self, *args, target_dir):
        env = dict(os.environ, CARGO_TARGET_DIR=target_dir)
        return subprocess.run(["bash", GATE_SH, *args], capture_output=True, text=True, env=env)

    def test_usage_errors_exit_2(self):
        with tempfile.TemporaryDirectory() as t:
            self.assertEqual(self.run_sh(target_dir=t).returncode, 2)
            self.assertEqual(self.run_sh("frobnicate", target_dir=t).returncode, 2)
            self.assertEqual(self.run_sh("check", "--rounds", "0", target_dir=t).returncode, 2)
            self.assertEqual(self.run_sh("check", "--threshold", "x", target_dir=t).returncode, 2)
            self.assertEqual(self.run_sh("check", "--bogus", target_dir=t).returncode, 2)

    def test_check_without_saved_baseline_exits_2_before_running(self):
        with tempfile.TemporaryDirectory() as t:
            r = self.run_sh("check", "mask/16/", target_dir=t)
            self.assertEqual(r.returncode, 2, r.stderr)
            self.assertIn("bench-gate.sh save", r.stderr)


if __name__ == "__main__":
    unittest.main()
