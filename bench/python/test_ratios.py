#!/usr/bin/env python3
"""The bench gate's rules, on made-up runs (ctest bench-gate; no benchmark
is run): a met goal gates, a known miss is held to its last record on the
same hardware, P5 is judged against the machine's ceiling of the same run,
and old records read in today's terms."""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.dont_write_bytecode = True  # no __pycache__ in the tree
sys.path.insert(0, str(HERE))
import ratios  # noqa: E402

# A run where every goal is met except P3 (2.0 against <= 1.1), in µs per
# iteration (p50 = real_time here). P5: execute 1.9x on 2 threads, raw 2.0x.
# Every goal of ratios.GOALS has its rows: a goal without them is "missing".
BASE_US = {
    "safeexec/execute/bin_true/real_time": 600,
    "baseline/posix_spawn/bin_true/real_time": 590,
    "safeexec/execute_mem/mem_mib:0/real_time": 600,
    "safeexec/execute_mem/mem_mib:256/real_time": 610,
    "safeexec/execute_mem/mem_mib:1024/real_time": 615,
    "safeexec/execute_fds/extra_fds:0/real_time": 600,
    "safeexec/execute_fds/extra_fds:10000/real_time": 1200,
    "safeexec/execute_cat/mib:256/real_time": 300_000,
    "baseline/posix_spawn_cat/mib:256/real_time": 330_000,
    "safeexec/execute_threads/real_time/threads:1": 600,
    "safeexec/execute_threads/real_time/threads:2": 600 / 1.9,
    "baseline/posix_spawn_threads/real_time/threads:1": 590,
    "baseline/posix_spawn_threads/real_time/threads:2": 590 / 2.0,
    # Issue 21: P7 (lines to a callback), P7-RSS (streaming 64 MiB / 1 GiB), P8 (redirect).
    "safeexec/stream_lines/mib:256/real_time": 300_000,
    "baseline/poll_memchr_lines/mib:256/real_time": 310_000,
    "safeexec/stream_rss/mib:64/iterations:1/repeats:2/real_time": 200_000,
    "safeexec/stream_rss/mib:1024/iterations:1/repeats:2/real_time": 3_000_000,
    "safeexec/redirect_file/mib:64/real_time": 50_000,
    "baseline/posix_spawn_redirect/mib:64/real_time": 49_500,
    # Issue 19: P9 (execute in a fresh cgroup leaf / without).
    "safeexec/execute_cgroup/leaf:0/real_time": 600,
    "safeexec/execute_cgroup/leaf:1/real_time": 780,
    # Issue 20: the spawn server. P3-automatic 640/600, P1-automatic 605/590,
    # P2-server-1024 670/660 (all met); P5-server (context) 1.05x on 2 threads.
    "safeexec/execute_fds_automatic/extra_fds:0/real_time": 600,
    "safeexec/execute_fds_automatic/extra_fds:10000/real_time": 640,
    "safeexec/execute_fds_server/extra_fds:0/real_time": 650,
    "safeexec/execute_fds_server/extra_fds:10000/real_time": 655,
    "safeexec/execute_strategy/automatic/real_time": 605,
    "safeexec/execute_strategy/server/real_time": 660,
    "safeexec/execute_mem_server/mem_mib:0/real_time": 660,
    "safeexec/execute_mem_server/mem_mib:1024/real_time": 670,
    "safeexec/execute_threads_server/real_time/threads:1": 660,
    "safeexec/execute_threads_server/real_time/threads:2": 660 / 1.05,
}


