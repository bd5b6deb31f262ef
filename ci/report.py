#!/usr/bin/env python3
"""Writes the harness report (report.md, report.html, summary.txt) from what
ci/harness left in its output folder. Exits 1 when any step or check failed.

Per finding F01-F14: the ctest tests labelled with it and their results (from
ctest's JUnit file), the FINDINGS.md row, and whether its mutant was caught.
"""
import argparse
import html
import json
import pathlib
import re
import sys
import xml.etree.ElementTree as ET

FINDINGS = [f"F{i:02d}" for i in range(1, 15)]


def read_tsv(path):
    if not path.exists():
        return []
    return [line.split("\t") for line in path.read_text().splitlines() if line.strip()]


def read_json(path):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def findings_table(root):
    """id -> (finding text, guarding-tests text) from FINDINGS.md's table."""
    rows = {}
    path = root / "FINDINGS.md"
    if not path.exists():
        return rows
    for line in path.read_text().splitlines():
        m = re.match(r"\|\s*(F\d\d)\s*\|(.*)", line)
        if m:
            cells = [c.strip() for c in m.group(2).split("|")]
            rows[m.group(1)] = cells
    return rows


def ctest_labels(out):
    """test name -> labels, from `ctest --show-only=json-v1`."""
    data = read_json(out / "ctest-tests.json") or {}
    labels = {}
    for t in data.get("tests", []):
        for prop in t.get("properties", []):
            if prop.get("name") == "LABELS":
                labels[t["name"]] = prop.get("value", [])
        labels.setdefault(t["name"], [])
    return labels


def junit_results(out):
    """test name -> 'pass' | 'fail' | 'skip'."""
    results = {}
    path = out / "junit.xml"
    if not path.exists():
        return results
    for case in ET.parse(path).getroot().iter("testcase"):
        status = case.get("status", "")
        if case.find("failure") is not None or case.find("error") is not None or status == "fail":
            results[case.get("name")] = "fail"
        elif case.find("skipped") is not None or status in ("disabled", "notrun"):
            results[case.get("name")] = "skip"
        else:
            results[case.get("name")] = "pass"
    return results


def fuzz_table(fuzz):
    """Header and rows for the fuzz summary: one row per target."""
    head = ["target", "execs", "exec/s", "exec/CPU s", "coverage (start -> end)", "new units", "crashes", "reproducer"]
    rows = [[t["name"], t["execs"], t["exec_per_sec"], t.get("exec_per_cpu_second", ""),
             f"{t['cov_start']} -> {t['cov_end']}", t["new_units"], t["crashes"], t.get("reproducer") or "-"]
            for t in (fuzz or {}).get("targets", [])]
    return head, rows


def bench_table(ratios):
    """Header and rows for the benchmark goals: value against goal, per ratio."""
    head = ["ratio", "what", "value", "goal", "noise (rmad)", "status"]
    rows = []
    for g in (ratios or {}).get("goals", []):
        noise = g.get("noise")
        rows.append([g["id"], g.get("short", g.get("title", "")), f"{g['value']:.3f}",
                     f"{g['op']} {g['goal']}", "-" if noise is None else f"±{noise * 100:.1f}%",
                     g["status"].upper() if g["status"] != "pass" else "pass"])
    return head, rows


def md_table(head, rows):
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return out


def kernels_table(cells):
    """ci/kernels' matrix (kernels/kernels.json): profile x suite -> counts."""
    head = ["profile", "suite", "passed", "failed", "skipped", "failing or skipped tests"]
    rows = []
    for c in cells:
        names = c.get("failed_tests", []) + [t + " (skipped)" for t in c.get("skipped_tests", [])]
        shown = ", ".join(names[:8]) + (f" (+{len(names) - 8} more: kernels/kernels.json)" if len(names) > 8 else "")
        rows.append([c["profile"], c["suite"], c["passed"], c["failed"], c["skipped"],
                     shown or c.get("error", "")])
    return head, rows


