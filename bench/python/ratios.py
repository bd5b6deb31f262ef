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

Writes OUT/ratios.json, OUT/benchmark-medians.json (the same Google Benchmark
format with only the median rows, for github-action-benchmark) and
OUT/table.txt; prints the table; appends a run record to the history folder;
with --check exits 1 when a goal is missed by more than the tolerance.

Noise tolerance: a ratio "fails" only when it misses its goal by more than
--tolerance (default 5 %) of the goal; a smaller miss is reported as "noise".
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

SCHEMA = 1
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
        "id": "P5",
        "short": "spawns/s, 2 threads ÷ 1 thread",
        "title": "execute spawns/s with 2 threads / 1 thread",
        "kind": "throughput_ratio",
        "num": "safeexec/execute_threads/real_time/threads:2",
        "den": "safeexec/execute_threads/real_time/threads:1",
        "op": ">=",
        "goal": 1.6,
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
    ("P4-vs-reuse", "throughput execute / raw cat loop reusing one output buffer",
     "throughput_ratio", "safeexec/execute_cat/mib:256/real_time",
     "baseline/posix_spawn_cat_reuse/mib:256/real_time"),
    ("P4-cpu", "bytes per parent CPU second: execute / raw (the parent thread's CPU time)",
     "cpu_throughput_ratio", "safeexec/execute_cat/mib:256/real_time",
     "baseline/posix_spawn_cat/mib:256/real_time"),
    ("P5-raw", "raw posix_spawn spawns/s, 2 threads / 1 thread (the machine's ceiling)",
     "throughput_ratio", "baseline/posix_spawn_threads/real_time/threads:2",
     "baseline/posix_spawn_threads/real_time/threads:1"),
]

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


def evaluate(value, goal, op, tol):
    if value is None:
        return "missing"
    ok = value <= goal if op == "<=" else value >= goal
    if ok:
        return "pass"
    within = value <= goal * (1 + tol) if op == "<=" else value >= goal * (1 - tol)
    return "noise" if within else "fail"


def compute(doc: dict, tol: float) -> dict:
    rows = load_rows(doc)
    out = {"goals": [], "context": [], "peers": [], "tolerance": tol}
    for g in GOALS:
        basis = g.get("basis", "real_time")
        entry = {k: g[k] for k in ("id", "title", "short", "op", "goal", "kind")}
        entry["basis"] = basis
        value = None
        noise = None
        if g["kind"] in ("time_ratio", "throughput_ratio"):
            tn, td = latency_us(rows, g["num"], basis), latency_us(rows, g["den"], basis)
            entry.update(numerator=g["num"], denominator=g["den"], numerator_us=tn,
                         denominator_us=td)
            if tn and td:
                value = tn / td if g["kind"] == "time_ratio" else td / tn
                noise = ratio_noise(rows, g["num"], g["den"], basis)
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
        entry["value"] = value
        entry["noise"] = noise
        entry["status"] = evaluate(value, g["goal"], g["op"], tol)
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
    lines.append(f"{'ratio':<16} {'value':>7} {'goal':>8} {'noise':>7}  {'status':<7} "
                 f"{'mean-based':>10} {'p10-based':>9}  what")
    for g in result["goals"]:
        noise = "-" if g["noise"] is None else f"±{100 * g['noise']:.1f}%"
        mean_based = fmt(g.get("value_real_time")) if g.get("basis") == "p50" else ""
        p10_based = fmt(g.get("value_p10")) if g.get("basis") == "p50" else ""
        lines.append(f"{g['id']:<16} {fmt(g['value']):>7} {g['op'] + ' ' + str(g['goal']):>8} "
                     f"{noise:>7}  {g['status'].upper():<7} {mean_based:>10} {p10_based:>9}  "
                     f"{g['title']}")
        if g["kind"] == "rss_ratio" and g.get("peak_rss_mib"):
            lines.append(f"{'':<16} peak {g['peak_rss_mib']:.1f} MiB, goal "
                         f"{g['goal_rss_mib']:.1f} MiB (input {g['payload_mib']:.0f} + output "
                         f"{g['payload_mib']:.0f} + 16), RSS before the run "
                         f"{(g.get('rss_before_mib') or 0):.1f} MiB")
    lines.append(f"(FAIL = misses the goal by more than {100 * tol:.0f} % of it; NOISE = a "
                 f"smaller miss. --check fails on FAIL or a missing ratio. Latency ratios use "
                 f"per-spawn medians (p50);\n mean-based = the same ratio from Google Benchmark's "
                 f"real_time, the mean of each repetition, which scheduler delays inflate;\n p10-based = "
                 f"from the 10th percentile of the per-spawn samples, the least disturbed ones "
                 f"(diagnostic, not gated).)")
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


def history_record(doc: dict, result: dict, mode: str, label: str, load_start) -> dict:
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
        "commit": git("describe", "--always", "--dirty", "--abbrev=10") or "unknown",
        "commit_date": git("log", "-1", "--format=%cI"),
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
    ap.add_argument("--tolerance", type=float, default=0.05)
    ap.add_argument("--check", action="store_true", help="exit 1 when a goal fails")
    a = ap.parse_args()

    doc = json.loads(a.json.read_text())
    result = compute(doc, a.tolerance)
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / "ratios.json").write_text(json.dumps(result, indent=2) + "\n")
    (a.out / "benchmark-medians.json").write_text(json.dumps(medians_only(doc), indent=2) + "\n")
    text = table(result)
    (a.out / "table.txt").write_text(text + "\n")
    print(text)

    if a.history:
        rec = history_record(doc, result, a.mode, a.label, a.load_start.split() or None)
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
        bad = [g["id"] for g in result["goals"] if g["status"] in ("fail", "missing")]
        if bad:
            print(f"\nbench check FAILED: {', '.join(bad)} miss their goals by more than "
                  f"{100 * a.tolerance:.0f} % (or are missing)", file=sys.stderr)
            return 1
        print(f"\nbench check passed (tolerance {100 * a.tolerance:.0f} %)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