def bench_doc(changes: dict | None = None, spread: float = 0.01,
              p10: dict | None = None, drop: tuple = (), fastest: dict | None = None) -> dict:
    """A Google Benchmark JSON document (median and rmad rows, 9 repetitions);
    p10: the p10_ns counter (µs) of some benchmarks; drop: benchmarks left
    out (as when a run did not have them); fastest: the 'min' aggregate (µs)
    of some benchmarks, their fastest repetition."""
    us = {k: v for k, v in dict(BASE_US, **(changes or {})).items() if k not in drop}
    rows = []
    for name, t in us.items():
        med = {"name": name + "_median", "run_name": name, "run_type": "aggregate",
               "aggregate_name": "median", "repetitions": 9, "real_time": t * 1000,
               "cpu_time": t * 500, "time_unit": "ns", "p50_ns": t * 1000}
        if p10 and name in p10:
            med["p10_ns"] = p10[name] * 1000
        if name.startswith("safeexec/execute_cat"):
            med.update(peak_rss_bytes=500 << 20, rss_goal_bytes=528 << 20, payload_bytes=256 << 20)
        if name.startswith("safeexec/stream_rss"):
            med.update(peak_rss_bytes=5 << 20, rss_goal_bytes=20 << 20, rss_before_bytes=4 << 20,
                       payload_bytes=(1024 if "1024" in name else 64) << 20)
        rows.append(med)
        if fastest and name in fastest:
            rows.append({"name": name + "_min", "run_name": name, "run_type": "aggregate",
                         "aggregate_name": "min", "repetitions": 9,
                         "real_time": fastest[name] * 1000, "cpu_time": fastest[name] * 500,
                         "time_unit": "ns"})
        rows.append({"name": name + "_rmad", "run_name": name, "run_type": "aggregate",
                     "aggregate_name": "rmad", "repetitions": 9, "real_time": spread,
                     "cpu_time": spread, "time_unit": "ns", "p50_ns": spread})
    return {"context": {}, "benchmarks": rows}


def record(p3: float, hardware_cpu: str | None = None, status: str = "known-miss",
           date: str = "2026-12-01T00:00:00Z", p3_p10: float | None = None,
           schema: int | None = None) -> dict:
    mach = ratios.machine()
    if hardware_cpu:
        mach["cpu"] = hardware_cpu
    return {"schema": schema or ratios.SCHEMA, "date": date, "commit": "abc", "machine": mach,
            "goals": [{"id": "P3", "value": p3, "noise": 0.01, "status": status,
                       "value_p10": p3_p10}]}


def gate(doc: dict, history: list[dict] | None = None,
         result_out: dict | None = None) -> tuple[int, dict, str]:
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        (t / "b.json").write_text(json.dumps(doc))
        hist = t / "history"
        hist.mkdir()
        for i, rec in enumerate(history or []):
            (hist / f"{i:02d}.json").write_text(json.dumps(rec))
        r = subprocess.run([sys.executable, str(HERE / "ratios.py"), "--json", str(t / "b.json"),
                            "--out", str(t / "out"), "--history", str(hist), "--check"],
                           capture_output=True, text=True)
        result = json.loads((t / "out" / "ratios.json").read_text())
        if result_out is not None:
            result_out.update(result)
        status = {g["id"]: g["status"] for g in result["goals"]}
        kept = len(list(hist.glob("*.json")))
        assert kept == len(history or []) + 1, "the run was not recorded"
        return r.returncode, status, r.stdout + r.stderr


