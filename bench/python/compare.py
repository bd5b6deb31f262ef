#!/usr/bin/env python3
"""A pull request's goal ratios against main's newest recorded run, as the
Markdown of a PR comment (.github/workflows/bench.yml posts it).

    compare.py --ratios OUT/ratios.json --history DIR [--ref refs/heads/main]
               [--out comment.md] [--commit-url 'https://github.com/o/r/commit/{sha}']

DIR holds the run records ci/bench writes (bench/history format); the
workflow fills it from the gh-pages branch, where every run on main adds its
record. Both sides are same-run ratios, so they compare across runs; where
the two runs were on other hardware (CPU model, CPU count, kernel) the
comment says so. A change is called out only beyond two standard errors of
the two runs' noise estimates (and the gate's tolerance).
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

sys.dont_write_bytecode = True  # no __pycache__ in the tree
sys.path.insert(0, str(Path(__file__).resolve().parent))
import ratios  # noqa: E402

MARKER = "<!-- safeexec-bench-comparison -->"


def newest_on(records: list[dict], ref: str) -> dict | None:
    runs = [r for r in records if r.get("git_ref") == ref]
    return runs[-1] if runs else None


def change_cell(pr: dict, base: dict | None, tol: float) -> str:
    if base is None or pr.get("value") is None or base.get("value") is None:
        return "–"
    rel = pr["value"] / base["value"] - 1
    noises = [n for n in (pr.get("noise"), base.get("noise")) if n is not None]
    band = max(tol, 2 * math.sqrt(sum(n * n for n in noises))) if noises else tol
    worse = rel > 0 if pr["op"] == "<=" else rel < 0
    text = f"{100 * rel:+.1f} %"
    if abs(rel) <= band:
        return f"{text} (within noise ±{100 * band:.0f} %)"
    return f"**{text} ({'worse' if worse else 'better'})**"


def comment(result: dict, base: dict | None, ref: str, url: str | None) -> str:
    tol = float(result.get("tolerance", 0.05))
    lines = [MARKER, "### Benchmark goals: this pull request against main", ""]
    if base is None:
        lines.append(f"No recorded run of `{ref}` yet: nothing to compare with. This run's "
                     f"ratios:")
        base_goals = {}
    else:
        sha = base.get("commit_full") or base.get("commit", "?")
        link = f"[{base.get('commit', '?')}]({url.format(sha=sha)})" if url else \
            f"`{base.get('commit', '?')}`"
        lines.append(f"main: {link}, {base.get('date', '?')} ({base.get('mode', '?')} run, "
                     f"{base.get('hardware') or ratios.hardware_of(base.get('machine', {}))})")
        base_goals = {g["id"]: g for g in base.get("goals", [])}
    here = result.get("hardware", "?")
    lines.append(f"this PR: {here}")
    if base is not None and (base.get("hardware") or ratios.hardware_of(base.get("machine", {}))) \
            != here:
        lines.append("")
        lines.append("> The two runs were on **other hardware** (CPU model, CPU count or kernel "
                     "differ). The ratios are same-run ratios and still compare; a small change "
                     "may be the machine's.")
    lines += ["", "| goal | this PR | main | change | goal | status |", "|---|---|---|---|---|---|"]
    for g in result["goals"]:
        b = base_goals.get(g["id"])
        v = "–" if g.get("value") is None else f"{g['value']:.3f}"
        if g.get("noise") is not None:
            v += f" ±{100 * g['noise']:.1f} %"
        bv = "–" if not b or b.get("value") is None else f"{b['value']:.3f}"
        status = g["status"].upper()
        if g.get("known_miss"):
            status += f" (known miss, issue {g['known_miss']['issue']})"
        lines.append(f"| {g['id']} {g['short']} | {v} | {bv} | {change_cell(g, b, tol)} | "
                     f"{g['op']} {g['goal']} | {status} |")
    lines += ["", "Every figure is a ratio of two medians measured in the same run "
              "(bench/README.md); the gate is `ratios.py --check` of this run."]
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ratios", required=True, type=Path, help="this run's ratios.json")
    ap.add_argument("--history", required=True, type=Path, help="records to find main's run in")
    ap.add_argument("--ref", default="refs/heads/main")
    ap.add_argument("--out", type=Path, help="write the Markdown here (default: stdout)")
    ap.add_argument("--commit-url", help="link template for main's commit, {sha} replaced")
    a = ap.parse_args()
    result = json.loads(a.ratios.read_text())
    base = newest_on(ratios.load_records(a.history), a.ref)
    text = comment(result, base, a.ref, a.commit_url)
    if a.out:
        a.out.write_text(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