def html_table(head, rows):
    cells = "".join(f"<th>{html.escape(str(h))}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><tr>{cells}</tr>{body}</table>"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--root", required=True)
    args = ap.parse_args()
    out, root = pathlib.Path(args.out), pathlib.Path(args.root)

    steps = read_tsv(out / "steps.tsv")
    labels = ctest_labels(out)
    results = junit_results(out)
    mutants = {row[0]: row for row in read_tsv(out / "mutants.tsv")}
    table = findings_table(root)
    failed = any(s[1] == "fail" for s in steps)

    per_finding = []
    for fid in FINDINGS:
        tests = sorted(n for n, ls in labels.items() if fid in ls)
        passed = sum(1 for t in tests if results.get(t) == "pass")
        bad = [t for t in tests if results.get(t) in ("fail", "skip", None)]
        mut = mutants.get(fid)
        mut_state = mut[2] if mut else "not run"
        ok = bool(tests) and not bad and mut_state == "caught"
        if not tests or bad or mut_state == "SURVIVED":
            failed = True
        per_finding.append({
            "id": fid,
            "finding": (table.get(fid) or ["?"])[0],
            "tests": tests, "passed": passed, "bad": bad,
            "mutant": mut_state, "mutant_caught_by": mut[3] if mut else "",
            "ok": ok,
        })

    lint = read_tsv(out / "lint.tsv")
    sanitize = read_tsv(out / "sanitize.tsv")
    coverage = read_json(out / "coverage" / "coverage.json")
    fuzz = read_json(out / "fuzz" / "summary.json")
    ratios = read_json(out / "bench" / "ratios.json")
    kernels = read_json(out / "kernels" / "kernels.json")
    if kernels and any(c["failed"] or c.get("error") for c in kernels):
        failed = True
    total_tests = len(results)
    failed_tests = sorted(n for n, r in results.items() if r != "pass")

    md = ["# safeexec harness report", ""]
    md.append("## Steps")
    md.append("| step | result | seconds |")
    md.append("|---|---|---|")
    md += [f"| {s[0]} | {s[1]} | {s[2]} |" for s in steps]
    md += ["", f"Tests: {total_tests - len(failed_tests)}/{total_tests} passed (JUnit: junit.xml)."]
    if failed_tests:
        md.append("Failed: " + ", ".join(failed_tests))
    md += ["", "## Findings", "| id | finding | guarding tests (passed/total) | mutant | verdict |", "|---|---|---|---|---|"]
    for f in per_finding:
        verdict = "guarded" if f["ok"] else "**NOT PROVEN**"
        md.append(f"| {f['id']} | {f['finding']} | {f['passed']}/{len(f['tests'])}: {', '.join(f['tests'][:6])}"
                  f"{' …' if len(f['tests']) > 6 else ''} | {f['mutant']} {('(' + f['mutant_caught_by'] + ')') if f['mutant_caught_by'] else ''} | {verdict} |")
    md += ["", "## Degraded kernels (ci/kernels: the suites under each seccomp_run profile)"]
    md += md_table(*kernels_table(kernels)) if kernels else ["- not run"]
    md += ["", "## Static analysis"]
    md += [f"- {r[0]}: {r[1]} ({r[2] if len(r) > 2 else ''})" for r in lint] or ["- not run"]
    md += ["", "## Sanitizers"]
    md += [f"- {r[0]}: {r[1]} ({r[2] if len(r) > 2 else ''})" for r in sanitize] or ["- not run"]
    md += ["", "## Coverage of core/src"]
    md.append(f"- lines {coverage['lines']}%, branches {coverage['branches']}% (floor {coverage['floor']}%); HTML: coverage/html/index.html"
              if coverage else "- not run")
    md += ["", "## Fuzzing"]
    if fuzz:
        md.append(f"{fuzz.get('seconds_per_target')} s per target, {fuzz.get('machine', '')}, "
                  f"load average at start {fuzz.get('load_average', '?')}.")
        md += [""] + md_table(*fuzz_table(fuzz))
    else:
        md.append("- not run")
    md += ["", "## Benchmarks (ratios measured in the same run; noise = relative spread across repetitions)"]
    if ratios:
        md += md_table(*bench_table(ratios))
        md.append("")
        md.append("NOISE: the goal lies within the run's spread; the dashboard shows the history. "
                  "Bench goals are reported, not gated, in the harness (`ci/bench --check` gates).")
    else:
        md.append("- not run")
    if (out / "dashboard.html").exists():
        md.append("Dashboard: dashboard.html" + (" (screenshot: dashboard.png)" if (out / "dashboard.png").exists() else ""))
    md += ["", f"**Overall: {'FAIL' if failed else 'PASS'}**", ""]
    (out / "report.md").write_text("\n".join(md))

    def esc(x):
        return html.escape(str(x))
    rows = "".join(
        f"<tr class='{'ok' if f['ok'] else 'bad'}'><td>{esc(f['id'])}</td><td>{esc(f['finding'])}</td>"
        f"<td>{f['passed']}/{len(f['tests'])}<br><small>{esc(', '.join(f['tests']))}</small></td>"
        f"<td>{esc(f['mutant'])}<br><small>{esc(f['mutant_caught_by'].replace(',', ', '))}</small></td></tr>" for f in per_finding)
    step_rows = "".join(f"<tr class='{'ok' if s[1] != 'fail' else 'bad'}'><td>{esc(s[0])}</td><td>{esc(s[1])}</td><td>{esc(s[2])}</td></tr>" for s in steps)
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>safeexec harness report</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:1200px}}table{{border-collapse:collapse;width:100%}}
td,th{{border:1px solid #ccc;padding:4px 8px;vertical-align:top}}td small{{overflow-wrap:anywhere}}td:first-child{{white-space:nowrap}}tr.ok td:first-child{{background:#cfc}}
tr.bad td:first-child{{background:#fcc}}pre{{background:#f5f5f5;padding:1em;overflow:auto}}</style></head><body>
<h1>safeexec harness report: {'FAIL' if failed else 'PASS'}</h1>
<h2>Steps</h2><table><tr><th>step</th><th>result</th><th>seconds</th></tr>{step_rows}</table>
<p>Tests: {total_tests - len(failed_tests)}/{total_tests} passed ({esc(', '.join(failed_tests)) or 'no failures'})</p>
<h2>Findings</h2><table><tr><th>id</th><th>finding</th><th>guarding tests</th><th>mutant</th></tr>{rows}</table>
<h2>Degraded kernels (ci/kernels)</h2>{html_table(*kernels_table(kernels)) if kernels else '<p>not run</p>'}
<h2>Static analysis</h2><pre>{esc(chr(10).join(' '.join(r) for r in lint) or 'not run')}</pre>
<h2>Sanitizers</h2><pre>{esc(chr(10).join(' '.join(r) for r in sanitize) or 'not run')}</pre>
<h2>Coverage of core/src</h2><p>{f"lines {coverage['lines']}%, branches {coverage['branches']}% (floor {coverage['floor']}%): <a href='coverage/html/index.html'>HTML</a>" if coverage else 'not run'}</p>
<h2>Fuzzing</h2>{html_table(*fuzz_table(fuzz)) if fuzz else '<p>not run</p>'}
<h2>Benchmarks (ratios measured in the same run)</h2>{html_table(*bench_table(ratios)) if ratios else '<p>not run</p>'}
{"<h2>Dashboard</h2><p><a href='dashboard.html'>dashboard.html</a></p><img src='dashboard.png' style='max-width:100%'>" if (out / "dashboard.png").exists() else ""}
</body></html>"""
    (out / "report.html").write_text(page)

    summary = ["safeexec harness summary", "=" * 24]
    summary += [f"  {s[0]:<10} {s[1]:<8} {s[2]:>5}s" for s in steps]
    summary.append(f"  tests      {total_tests - len(failed_tests)}/{total_tests} passed")
    summary.append("  findings   " + " ".join(f"{f['id']}:{'ok' if f['ok'] else 'NO'}" for f in per_finding))
    if kernels:
        summary.append("  kernels    " + " ".join(f"{c['profile']}/{c['suite']}:{'ok' if not c['failed'] and not c.get('error') else 'FAIL'}"
                                             for c in kernels))
    caught = sum(1 for f in per_finding if f["mutant"] == "caught")
    summary.append(f"  mutants    {caught}/14 caught")
    if coverage:
        summary.append(f"  coverage   lines {coverage['lines']}% branches {coverage['branches']}%")
    if fuzz:
        summary.append(f"  fuzz       {len(fuzz.get('targets', []))} targets, "
                       f"{sum(t['crashes'] for t in fuzz.get('targets', []))} crashes")
    if ratios:
        summary.append("  bench      " + " ".join(f"{g['id']}:{g['status']}" for g in ratios.get("goals", []))
                       + " (reported, not gated)")
    summary.append(f"  report     {out / 'report.md'}  {out / 'report.html'}  {out / 'junit.xml'}")
    summary.append(f"  overall    {'FAIL' if failed else 'PASS'}")
    (out / "summary.txt").write_text("\n".join(summary) + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