class Gate(unittest.TestCase):
    def test_met_goals_and_a_known_miss_without_a_record_pass(self):
        rc, st, out = gate(bench_doc())
        self.assertEqual(rc, 0, out)
        self.assertEqual(st["P3"], "known-miss")
        self.assertEqual(st["P1"], "pass")
        self.assertIn("known misses: P3 (issue 20)", out)

    def test_a_broken_met_goal_fails(self):
        # 200 µs more per execute: P1 = 800 / 590.
        rc, st, out = gate(bench_doc({"safeexec/execute/bin_true/real_time": 800}))
        self.assertEqual(rc, 1, out)
        self.assertEqual(st["P1"], "fail")

    def test_a_miss_within_the_tolerance_is_noise(self):
        rc, st, out = gate(bench_doc({"safeexec/execute/bin_true/real_time": 590 * 1.07}))
        self.assertEqual((rc, st["P1"]), (0, "noise"), out)

    def test_a_miss_the_run_cannot_resolve_is_noise(self):
        # P1 = 1.2: a failure at 1 % spread, noise at 40 % (2 standard errors
        # of the ratio of two medians of 9 repetitions: ~ +-33 %).
        slow = {"safeexec/execute/bin_true/real_time": 590 * 1.2}
        rc, st, out = gate(bench_doc(slow, spread=0.01))
        self.assertEqual((rc, st["P1"]), (1, "fail"), out)
        rc, st, out = gate(bench_doc(slow, spread=0.4))
        self.assertEqual((rc, st["P1"]), (0, "noise"), out)

    def test_a_latency_fail_needs_the_p10_ratio_to_miss_too(self):
        # Medians say 800/590 (scheduler delays), the fastest spawns 560/550:
        # noise. Both slower by 200 us: a failure.
        slow = {"safeexec/execute/bin_true/real_time": 800}
        rc, st, out = gate(bench_doc(slow, p10={"safeexec/execute/bin_true/real_time": 560,
                                                "baseline/posix_spawn/bin_true/real_time": 550}))
        self.assertEqual((rc, st["P1"]), (0, "noise"), out)
        self.assertIn("p10-based ratio meets the goal", out)
        rc, st, out = gate(bench_doc(slow, p10={"safeexec/execute/bin_true/real_time": 750,
                                                "baseline/posix_spawn/bin_true/real_time": 550}))
        self.assertEqual((rc, st["P1"]), (1, "fail"), out)

    def test_a_throughput_fail_needs_the_fastest_repetitions_to_miss_too(self):
        # P7 by medians 310/420 = 0.74 (the pipe's ends on the wrong vCPUs);
        # the fastest repetitions 280/300 = 0.93: noise. Both slow: a failure.
        num, den = "safeexec/stream_lines/mib:256/real_time", "baseline/poll_memchr_lines/mib:256/real_time"
        slow = {num: 420_000}
        rc, st, out = gate(bench_doc(slow, fastest={num: 300_000, den: 280_000}))
        self.assertEqual((rc, st["P7"]), (0, "noise"), out)
        self.assertIn("fastest repetitions' ratio 0.933 meets the goal", out)
        rc, st, out = gate(bench_doc(slow, fastest={num: 400_000, den: 280_000}))
        self.assertEqual((rc, st["P7"]), (1, "fail"), out)
        # Without the min rows (older runs) the median and its noise band decide.
        rc, st, out = gate(bench_doc(slow))
        self.assertEqual((rc, st["P7"]), (1, "fail"), out)

    def test_a_slow_spawn_fails_even_in_a_noisy_run(self):
        # 40 % spread (load 18 here): medians 2.1x, p10 1.6x. Both beyond the
        # tolerance: a failure, whatever the noise estimate says.
        slow = {"safeexec/execute/bin_true/real_time": 590 * 2.1}
        rc, st, out = gate(bench_doc(slow, spread=0.4,
                                     p10={"safeexec/execute/bin_true/real_time": 880,
                                          "baseline/posix_spawn/bin_true/real_time": 550}))
        self.assertEqual((rc, st["P1"]), (1, "fail"), out)

    def test_known_miss_held_to_its_last_record(self):
        rc, st, out = gate(bench_doc(), [record(1.98)])
        self.assertEqual((rc, st["P3"]), (0, "known-miss"), out)
        rc, st, out = gate(bench_doc(), [record(1.5)])  # 2.0 vs 1.5: worse by 33 %
        self.assertEqual((rc, st["P3"]), (1, "regressed"), out)

    def test_known_miss_held_to_the_worst_of_its_last_five_records(self):
        # A miss that reads in two modes (1.5 and 1.98 here): 2.0 is no worse
        # than the worst of the last five; once that one is older than five
        # records, 2.0 against 1.5 is a regression.
        hist = [record(v, date=f"2026-12-0{i + 1}T00:00:00Z")
                for i, v in enumerate([1.5, 1.98, 1.5, 1.5])]
        rc, st, out = gate(bench_doc(), hist)
        self.assertEqual((rc, st["P3"]), (0, "known-miss"), out)
        self.assertIn("worst of its last 4 records", out)
        hist = [record(v, date=f"2026-12-0{i + 1}T00:00:00Z")
                for i, v in enumerate([1.98, 1.5, 1.5, 1.5, 1.5, 1.5])]
        rc, st, out = gate(bench_doc(), hist)
        self.assertEqual((rc, st["P3"]), (1, "regressed"), out)

    def test_known_miss_regression_needs_the_p10_ratio_too(self):
        # Medians 2.0 against a record of 1.5, but the fastest spawns compare
        # as in the record (1.5 / 1.5): the machine's load, not a regression.
        fds = {"safeexec/execute_fds/extra_fds:0/real_time": 500,
               "safeexec/execute_fds/extra_fds:10000/real_time": 750}
        rc, st, out = gate(bench_doc(p10=fds), [record(1.5, p3_p10=1.5)])
        self.assertEqual((rc, st["P3"]), (0, "known-miss"), out)
        self.assertIn("worse by the medians only", out)
        fds["safeexec/execute_fds/extra_fds:10000/real_time"] = 1000  # p10 2.0 too
        rc, st, out = gate(bench_doc(p10=fds), [record(1.5, p3_p10=1.5)])
        self.assertEqual((rc, st["P3"]), (1, "regressed"), out)

    def test_known_miss_ignores_other_hardware_and_regressed_runs(self):
        rc, st, out = gate(bench_doc(), [record(1.5, hardware_cpu="Some Other CPU")])
        self.assertEqual((rc, st["P3"]), (0, "known-miss"), out)
        rc, st, out = gate(bench_doc(), [record(1.5, date="2026-12-01T00:00:00Z"),
                                         record(2.0, status="regressed", date="2026-12-02T00:00:00Z")])
        self.assertEqual((rc, st["P3"]), (1, "regressed"), out)

    def test_known_miss_band_grows_with_the_noise(self):
        # 2.0 vs 1.8 is 11 % worse: regressed at 1 % spread, not at 20 %
        # (two standard errors of two noisy quick runs).
        rc, st, _ = gate(bench_doc(spread=0.01), [record(1.8)])
        self.assertEqual(st["P3"], "regressed")
        rc, st, _ = gate(bench_doc(spread=0.2), [dict(record(1.8))])
        self.assertEqual(st["P3"], "known-miss")

    def test_known_miss_that_is_met_passes(self):
        rc, st, _ = gate(bench_doc({"safeexec/execute_fds/extra_fds:10000/real_time": 620}))
        self.assertEqual((rc, st["P3"]), (0, "pass"))

    def test_p5_judged_against_the_ceiling(self):
        # Raw posix_spawn scales only 1.12x (a busy machine): execute's 1.1x
        # is 0.98 of the ceiling - met, although below issue 5's 1.6.
        busy = {"safeexec/execute_threads/real_time/threads:2": 600 / 1.1,
                "baseline/posix_spawn_threads/real_time/threads:2": 590 / 1.12}
        rc, st, out = gate(bench_doc(busy))
        self.assertEqual((rc, st["P5"]), (0, "pass"), out)
        # execute does not scale at all where raw posix_spawn doubles: a lock.
        serial = {"safeexec/execute_threads/real_time/threads:2": 600}
        rc, st, out = gate(bench_doc(serial))
        self.assertEqual((rc, st["P5"]), (1, "fail"), out)

    def test_custom_benchmark_files(self):
        with tempfile.TemporaryDirectory() as tmp:
            t = Path(tmp)
            (t / "b.json").write_text(json.dumps(bench_doc()))
            subprocess.run([sys.executable, str(HERE / "ratios.py"), "--json", str(t / "b.json"),
                            "--out", str(t)], check=True, capture_output=True)
            smaller = json.loads((t / "ratios-smaller.json").read_text())
            bigger = json.loads((t / "ratios-bigger.json").read_text())
        # Every goal is published, in the file its direction says.
        self.assertEqual({p["name"].split()[0] for p in smaller},
                         {g["id"] for g in ratios.GOALS if g["op"] == "<="})
        self.assertEqual({p["name"].split()[0] for p in bigger},
                         {g["id"] for g in ratios.GOALS if g["op"] == ">="})
        self.assertTrue({"P1", "P3", "P4-RSS"} <= {p["name"].split()[0] for p in smaller})
        self.assertTrue({"P4", "P5"} <= {p["name"].split()[0] for p in bigger})
        for p in smaller + bigger:
            self.assertEqual(p["unit"], "ratio")
            self.assertIn("cpu: ", p["extra"])
            self.assertIn("kernel: ", p["extra"])


