#!/usr/bin/env python3
"""Turns one safeexec-bench run (Google Benchmark JSON) into ratios.

Every figure that decides anything is a ratio of two medians from the same
run, so machine speed and most of its noise cancel out. Latency ratios (P1,
P2, P3, peers) use each benchmark's p50_ns counter - the median of its
per-spawn samples - taken as the median over repetitions: on a shared
machine a woken parent sometimes waits a whole scheduler tick (~4 ms) behind
another process, which inflates a repetition's mean (Google Benchmark's
real_time) but not its median. The mean-based ratio is printed beside.
Throughput ratios (P4, P5) use real_time. Used by ci/bench:

    ratios.py --json OUT/benchmark.json --out OUT [--history DIR] [--mode quick]
              [--check] [--tolerance 0.05]

Writes OUT/ratios.json, OUT/ratios-smaller.json and OUT/ratios-bigger.json
(the goal ratios for github-action-benchmark's customSmallerIsBetter and
customBiggerIsBetter, CPU model and kernel with every point),
OUT/benchmark-medians.json (Google Benchmark format, median rows only) and
OUT/table.txt; prints the table; appends a run record to the history folder;
with --check exits 1 when the gate fails.

The gate: a met goal "fails" only when it misses its goal by more than
--tolerance (default 5 %) of the goal and by more than 2 standard errors of
the run's own noise; a smaller miss is "noise". A documented known miss
(GOALS' known_miss: P3 and P3-automatic, issue 20) is "known-miss" and fails
("regressed") only when it is worse than the worst of its last five records
on the same hardware (CPU model, CPU count, kernel) by more than
max(tolerance, 2 standard errors of the two runs). P5 is judged against raw posix_spawn's 2-thread scaling of the run.
Each ratio also carries its own noise estimate from the repetitions' robust
spread (the suite's "rmad" aggregate; standard error of a median
~ 1.25 * sd / sqrt(n), combined for the two medians), printed as +-x %.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import re
import subprocess
import sys
from pathlib import Path

# 2: P5 against its ceiling, P3 a known miss, hardware and git_ref.
# 3: the spawn server (issue 20): P3-automatic and P1-automatic became goals
#    (context ratios in schema 2), P2-server-1024 a goal, P5-server context.
SCHEMA = 3
MIB = 1 << 20

# The goals of issue 5. "op" says which side of the goal passes.
GOALS = [
    {
        "id": "P1",
        "short": "execute ÷ raw posix_spawn",
        "title": "execute(/bin/true) with 3 pipes, small input, captured output / raw posix_spawn+waitpid",
        "kind": "time_ratio",
        "num": "safeexec/execute/bin_true/real_time",
        "den": "baseline/posix_spawn/bin_true/real_time",
        "basis": "p50",
        "op": "<=",
        "goal": 1.05,
    },
    {
        "id": "P2-256",
        "short": "256 MiB held ÷ none",
        "title": "execute with 256 MiB touched in the parent / with none",
        "kind": "time_ratio",
        "num": "safeexec/execute_mem/mem_mib:256/real_time",
        "den": "safeexec/execute_mem/mem_mib:0/real_time",
        "basis": "p50",
        "op": "<=",
        "goal": 1.1,
    },
    {
        "id": "P2-1024",
        "short": "1 GiB held ÷ none",
        "title": "execute with 1 GiB touched in the parent / with none",
        "kind": "time_ratio",
        "num": "safeexec/execute_mem/mem_mib:1024/real_time",
        "den": "safeexec/execute_mem/mem_mib:0/real_time",
        "basis": "p50",
        "op": "<=",
        "goal": 1.1,
    },
    {
        "id": "P3",
        "short": "10 000 extra fds ÷ none",
        "title": "execute with 10 000 extra open descriptors / with none",
        "kind": "time_ratio",
        "num": "safeexec/execute_fds/extra_fds:10000/real_time",
        "den": "safeexec/execute_fds/extra_fds:0/real_time",
        "basis": "p50",
        "op": "<=",
        "goal": 1.1,
        # A documented known miss: the kernel copies the descriptor table and
        # closes every entry at execve, whoever spawns (bench/README.md, "P3").
        # Issue of record: 20 (a spawn server). The gate holds it to its last
        # recorded value on the same hardware instead of to the goal.
        "known_miss": {"issue": 20, "why": "kernel-bound: descriptor table copy + close at "
                       "execve by a direct spawn; the spawn server of issue 20 is the way "
                       "under 1.1 (goal P3-automatic)"},
    },
    {
        "id": "P4",
        "short": "cat round trip, execute ÷ raw (throughput)",
        "title": "throughput: 256 MiB round trip through cat, execute / raw posix_spawn+poll loop",
        "kind": "throughput_ratio",  # = den time / num time
        "num": "safeexec/execute_cat/mib:256/real_time",
        "den": "baseline/posix_spawn_cat/mib:256/real_time",
        "op": ">=",
        "goal": 0.8,
    },
    {
        "id": "P4-RSS",
        "short": "peak RSS ÷ (in + out + 16 MiB)",
        "title": "peak RSS during the P4 execute run / (input + output + 16 MiB)",
        "kind": "rss_ratio",
        "num": "safeexec/execute_cat/mib:256/real_time",
        "op": "<=",
        "goal": 1.0,
    },
    {
        # Issue 5 asked for 2 threads >= 1.6 x 1 thread. Whether a second
        # thread gains anything is decided by the machine's free CPU (each
        # spawn keeps a core busy with the child's start-up), so the goal is
        # judged against the machine's own ceiling measured in the same run:
        # execute's 2-thread scaling / raw posix_spawn's (P5-raw). The
        # absolute figure stays as context (P5-abs).
        "id": "P5",
        "short": "2-thread scaling ÷ raw posix_spawn's",
        "title": "execute's spawns/s 2 threads / 1 thread, divided by raw posix_spawn's "
                 "2 threads / 1 thread (the machine's ceiling, same run)",
        "kind": "scaling_ratio",
        "num": ("safeexec/execute_threads/real_time/threads:2",
                "safeexec/execute_threads/real_time/threads:1"),
        "den": ("baseline/posix_spawn_threads/real_time/threads:2",
                "baseline/posix_spawn_threads/real_time/threads:1"),
        "op": ">=",
        "goal": 0.9,
    },
    # Issue 21 part 2: streaming.
    {
        "id": "P7",
        "short": "cat to a line callback ÷ poll + memchr loop",
        "title": "throughput: 256 MiB through cat to a line callback / a hand-written poll + memchr loop",
        "kind": "throughput_ratio",
        "num": "safeexec/stream_lines/mib:256/real_time",
        "den": "baseline/poll_memchr_lines/mib:256/real_time",
        "op": ">=",
        "goal": 0.9,
    },
    {
        "id": "P7-RSS",
        "short": "peak RSS streaming 1 GiB ÷ (baseline + 16 MiB)",
        "title": "peak RSS of a process streaming 1 GiB to a line callback, nothing captured / "
                 "(its RSS before + 16 MiB)",
        "kind": "rss_ratio",
        "num": "safeexec/stream_rss/mib:1024/iterations:1/repeats:2/real_time",
        "op": "<=",
        "goal": 1.0,
    },
    {
        "id": "P7-RSS-flat",
        "short": "peak RSS streaming 1 GiB ÷ 64 MiB",
        "title": "peak RSS of a process streaming 1 GiB / one streaming 64 MiB (flat in the output size)",
        "kind": "rss_flat",
        "num": "safeexec/stream_rss/mib:1024/iterations:1/repeats:2/real_time",
        "den": "safeexec/stream_rss/mib:64/iterations:1/repeats:2/real_time",
        "op": "<=",
        "goal": 1.05,
    },
    {
        "id": "P8",
        "short": "redirect to a file ÷ raw posix_spawn + open",
        "title": "cat from a file to a file: create_process with StdioRoute::file / raw posix_spawn "
        "with both fds opened by hand",
        "kind": "time_ratio",
        "num": "safeexec/redirect_file/mib:64/real_time",
        "den": "baseline/posix_spawn_redirect/mib:64/real_time",
        "basis": "p50",
        "op": "<=",
        "goal": 1.05,
    },
]

# Issue 19: what a cgroup v2 leaf per command costs (mkdir, limits, clone3
# into it, cgroup.kill, wait for empty, rmdir).
GOALS.append({
    "id": "P9",
    "short": "execute with cgroup leaf ÷ without",
    "title": "execute(/bin/true) in a fresh cgroup v2 leaf / without one",
    "kind": "time_ratio",
    "num": "safeexec/execute_cgroup/leaf:1/real_time",
    "den": "safeexec/execute_cgroup/leaf:0/real_time",
    "basis": "p50",
    "op": "<=",
    "goal": 1.5,
})

# Issue 20: the spawn server. The same job as P1 - P3, judged as they are
# (per-spawn medians, confirmed by the p10 ratio). P3-automatic is P3 with the
# automatic strategy against the small caller's direct spawn of the same run:
# the server copies its own few descriptors, not the caller's 10 000.
GOALS += [
    {
        "id": "P3-automatic",
        "short": "automatic, 10 000 extra fds ÷ direct, none",
        "title": "execute with the automatic strategy and 10 000 extra open descriptors / "
                 "direct execute with none",
        "kind": "time_ratio",
        "num": "safeexec/execute_fds_automatic/extra_fds:10000/real_time",
        "den": "safeexec/execute_fds/extra_fds:0/real_time",
        "basis": "p50",
        "op": "<=",
        "goal": 1.1,
        # A documented known miss since 2026-12-07 (bench/README.md, "Where
        # the server's round trip goes"): 1.11 - 1.25 on 2 vCPUs, 1.07 - 1.08
        # with the run pinned to one. The scheduler puts the server's child
        # on the other, idle vCPU in about half the spawns. Issue of record:
        # 20. Held to its recent records, as P3 is, so that the gate fails on a
        # regression and not on which vCPU the scheduler picked.
        "known_miss": {"issue": 20, "why": "scheduler-bound on 2 vCPUs: the server's child "
                       "and the caller's wake-up land on the other, idle vCPU in about half "
                       "the spawns; the protocol itself costs 6 - 8 % (pinned to one vCPU)"},
    },
    {
        "id": "P1-automatic",
        "short": "automatic execute ÷ raw posix_spawn",
        "title": "execute(/bin/true) as P1 with the automatic strategy (a small caller: direct) / "
                 "raw posix_spawn+waitpid",
        "kind": "time_ratio",
        "num": "safeexec/execute_strategy/automatic/real_time",
        "den": "baseline/posix_spawn/bin_true/real_time",
        "basis": "p50",
        "op": "<=",
        "goal": 1.05,
    },
    {
        "id": "P2-server-1024",
        "short": "via the server, 1 GiB held ÷ none",
        "title": "execute through the spawn server with 1 GiB touched in the parent / with none",
        "kind": "time_ratio",
        "num": "safeexec/execute_mem_server/mem_mib:1024/real_time",
        "den": "safeexec/execute_mem_server/mem_mib:0/real_time",
        "basis": "p50",
        "op": "<=",
        "goal": 1.1,
    },
]

# Context: no goal, shown beside the goals to say what limits them.
CONTEXT = [
    ("P1-samejob", "execute / the same job by hand (posix_spawn, 3 pipes, poll loop)",
     "time_ratio", "safeexec/execute/bin_true/real_time",
     "baseline/posix_spawn_pipes/bin_true/real_time"),
    ("P1-spawnonly", "create_process+wait (no pipes) / raw posix_spawn+waitpid",
     "time_ratio", "safeexec/create_process/bin_true/real_time",
     "baseline/posix_spawn/bin_true/real_time"),
    ("P1-static", "execute / raw posix_spawn, static no-op helper",
     "time_ratio", "safeexec/execute/noop_static/real_time",
     "baseline/posix_spawn/noop_static/real_time"),
    ("P2-fork-256", "fork+execve with 256 MiB / with none",
     "time_ratio", "baseline/fork_execve_mem/mem_mib:256/real_time",
     "baseline/fork_execve_mem/mem_mib:0/real_time"),
    ("P2-fork-1024", "fork+execve with 1 GiB / with none",
     "time_ratio", "baseline/fork_execve_mem/mem_mib:1024/real_time",
     "baseline/fork_execve_mem/mem_mib:0/real_time"),
    ("P3-raw-leaky", "raw posix_spawn (leaks the fds) with 10 000 fds / with none",
     "time_ratio", "baseline/posix_spawn_fds/extra_fds:10000/real_time",
     "baseline/posix_spawn_fds/extra_fds:0/real_time"),
    ("P3-raw-closefrom", "raw posix_spawn + addclosefrom_np(3) with 10 000 fds / with none",
     "time_ratio", "baseline/posix_spawn_closefrom_fds/extra_fds:10000/real_time",
     "baseline/posix_spawn_closefrom_fds/extra_fds:0/real_time"),
    ("P3-vs-closefrom", "execute with 10 000 fds / raw posix_spawn + closefrom with 10 000 fds",
     "time_ratio", "safeexec/execute_fds/extra_fds:10000/real_time",
     "baseline/posix_spawn_closefrom_fds/extra_fds:10000/real_time"),
    # Issue 20: the spawn server (its goals: P3-automatic, P1-automatic,
    # P2-server-1024). P3 forced through the server against the small-caller
    # direct spawn of the same run; what the server costs a small caller.
    ("P3-server", "execute via the spawn server with 10 000 fds / direct with none",
     "time_ratio", "safeexec/execute_fds_server/extra_fds:10000/real_time",
     "safeexec/execute_fds/extra_fds:0/real_time"),
    # Where the server starts to win (kAutomaticServerFd): > 1 means
    # the server is the cheaper spawn for a caller with that many open.
    ("threshold-1000", "direct / via the server, 1000 extra fds open (> 1: the server is cheaper)",
     "time_ratio", "safeexec/execute_fds/extra_fds:1000/real_time",
     "safeexec/execute_fds_server/extra_fds:1000/real_time"),
    ("threshold-4000", "direct / via the server, 4000 extra fds open (> 1: the server is cheaper)",
     "time_ratio", "safeexec/execute_fds/extra_fds:4000/real_time",
     "safeexec/execute_fds_server/extra_fds:4000/real_time"),
    ("server-vs-direct", "execute via the spawn server / direct, small caller",
     "time_ratio", "safeexec/execute_strategy/server/real_time",
     "safeexec/execute/bin_true/real_time"),
    ("P4-vs-reuse", "throughput execute / raw cat loop reusing one output buffer",
     "throughput_ratio", "safeexec/execute_cat/mib:256/real_time",
     "baseline/posix_spawn_cat_reuse/mib:256/real_time"),
    ("P4-cpu", "bytes per parent CPU second: execute / raw (the parent thread's CPU time)",
     "cpu_throughput_ratio", "safeexec/execute_cat/mib:256/real_time",
     "baseline/posix_spawn_cat/mib:256/real_time"),
    ("P5-abs", "execute spawns/s, 2 threads / 1 thread (issue 5's absolute figure: 1.6 asked)",
     "throughput_ratio", "safeexec/execute_threads/real_time/threads:2",
     "safeexec/execute_threads/real_time/threads:1"),
    ("P5-raw", "raw posix_spawn spawns/s, 2 threads / 1 thread (the machine's ceiling)",
     "throughput_ratio", "baseline/posix_spawn_threads/real_time/threads:2",
     "baseline/posix_spawn_threads/real_time/threads:1"),
    # Issue 20 asked for >= 1.6; reported, not a goal: the process has one
    # server, and its requests take turns behind one lock (send, the server's
    # clone up to the child's exec, reply); only the children's runs and the
    # callers' waits overlap. A server (or socket) per calling thread would lift it.
    ("P5-server", "execute via one spawn server, spawns/s 2 threads / 1 thread (no goal: "
     "requests are served one at a time, behind one lock)",
     "throughput_ratio", "safeexec/execute_threads_server/real_time/threads:2",
     "safeexec/execute_threads_server/real_time/threads:1"),
]

CONTEXT_TITLES = {c[0]: c[1] for c in CONTEXT}

# Peers: each job's median latency / raw posix_spawn+waitpid of /bin/true.
PEERS = [
    ("raw posix_spawn", "baseline/posix_spawn/bin_true/real_time"),
    ("raw vfork+execve", "baseline/vfork_execve/bin_true/real_time"),
    ("raw fork+execve", "baseline/fork_execve/bin_true/real_time"),
    ("raw same job (pipes)", "baseline/posix_spawn_pipes/bin_true/real_time"),
    ("safeexec execute", "safeexec/execute/bin_true/real_time"),
    ("Boost.Process v2", "peer/boost_process_v2/bin_true/real_time"),
    ("Python subprocess.run", "peer/python_subprocess_run/bin_true/manual_time"),
]
PEER_BASE = "baseline/posix_spawn/bin_true/real_time"

TO_US = {"ns": 1e-3, "us": 1.0, "ms": 1e3, "s": 1e6}


def load_rows(doc: dict) -> dict[str, dict[str, dict]]:
    """name -> aggregate name ('median', 'cv', 'mean', 'stddev' or 'run') -> row."""
    rows: dict[str, dict[str, dict]] = {}
    for b in doc.get("benchmarks", []):
        name = b.get("run_name") or b["name"]
        agg = b.get("aggregate_name", "run") if b.get("run_type") == "aggregate" else "run"
        rows.setdefault(name, {})[agg] = b
    return rows


def median_row(rows, name):
    r = rows.get(name, {})
    return r.get("median") or r.get("run")


def time_us(row) -> float | None:
    if row is None or row.get("error_occurred"):
        return None
    return float(row["real_time"]) * TO_US[row.get("time_unit", "ns")]


def p50_us(row) -> float | None:
    """Median of the per-spawn samples of a repetition (the p50_ns counter),
    as the median over repetitions; real_time where a benchmark has none."""
    if row is None or row.get("error_occurred"):
        return None
    if "p50_ns" in row:
        return float(row["p50_ns"]) / 1000
    return time_us(row)


def p10_us(row) -> float | None:
    if row is None or row.get("error_occurred") or "p10_ns" not in row:
        return None
    return float(row["p10_ns"]) / 1000


def best_us(rows, name) -> float | None:
    """The fastest repetition (the suite's 'min' aggregate), or None."""
    return time_us(rows.get(name, {}).get("min"))


def latency_us(rows, name, basis) -> float | None:
    row = median_row(rows, name)
    return p50_us(row) if basis == "p50" else time_us(row)


def cpu_us(row) -> float | None:
    if row is None or row.get("error_occurred"):
        return None
    return float(row["cpu_time"]) * TO_US[row.get("time_unit", "ns")]


def spread_of(rows, name, basis="real_time") -> float | None:
    """Relative spread of the repetitions: the robust 'rmad' aggregate the
    suite adds (median absolute deviation / median, scaled by 1.4826 to
    estimate a standard deviation), else Google Benchmark's CV. Both are
    written as fractions."""
    aggs = rows.get(name, {})
    key = "p50_ns" if basis == "p50" else "real_time"
    for agg, scale in (("rmad", 1.4826), ("cv", 1.0)):
        row = aggs.get(agg)
        if row is not None and key in row:
            return scale * float(row[key])
    return None


def reps_of(rows, name) -> int:
    m = median_row(rows, name)
    return int(m.get("repetitions", 1)) if m else 0


def ratio_noise(rows, num, den, basis="real_time") -> float | None:
    """Relative standard error of the ratio of two medians, from their spreads."""
    parts = []
    for name in (num, den):
        sd, n = spread_of(rows, name, basis), reps_of(rows, name)
        if sd is None or n < 2:
            return None
        parts.append(1.2533 * sd / math.sqrt(n))
    return math.sqrt(sum(p * p for p in parts))


def miss_band(tol, noise) -> float:
    """How far past its goal a ratio may read and still be called noise: the
    tolerance, or two standard errors of the run's own noise estimate where
    the run was noisier than that (a miss the run cannot tell from the goal
    is not a failure of the code; the table shows the noise beside it)."""
    return max(tol, 2 * noise) if noise is not None else tol


def evaluate(value, goal, op, tol, noise=None):
    """Against the goal alone: pass, noise (a miss within the band), fail,
    or missing."""
    if value is None:
        return "missing"
    ok = value <= goal if op == "<=" else value >= goal
    if ok:
        return "pass"
    band = miss_band(tol, noise)
    within = value <= goal * (1 + band) if op == "<=" else value >= goal * (1 - band)
    return "noise" if within else "fail"


def confirm_by_second_ratio(entry: dict, tol: float, second: str, mark: str) -> None:
    """The goal judged by its medians' ratio and by a second ratio of the
    least disturbed measurements (entry[second]): FAIL when both miss it by
    more than the tolerance; a miss by the medians alone is NOISE, with
    entry[mark] set. Without the second ratio the status stays as it is."""
    other = entry.get(second)
    if other is None or entry.get("value") is None:
        return
    by_median = evaluate(entry["value"], entry["goal"], entry["op"], tol)
    entry["status"] = by_median
    if by_median == "fail" and evaluate(other, entry["goal"], entry["op"], tol) != "fail":
        entry["status"] = "noise"
        entry[mark] = True


def confirm_with_p10(entry: dict, tol: float) -> None:
    """A latency goal (per-spawn medians, with the p10 counter) is judged by
    two ratios instead of one ratio and its noise band: it FAILs when the
    medians and the 10th percentiles (the least disturbed spawns of each
    benchmark) both miss it by more than the tolerance. Slower code moves
    every percentile; a busy machine's scheduler delays inflate the medians
    and spare the fastest spawns (a quick run under load 14 here read P2 at
    2.16 by medians and 1.005 by p10). Under such load the noise estimate
    itself blows up (±38 % at load 18), and a band of two standard errors
    would hide a spawn path slowed by 300 µs (P1 2.11 / p10 1.59). A miss by
    the medians alone is NOISE, marked."""
    confirm_by_second_ratio(entry, tol, "value_p10", "unconfirmed_by_p10")


def confirm_with_best(entry: dict, tol: float) -> None:
    """A throughput goal (one repetition is one long transfer, so there is no
    per-spawn p10) is judged as a latency goal is, by two ratios: the
    medians' and the fastest repetitions' (each benchmark's least disturbed
    run). It FAILs when both miss it by more than the tolerance. Through a
    pipe to `cat`, which vCPU each of the three processes lands on moves a
    whole repetition by 20 - 30 % (P7 read 1.08 and 0.71 in two quiet quick
    runs back to back, the same commit); slower code moves the fastest
    repetition too. A miss by the medians alone is NOISE, marked."""
    confirm_by_second_ratio(entry, tol, "value_best", "unconfirmed_by_best")


# The statuses --check fails on. A met goal gates ("fail": missed by more than
# the tolerance); a documented known miss gates only against its own recent
# records ("regressed"); "known-miss" and "noise" are reported, not failed.
GATE_FAILS = ("fail", "missing", "regressed")


def regression_band(noise, base_noise, tol) -> float:
    """How much worse than its record a known miss may read before it
    counts as worse: two standard errors of the difference of the two runs
    (each run's own noise estimate), never less than the tolerance, since a
    quick run's estimate from 9 repetitions is itself rough."""
    parts = [n for n in (noise, base_noise) if n is not None]
    se = math.sqrt(sum(n * n for n in parts)) if parts else 0.0
    return max(tol, 2 * se)


def judge_known_miss(entry: dict, known: dict, base: dict | None, tol: float) -> None:
    """A documented known miss: 'known-miss' while it is no worse than the
    record it is held to on the same hardware (the worst of its last
    KNOWN_MISS_WINDOW, last_records()) by more than the band,
    'regressed' when it is. Met after all: 'pass' (its gate is the goal)."""
    entry["known_miss"] = known
    if entry["status"] not in ("noise", "fail"):
        return
    entry["status"] = "known-miss"
    if base is None or base.get("value") is None:
        entry["judged_against"] = None
        return
    band = regression_band(entry.get("noise"), base.get("noise"), tol)

    def worse(v, b):
        return v > b * (1 + band) if entry["op"] == "<=" else v < b * (1 - band)

    v, b = entry["value"], base["value"]
    entry["judged_against"] = dict(base, band=band, limit=b * (1 + band) if entry["op"] == "<="
                                   else b * (1 - band))
    if not worse(v, b):
        return
    # As for a met goal (confirm_with_p10): worse by the medians only, while
    # the fastest spawns compare as before (within the same band: a known
    # miss fails only when it is worse by more than its noise; under load
    # 14 its p10 ratio moved 10 % with no change to the code), is the
    # machine's load.
    p10, base_p10 = entry.get("value_p10"), base.get("value_p10")
    if p10 is not None and base_p10 is not None and not worse(p10, base_p10):
        entry["regression_unconfirmed_by_p10"] = True
        return
    entry["status"] = "regressed"


def compute(doc: dict, tol: float, baseline: dict | None = None) -> dict:
    """Ratios of one run. baseline: goal id -> the recorded entry each known
    miss is held to on this hardware, see last_records()."""
    rows = load_rows(doc)
    out = {"goals": [], "context": [], "peers": [], "tolerance": tol}
    for g in GOALS:
        basis = g.get("basis", "real_time")
        entry = {k: g[k] for k in ("id", "title", "short", "op", "goal", "kind")}
        entry["basis"] = basis
        value = None
        noise = None
        if g["kind"] == "scaling_ratio":
            # (num scaling) / (den scaling), each scaling = time with 1 thread
            # / time with 2 threads, i.e. spawns/s with 2 / spawns/s with 1.
            (n2, n1), (d2, d1) = g["num"], g["den"]
            t = [time_us(median_row(rows, x)) for x in (n2, n1, d2, d1)]
            entry.update(numerator=list(g["num"]), denominator=list(g["den"]))
            if all(t):
                num_scaling, den_scaling = t[1] / t[0], t[3] / t[2]
                value = num_scaling / den_scaling
                entry.update(numerator_scaling=num_scaling, denominator_scaling=den_scaling)
                a, b = ratio_noise(rows, n2, n1), ratio_noise(rows, d2, d1)
                noise = math.sqrt(a * a + b * b) if a is not None and b is not None else None
        elif g["kind"] in ("time_ratio", "throughput_ratio"):
            tn, td = latency_us(rows, g["num"], basis), latency_us(rows, g["den"], basis)
            entry.update(numerator=g["num"], denominator=g["den"], numerator_us=tn,
                         denominator_us=td)
            if tn and td:
                value = tn / td if g["kind"] == "time_ratio" else td / tn
                noise = ratio_noise(rows, g["num"], g["den"], basis)
            if g["kind"] == "throughput_ratio":
                bn, bd = best_us(rows, g["num"]), best_us(rows, g["den"])
                entry["value_best"] = bd / bn if (bn and bd) else None
            if basis == "p50":
                mn, md = time_us(median_row(rows, g["num"])), time_us(median_row(rows, g["den"]))
                entry["value_real_time"] = (mn / md if g["kind"] == "time_ratio" else md / mn) \
                    if (mn and md) else None
                qn, qd = p10_us(median_row(rows, g["num"])), p10_us(median_row(rows, g["den"]))
                entry["value_p10"] = qn / qd if (qn and qd) else None
        elif g["kind"] == "rss_ratio":
            row = median_row(rows, g["num"])
            if row is not None and not row.get("error_occurred"):
                peak, cap = row.get("peak_rss_bytes"), row.get("rss_goal_bytes")
                before = row.get("rss_before_bytes")
                entry.update(benchmark=g["num"], peak_rss_mib=peak and peak / MIB,
                             goal_rss_mib=cap and cap / MIB,
                             rss_before_mib=before and before / MIB,
                             payload_mib=row.get("payload_bytes", 0) / MIB)
                if peak and cap:
                    value = peak / cap
        elif g["kind"] == "rss_flat":
            rn, rd = median_row(rows, g["num"]), median_row(rows, g["den"])
            pn, pd = (r and not r.get("error_occurred") and r.get("peak_rss_bytes")
                      for r in (rn, rd))
            entry.update(numerator=g["num"], denominator=g["den"])
            if pn and pd:
                value = pn / pd
        entry["value"] = value
        entry["noise"] = noise
        entry["status"] = evaluate(value, g["goal"], g["op"], tol, noise)
        confirm_with_p10(entry, tol)
        confirm_with_best(entry, tol)
        if g.get("known_miss"):
            judge_known_miss(entry, g["known_miss"], (baseline or {}).get(g["id"]), tol)
        out["goals"].append(entry)
    for cid, title, kind, num, den in CONTEXT:
        basis = "p50" if kind == "time_ratio" else "real_time"
        tn, td = latency_us(rows, num, basis), latency_us(rows, den, basis)
        if kind == "cpu_throughput_ratio":
            tn, td = cpu_us(median_row(rows, num)), cpu_us(median_row(rows, den))
        value = None
        if tn and td:
            value = tn / td if kind == "time_ratio" else td / tn
        out["context"].append({"id": cid, "title": title, "kind": kind, "basis": basis,
                               "numerator": num, "denominator": den, "value": value,
                               "noise": ratio_noise(rows, num, den, basis) if value else None})
    base = p50_us(median_row(rows, PEER_BASE))
    base_mean = time_us(median_row(rows, PEER_BASE))
    for label, name in PEERS:
        row = median_row(rows, name)
        t, t_mean = p50_us(row), time_us(row)
        out["peers"].append({
            "label": label, "benchmark": name, "median_us": t, "mean_us": t_mean,
            "ratio_to_raw_posix_spawn": (t / base) if (t and base) else None,
            "ratio_mean_based": (t_mean / base_mean) if (t_mean and base_mean) else None,
            "error": row.get("error_message") if row and row.get("error_occurred") else None,
        })
    errors = sorted(n for n, r in rows.items()
                    if any(x.get("error_occurred") for x in r.values()))
    out["errored_benchmarks"] = errors
    return out


def fmt(v, digits=3):
    return "-" if v is None else f"{v:.{digits}f}"


def table(result: dict) -> str:
    lines = []
    tol = result["tolerance"]
    lines.append(f"{'ratio':<16} {'value':>7} {'goal':>8} {'noise':>7}  {'status':<10} "
                 f"{'mean-based':>10} {'p10-based':>9}  what")
    for g in result["goals"]:
        noise = "-" if g["noise"] is None else f"±{100 * g['noise']:.1f}%"
        mean_based = fmt(g.get("value_real_time")) if g.get("basis") == "p50" else ""
        p10_based = fmt(g.get("value_p10")) if g.get("basis") == "p50" else \
            (fmt(g.get("value_best")) + "b" if g.get("value_best") is not None else "")
        lines.append(f"{g['id']:<16} {fmt(g['value']):>7} {g['op'] + ' ' + str(g['goal']):>8} "
                     f"{noise:>7}  {g['status'].upper():<10} {mean_based:>10} {p10_based:>9}  "
                     f"{g['title']}")
        if g.get("unconfirmed_by_p10") and not g.get("known_miss"):
            lines.append(f"{'':<16} missed by the medians only: the p10-based ratio meets the goal "
                         f"(scheduler delays, not slower code): NOISE")
        if g.get("unconfirmed_by_best") and not g.get("known_miss"):
            lines.append(f"{'':<16} missed by the medians only: the fastest repetitions' ratio "
                         f"{g['value_best']:.3f} meets the goal (where the scheduler put the "
                         f"pipe's ends, not slower code): NOISE")
        if g["kind"] == "scaling_ratio" and g.get("numerator_scaling"):
            lines.append(f"{'':<16} execute scales {g['numerator_scaling']:.3f}x on 2 threads, "
                         f"raw posix_spawn {g['denominator_scaling']:.3f}x (the ceiling)")
        if g.get("known_miss") and g["status"] in ("known-miss", "regressed"):
            km, base = g["known_miss"], g.get("judged_against")
            if base:
                lines.append(f"{'':<16} known miss (issue {km['issue']}): held to the worst of its "
                             f"last {base.get('of_records', 1)} records on this hardware, "
                             f"{base['value']:.3f} ({base['commit']}, "
                             f"{base['date']}): limit {g['op']} {base['limit']:.3f} "
                             f"(band ±{100 * base['band']:.1f}%)")
                if g.get("regression_unconfirmed_by_p10"):
                    lines.append(f"{'':<16} worse by the medians only: the p10-based ratio "
                                 f"{g['value_p10']:.3f} is within the band of the record's "
                                 f"{base['value_p10']:.3f} (the machine's load): KNOWN-MISS")
            else:
                lines.append(f"{'':<16} known miss (issue {km['issue']}): no earlier record on "
                             f"this hardware to hold it to; reported only")
        if g["kind"] == "rss_ratio" and g.get("peak_rss_mib") and g["id"] == "P7-RSS":
            lines.append(f"{'':<16} peak {g['peak_rss_mib']:.1f} MiB, goal "
                         f"{g['goal_rss_mib']:.1f} MiB (RSS before streaming "
                         f"{(g.get('rss_before_mib') or 0):.1f} + 16), "
                         f"{g['payload_mib']:.0f} MiB streamed")
        elif g["kind"] == "rss_ratio" and g.get("peak_rss_mib"):
            lines.append(f"{'':<16} peak {g['peak_rss_mib']:.1f} MiB, goal "
                         f"{g['goal_rss_mib']:.1f} MiB (input {g['payload_mib']:.0f} + output "
                         f"{g['payload_mib']:.0f} + 16), RSS before the run "
                         f"{(g.get('rss_before_mib') or 0):.1f} MiB")
    lines.append(f"(FAIL = misses the goal by more than {100 * tol:.0f} % of it and by more than "
                 f"2 standard errors of the run's noise (latency goals: by {100 * tol:.0f} % by the "
                 f"medians and by p10; throughput goals: by the medians and by the fastest "
                 f"repetitions); NOISE = a smaller miss; KNOWN-MISS = a documented miss (README, issue of record) no "
                 f"worse than the worst of its last five records;\n REGRESSED = a known miss worse "
                 f"than that record on this hardware by more than max({100 * tol:.0f} %, 2 standard "
                 f"errors). --check fails on FAIL, REGRESSED\n or a missing ratio. Latency "
                 f"ratios use per-spawn medians (p50);\n mean-based = the same ratio from Google Benchmark's "
                 f"real_time, the mean of each repetition, which scheduler delays inflate;\n p10-based = "
                 f"from the 10th percentile of the per-spawn samples, the least disturbed ones;\n "
                 f"a value ending in b = the ratio of the fastest repetitions (throughput goals).)")
    lines.append("")
    lines.append(f"{'context':<16} {'value':>7}  what")
    for c in result["context"]:
        lines.append(f"{c['id']:<16} {fmt(c['value']):>7}  {c['title']}")
    lines.append("")
    lines.append(f"{'peer (same job)':<24} {'p50 µs':>10} {'÷ raw posix_spawn':>18} "
                 f"{'mean µs':>10} {'mean-based':>11}")
    for p in result["peers"]:
        note = f"  ERROR: {p['error']}" if p["error"] else ""
        lines.append(f"{p['label']:<24} {fmt(p['median_us'], 1):>10} "
                     f"{fmt(p['ratio_to_raw_posix_spawn'], 2):>18} {fmt(p['mean_us'], 1):>10} "
                     f"{fmt(p['ratio_mean_based'], 2):>11}{note}")
    if result["errored_benchmarks"]:
        lines.append("")
        lines.append("benchmarks that reported an error: " + ", ".join(result["errored_benchmarks"]))
    return "\n".join(lines)


def medians_only(doc: dict) -> dict:
    """The same Google Benchmark document with only the median rows: what
    github-action-benchmark (googlecpp) should see - it takes every row's name
    and real_time, aggregates included."""
    keep = [b for b in doc.get("benchmarks", [])
            if b.get("run_type") == "aggregate" and b.get("aggregate_name") == "median"]
    return {"context": doc.get("context", {}), "benchmarks": keep}


def git(*args) -> str:
    root = Path(__file__).resolve().parents[2]
    try:
        return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def machine() -> dict:
    info = {"nproc": os.cpu_count(), "kernel": platform.release(), "arch": platform.machine()}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                info["mem_gib"] = round(int(line.split()[1]) / (1 << 20), 1)
                break
        info["loadavg_end"] = Path("/proc/loadavg").read_text().split()[:3]
    except OSError:
        pass
    return info


def hardware_of(mach: dict) -> str:
    """What makes two runs comparable: CPU model, CPU count, kernel. Runs
    that differ in any of them are on other hardware (the dashboard marks
    them; a known miss is only held to a record of the same hardware)."""
    return f"{mach.get('cpu', '?')} x{mach.get('nproc', '?')}, Linux {mach.get('kernel', '?')}"


def upgrade_from_1(rec: dict) -> None:
    """A schema-1 record (before P5 was judged against its ceiling and P3
    became a known miss) in schema-2 terms, from what it stored: P5 = its
    P5 / its P5-raw, the old P5 kept as context P5-abs; statuses re-judged
    against the goals (no baseline)."""
    tol = float(rec.get("tolerance", 0.05))
    goals = {g["id"]: g for g in rec.get("goals", [])}
    ctx = {c["id"]: c for c in rec.get("context_ratios", [])}
    old5, raw5 = goals.get("P5"), ctx.get("P5-raw")
    if old5 is not None and "P5-abs" not in ctx:
        rec["context_ratios"].insert(len(rec["context_ratios"]) - 1, {
            "id": "P5-abs", "title": CONTEXT_TITLES["P5-abs"], "kind": "throughput_ratio",
            "basis": "real_time", "value": old5.get("value"), "noise": old5.get("noise")})
    new_goals = []
    for d in GOALS:
        if d["id"] not in goals:
            continue  # not measured then: absent, not "missing" (which is a failed run)
        g = dict(goals[d["id"]])
        g.update({k: d[k] for k in ("title", "short", "op", "goal", "kind")})
        if d["id"] == "P5":
            a, b = old5 and old5.get("value"), raw5 and raw5.get("value")
            g["value"] = a / b if a and b else None
            na, nb = old5 and old5.get("noise"), raw5 and raw5.get("noise")
            g["noise"] = math.sqrt(na * na + nb * nb) if na is not None and nb is not None else None
            g["numerator_scaling"], g["denominator_scaling"] = a, b
        g["status"] = evaluate(g.get("value"), g["goal"], g["op"], tol, g.get("noise"))
        if d.get("known_miss"):
            judge_known_miss(g, d["known_miss"], None, tol)
        new_goals.append(g)
    rec["goals"] = new_goals


# Schema 2 reported these as context ratios; schema 3 judges them as goals.
PROMOTED_IN_3 = ("P3-automatic", "P1-automatic")


def upgrade_from_2(rec: dict) -> None:
    """A schema-2 record in schema-3 terms: its context P3-automatic and
    P1-automatic (where it had them) become goal entries, judged against
    the goal by their medians alone (the record kept no p10 for them; no
    baseline). A record without them simply lacks those goals."""
    tol = float(rec.get("tolerance", 0.05))
    defs = {g["id"]: g for g in GOALS}
    kept = []
    for c in rec.get("context_ratios", []):
        if c.get("id") not in PROMOTED_IN_3:
            kept.append(c)
            continue
        d = defs[c["id"]]
        g = {k: d[k] for k in ("id", "title", "short", "op", "goal", "kind")}
        g.update(basis=d["basis"], numerator=d["num"], denominator=d["den"],
                 value=c.get("value"), noise=c.get("noise"), value_p10=None,
                 promoted_from_context=True)
        g["status"] = evaluate(g["value"], g["goal"], g["op"], tol, g["noise"])
        rec.setdefault("goals", []).append(g)
    rec["context_ratios"] = kept


def upgrade(rec: dict) -> dict:
    """An older record (schema 1 or 2) in today's terms; upgraded_from says
    which schema it was written in."""
    schema = rec.get("schema")
    if schema == SCHEMA:
        return rec
    if schema == 1:
        upgrade_from_1(rec)
    if schema in (1, 2):
        upgrade_from_2(rec)
    rec["schema"] = SCHEMA
    rec["upgraded_from"] = schema
    return rec


def load_records(folder: Path) -> list[dict]:
    """Every run record in folder (upgraded), oldest first."""
    runs = []
    for p in sorted(folder.glob("*.json")) if folder and folder.is_dir() else []:
        try:
            rec = json.loads(p.read_text())
        except (OSError, json.JSONDecodeError) as e:
            print(f"ratios.py: skipping {p}: {e}", file=sys.stderr)
            continue
        if rec.get("schema") not in (1, 2, SCHEMA):
            continue  # written by a newer ratios.py: not ours to read
        rec = upgrade(rec)
        rec["_file"] = p.name
        runs.append(rec)
    runs.sort(key=lambda r: r.get("date", ""))
    return runs


# How many recent records of a known miss the gate holds it to (the worst of
# them). One record was too few for a miss that reads in two modes: the
# server's child and the caller's wake-up land on the idle vCPU in some runs
# and not in others, and P3-automatic read 1.15, then 1.28 and 1.22 in three
# quiet quick runs of the same library code (REGRESSED twice, for nothing).
# A code change that makes it worse reads worse than all of its last five.
KNOWN_MISS_WINDOW = 5


def last_records(folder: Path | None, hardware: str, window: int = KNOWN_MISS_WINDOW) -> dict:
    """goal id -> the worst of its entries in the `window` newest records of
    the same hardware where it has a value and did not regress (a regressed
    run is no baseline: the next run would otherwise accept the regression).
    Worst by the goal's direction: the highest for a "<=" goal."""
    ops = {g["id"]: g["op"] for g in GOALS}
    recent: dict[str, list[dict]] = {}
    for rec in load_records(folder) if folder else []:
        if hardware_of(rec.get("machine", {})) != hardware:
            continue
        for g in rec.get("goals", []):
            if g.get("value") is not None and g.get("status") != "regressed":
                recent.setdefault(g["id"], []).append(
                    {"value": g["value"], "noise": g.get("noise"),
                     "value_p10": g.get("value_p10"), "value_best": g.get("value_best"),
                     "commit": rec.get("commit"), "date": rec.get("date"),
                     "record": rec["_file"]})
    out = {}
    for gid, entries in recent.items():
        last = entries[-window:]
        pick = max if ops.get(gid, "<=") == "<=" else min
        out[gid] = dict(pick(last, key=lambda e: e["value"]), of_records=len(last))
    return out


def github_benchmark(result: dict, mach: dict, load) -> tuple[list, list]:
    """The goal ratios for github-action-benchmark's custom tools:
    (customSmallerIsBetter entries, customBiggerIsBetter entries). Each point
    carries its noise as range and the runner's CPU, kernel and load in
    extra, so a jump on other hardware can be told from a regression."""
    smaller, bigger = [], []
    for g in result["goals"]:
        if g.get("value") is None:
            continue
        extra = (f"goal {g['op']} {g['goal']}; status {g['status']}"
                 + (f" (issue {g['known_miss']['issue']})" if g.get("known_miss") else "")
                 + f"\ncpu: {mach.get('cpu', '?')} x{mach.get('nproc', '?')}"
                 f"\nkernel: {mach.get('kernel', '?')}\nload: {' '.join(load or [])}")
        point = {"name": f"{g['id']} {g['short']}", "unit": "ratio",
                 "value": round(g["value"], 4), "extra": extra}
        if g.get("noise") is not None:
            point["range"] = f"± {100 * g['noise']:.1f}%"
        (smaller if g["op"] == "<=" else bigger).append(point)
    return smaller, bigger


def history_record(doc: dict, result: dict, mode: str, label: str, load_start,
                   commit: str = "", commit_full: str = "") -> dict:
    rows = load_rows(doc)
    medians = {}
    for name, aggs in sorted(rows.items()):
        m = aggs.get("median") or aggs.get("run")
        if m is None:
            continue
        rec = {"real_time_us": time_us(m), "cpu_time_us":
               None if m.get("error_occurred") else float(m["cpu_time"]) * TO_US[m["time_unit"]]}
        for agg in ("cv", "rmad"):
            if agg in aggs:
                rec[agg] = float(aggs[agg]["real_time"])
        for k in ("p50_ns", "p10_ns", "ns_per_spawn", "spawns_per_s", "peak_rss_bytes", "bytes_per_second",
                  "rss_goal_bytes", "rss_before_bytes", "payload_bytes"):
            if k in m:
                rec[k] = m[k]
        if m.get("error_occurred"):
            rec["error"] = m.get("error_message")
        medians[name] = rec
    ctx = doc.get("context", {})
    mach = machine()
    if load_start:
        mach["loadavg_start"] = load_start
    return {
        "schema": SCHEMA,
        # ci/bench names the commit it built (taken before the build, so an
        # edit made while the benchmarks run does not mark the run dirty).
        "commit": commit or git("describe", "--always", "--dirty", "--abbrev=10") or "unknown",
        "commit_full": commit_full or git("rev-parse", "HEAD"),
        "commit_subject": git("log", "-1", "--format=%s")[:160],
        "commit_date": git("log", "-1", "--format=%cI"),
        # On GitHub Actions: which ref and event made the run (the PR
        # comparison looks for main's newest push or scheduled run).
        "git_ref": os.environ.get("GITHUB_REF") or git("rev-parse", "--abbrev-ref", "HEAD"),
        "event": os.environ.get("GITHUB_EVENT_NAME", "local"),
        "hardware": hardware_of(mach),
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "mode": mode,
        "label": label,
        "machine": mach,
        "context": {k: ctx.get(k) for k in ("date", "host_name", "num_cpus", "mhz_per_cpu",
                                            "library_build_type", "rlimit_nofile",
                                            "safeexec_bench_mode") if k in ctx},
        "tolerance": result["tolerance"],
        "goals": result["goals"],
        "context_ratios": result["context"],
        "peers": result["peers"],
        "medians": medians,
        "errored_benchmarks": result["errored_benchmarks"],
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--json", required=True, type=Path, help="Google Benchmark JSON of the run")
    ap.add_argument("--out", required=True, type=Path, help="folder for ratios.json etc.")
    ap.add_argument("--history", type=Path, help="append a run record to this folder")
    ap.add_argument("--mode", default="full", help="quick or full (recorded)")
    ap.add_argument("--label", default="", help="free text recorded with the run")
    ap.add_argument("--load-start", default="", help="loadavg when the run started")
    ap.add_argument("--commit", default="", help="git describe of what was built (recorded)")
    ap.add_argument("--commit-full", default="", help="its full hash (recorded)")
    ap.add_argument("--tolerance", type=float, default=0.05)
    ap.add_argument("--check", action="store_true", help="exit 1 when a goal fails")
    ap.add_argument("--baseline", type=Path,
                    help="history folder the known misses are held to (default: --history)")
    a = ap.parse_args()

    doc = json.loads(a.json.read_text())
    mach = machine()
    hardware = hardware_of(mach)
    # The known misses are held to the worst of their last records on this hardware, read
    # before this run's own record is added.
    baseline = last_records(a.baseline or a.history, hardware)
    result = compute(doc, a.tolerance, baseline)
    result["hardware"] = hardware
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / "ratios.json").write_text(json.dumps(result, indent=2) + "\n")
    (a.out / "benchmark-medians.json").write_text(json.dumps(medians_only(doc), indent=2) + "\n")
    smaller, bigger = github_benchmark(result, mach, a.load_start.split())
    (a.out / "ratios-smaller.json").write_text(json.dumps(smaller, indent=2) + "\n")
    (a.out / "ratios-bigger.json").write_text(json.dumps(bigger, indent=2) + "\n")
    text = table(result)
    # A verdict from an overloaded machine is printed, and said to be one:
    # above ~2 runnable tasks per CPU the medians (and at ~7 even the p10
    # ratios, P2 1.16 here) move without any change to the code.
    load = a.load_start.split()
    ncpu = os.cpu_count() or 1
    if load and float(load[0]) > 2 * ncpu:
        result["overloaded"] = {"load_start": load, "cpus": ncpu}
        text += (f"\n\nwarning: load {load[0]} on {ncpu} CPUs when the run started: the ratios "
                 f"of a run this loaded are not a fair judge (expect NOISE, and a FAIL may be "
                 f"the machine's); rerun on a quiet machine before acting on a FAIL")
        (a.out / "ratios.json").write_text(json.dumps(result, indent=2) + "\n")
    (a.out / "table.txt").write_text(text + "\n")
    print(text)

    if a.history:
        rec = history_record(doc, result, a.mode, a.label, a.load_start.split() or None,
                             a.commit, a.commit_full)
        a.history.mkdir(parents=True, exist_ok=True)
        stamp = rec["date"].replace("-", "").replace(":", "")
        sha = re.sub(r"[^0-9A-Za-z_-]", "_", rec["commit"])
        path = a.history / f"{stamp}-{sha}-{a.mode}.json"
        n = 2
        while path.exists():
            path = a.history / f"{stamp}-{sha}-{a.mode}-{n}.json"
            n += 1
        path.write_text(json.dumps(rec, indent=1, sort_keys=False) + "\n")
        print(f"\nrun recorded in {path}")

    if a.check:
        bad = [f"{g['id']} ({g['status']})" for g in result["goals"] if g["status"] in GATE_FAILS]
        known = [f"{g['id']} (issue {g['known_miss']['issue']})" for g in result["goals"]
                 if g["status"] == "known-miss"]
        if bad:
            print(f"\nbench check FAILED: {', '.join(bad)}: a met goal missed by more than "
                  f"{100 * a.tolerance:.0f} % of it, a known miss worse than its recent records, "
                  f"or a missing ratio", file=sys.stderr)
            return 1
        print(f"\nbench check passed (tolerance {100 * a.tolerance:.0f} %"
              + (f"; known misses: {', '.join(known)}" if known else "") + ")")
    return 0


if __name__ == "__main__":
    sys.exit(main())