class SpawnServer(unittest.TestCase):
    """Issue 20's goals: judged as P1 - P3 are (medians, confirmed by p10);
    P3-automatic is a known miss held to its last record, as P3 is;
    P5-server is reported, never gated."""

    def test_met_and_the_direct_p3_stays_its_known_miss(self):
        result: dict = {}
        rc, st, out = gate(bench_doc(), result_out=result)
        self.assertEqual(rc, 0, out)
        for gid in ("P3-automatic", "P1-automatic", "P2-server-1024"):
            self.assertEqual(st[gid], "pass", gid)
        self.assertEqual(st["P3"], "known-miss")
        goals = {g["id"]: g for g in result["goals"]}
        self.assertAlmostEqual(goals["P3-automatic"]["value"], 640 / 600)
        self.assertAlmostEqual(goals["P1-automatic"]["value"], 605 / 590)
        self.assertAlmostEqual(goals["P2-server-1024"]["value"], 670 / 660)
        ctx = {c["id"]: c["value"] for c in result["context"]}
        self.assertAlmostEqual(ctx["P5-server"], 1.05)
        self.assertAlmostEqual(ctx["server-vs-direct"], 660 / 600)
        self.assertNotIn("P5-server", goals)
        self.assertNotIn("P3-automatic", ctx)

    def test_p3_automatic_is_a_known_miss_held_to_its_record(self):
        name = "safeexec/execute_fds_automatic/extra_fds:10000/real_time"
        den = "safeexec/execute_fds/extra_fds:0/real_time"
        # 1200 / 600 = 2.0 by the medians and the fastest spawns.
        slow = {name: 1200}
        p10 = {name: 1200 * 0.9, den: BASE_US[den] * 0.9}
        # No record of it: reported as a known miss, the gate passes.
        rc, st, out = gate(bench_doc(slow, p10=p10), [record(2.5)])
        self.assertEqual((rc, st["P3-automatic"]), (0, "known-miss"), out)
        self.assertIn("issue 20", out)
        # A record of 1.15: 2.0 is worse by the medians and by p10 - regressed.
        rec = record(2.5)
        rec["goals"].append({"id": "P3-automatic", "value": 1.15, "noise": 0.01,
                             "status": "known-miss", "value_p10": 1.15})
        rc, st, out = gate(bench_doc(slow, p10=p10), [rec])
        self.assertEqual((rc, st["P3-automatic"]), (1, "regressed"), out)
        # Within its band of that record: a known miss, not a failure.
        near = {name: 600 * 1.17}
        rc, st, out = gate(bench_doc(near, p10={name: 600 * 1.17 * 0.9, den: 540}), [rec])
        self.assertEqual((rc, st["P3-automatic"]), (0, "known-miss"), out)

    def test_each_broken_goal_fails_the_gate(self):
        for gid, name, den, slow in (
                ("P1-automatic", "safeexec/execute_strategy/automatic/real_time",
                 "baseline/posix_spawn/bin_true/real_time", 800),
                ("P2-server-1024", "safeexec/execute_mem_server/mem_mib:1024/real_time",
                 "safeexec/execute_mem_server/mem_mib:0/real_time", 900)):
            with self.subTest(gid):
                # Slower by the medians and by the fastest spawns: a failure
                # (not a known miss, whatever the history holds).
                p10 = {name: slow * 0.9, den: BASE_US[den] * 0.9}
                rc, st, out = gate(bench_doc({name: slow}, p10=p10), [record(2.5)])
                self.assertEqual((rc, st[gid]), (1, "fail"), out)
                # By the medians only: the machine's load, reported as NOISE.
                p10 = {name: BASE_US[den] * 0.9, den: BASE_US[den] * 0.9}
                rc, st, out = gate(bench_doc({name: slow}, p10=p10))
                self.assertEqual((rc, st[gid]), (0, "noise"), out)

    def test_a_new_goal_missing_from_this_run_fails(self):
        rc, st, out = gate(bench_doc(drop=(
            "safeexec/execute_fds_automatic/extra_fds:10000/real_time",)))
        self.assertEqual((rc, st["P3-automatic"]), (1, "missing"), out)
        rc, st, out = gate(bench_doc(drop=("safeexec/execute_mem_server/mem_mib:0/real_time",)))
        self.assertEqual((rc, st["P2-server-1024"]), (1, "missing"), out)

    def test_p5_server_is_reported_not_gated(self):
        # One server, requests one at a time: no gain from a second thread.
        serial = {"safeexec/execute_threads_server/real_time/threads:2": 660}
        result: dict = {}
        rc, st, out = gate(bench_doc(serial), result_out=result)
        self.assertEqual(rc, 0, out)
        ctx = {c["id"]: c for c in result["context"]}
        self.assertAlmostEqual(ctx["P5-server"]["value"], 1.0)
        self.assertIn("one at a time", ctx["P5-server"]["title"])
        self.assertIn("P5-server", out)

    def test_older_records_without_the_new_goals_do_not_fail_the_gate(self):
        # Records of this hardware written before issue 20's goals: schema 2
        # (P3 only here) and schema 3 (as today, but without them).
        old = [record(1.98, schema=2, date="2026-12-01T00:00:00Z"),
               record(1.97, date="2026-12-02T00:00:00Z")]
        rc, st, out = gate(bench_doc(), old)
        self.assertEqual(rc, 0, out)
        self.assertEqual((st["P3"], st["P3-automatic"], st["P2-server-1024"]),
                         ("known-miss", "pass", "pass"))
        # ... and the committed history, whatever its schemas, reads.
        with tempfile.TemporaryDirectory() as tmp:
            for p in (HERE.parent / "history").glob("*.json"):
                (Path(tmp) / p.name).write_text(p.read_text())
            recs = ratios.load_records(Path(tmp))
            self.assertEqual(len(recs), len(list((HERE.parent / "history").glob("*.json"))))
            base = ratios.last_records(Path(tmp), ratios.hardware_of(ratios.machine()))
            # The history now holds runs with the new goals too (issue 20's
            # quiet runs): whatever it holds, the gate judges the current run.
            result = ratios.compute(bench_doc(), 0.05, base)
        st = {g["id"]: g["status"] for g in result["goals"]}
        self.assertEqual((st["P3-automatic"], st["P1-automatic"], st["P2-server-1024"]),
                         ("pass", "pass", "pass"))


class Upgrade(unittest.TestCase):
    def test_schema_2_context_ratios_become_goals(self):
        rec = {"schema": 2, "tolerance": 0.05, "goals": [{"id": "P1", "value": 1.0}],
               "context_ratios": [
                   {"id": "P3-automatic", "value": 1.3, "noise": 0.01},
                   {"id": "P1-automatic", "value": 1.02, "noise": 0.01},
                   {"id": "server-vs-direct", "value": 1.12, "noise": 0.01}]}
        up = ratios.upgrade(rec)
        self.assertEqual((up["schema"], up["upgraded_from"]), (ratios.SCHEMA, 2))
        goals = {g["id"]: g for g in up["goals"]}
        self.assertEqual(goals["P3-automatic"]["status"], "fail")
        self.assertEqual(goals["P1-automatic"]["status"], "pass")
        self.assertEqual(goals["P3-automatic"]["goal"], 1.1)
        self.assertNotIn("P2-server-1024", goals)  # not measured then: absent
        self.assertEqual([c["id"] for c in up["context_ratios"]], ["server-vs-direct"])

    def test_records_lack_goals_they_did_not_measure(self):
        hist = HERE.parent / "history"
        for p in sorted(hist.glob("*.json")):
            raw = json.loads(p.read_text())
            measured = {g["id"] for g in raw["goals"]}
            measured |= {c["id"] for c in raw.get("context_ratios", [])}
            rec = ratios.upgrade(raw)
            self.assertEqual(rec["schema"], ratios.SCHEMA)
            for g in rec["goals"]:
                self.assertIn(g["id"], measured, p.name)


    def test_schema_1_records_read_in_todays_terms(self):
        hist = HERE.parent / "history"
        old = [ratios.upgrade(json.loads(p.read_text())) for p in sorted(hist.glob("*.json"))
               if json.loads(p.read_text()).get("schema") == 1]
        if not old:
            self.skipTest("no schema-1 record in bench/history")
        for rec in old:
            goals = {g["id"]: g for g in rec["goals"]}
            ctx = {c["id"]: c["value"] for c in rec["context_ratios"]}
            self.assertAlmostEqual(goals["P5"]["value"], ctx["P5-abs"] / ctx["P5-raw"])
            self.assertIn(goals["P3"]["status"], ("known-miss", "pass"))


if __name__ == "__main__":
    unittest.main(verbosity=2)
