#!/usr/bin/env python3
"""ci/cflite_plan.py ROOT - the ClusterFuzzLite jobs of .github/workflows as
ci/cflite-local runs them: one tab-separated line per job and matrix
combination,

  workflow  job  sanitizer  mode  fuzz-seconds  targets  keep-script

where mode is build (build_fuzzers only), code-change, batch, prune or
coverage; targets is the combination's matrix.targets (space-separated) or
"-" for all; keep-script is the path of a file holding the combination's
`run:` steps (with ${{ matrix.* }} and ${{ github.workspace }} put in), or
"-". Matrix includes are applied as GitHub does: an include entry extends
the combinations whose original keys it matches.
"""
import itertools
import os
import re
import sys
import tempfile

import yaml

CFLITE = "google/clusterfuzzlite/actions/"


def combinations(job):
    matrix = dict(((job.get("strategy") or {}).get("matrix")) or {})
    include = matrix.pop("include", []) or []
    matrix.pop("exclude", None)
    keys = list(matrix)
    combos = [dict(zip(keys, values)) for values in itertools.product(*(matrix[k] for k in keys))] or [{}]
    for entry in include:
        matched = False
        for combo in combos:
            if all(combo.get(k) == v for k, v in entry.items() if k in keys):
                combo.update({k: v for k, v in entry.items() if k not in keys})
                matched = True
        if not matched:
            combos.append(dict(entry))
    return combos


def substitute(text, combo, workspace):
    def value(match):
        expr = match.group(1).strip()
        if expr.startswith("matrix."):
            return str(combo.get(expr[len("matrix."):], ""))
        if expr == "github.workspace":
            return workspace
        return match.group(0)
    return re.sub(r"\$\{\{\s*([^}]*?)\s*\}\}", value, str(text))


def main():
    root = sys.argv[1]
    scripts = tempfile.mkdtemp(prefix="cflite-plan.")
    n = 0
    for path in sorted(os.listdir(os.path.join(root, ".github", "workflows"))):
        if not path.startswith("cflite_"):
            continue
        wf = yaml.safe_load(open(os.path.join(root, ".github", "workflows", path), encoding="utf-8"))
        for job_name, job in (wf.get("jobs") or {}).items():
            steps = job.get("steps") or []
            if not any(str(s.get("uses", "")).startswith(CFLITE) for s in steps):
                continue
            for combo in combinations(job):
                sanitizer, mode, seconds, script = "address", "build", "0", []
                for step in steps:
                    uses = str(step.get("uses", ""))
                    given = step.get("with") or {}
                    if uses.startswith(CFLITE + "build_fuzzers"):
                        sanitizer = substitute(given.get("sanitizer", "address"), combo, "$GITHUB_WORKSPACE")
                    elif uses.startswith(CFLITE + "run_fuzzers"):
                        mode = given.get("mode", "code-change")
                        seconds = substitute(given.get("fuzz-seconds", 600), combo, "$GITHUB_WORKSPACE")
                    elif "run" in step and not uses:
                        env = step.get("env") or {}
                        lines = [f"export {k}={substitute(v, combo, '$GITHUB_WORKSPACE')!r}" for k, v in env.items()]
                        script.append("\n".join(lines + [substitute(step["run"], combo, "$GITHUB_WORKSPACE")]))
                keep = "-"
                if script:
                    n += 1
                    keep = os.path.join(scripts, f"{n}.sh")
                    with open(keep, "w", encoding="utf-8") as f:
                        f.write("set -eo pipefail\n" + "\n".join(script) + "\n")
                targets = combo.get("targets") or "-"
                label = ",".join(f"{k}={v}" for k, v in combo.items() if k not in ("targets", "fuzz-seconds"))
                print("\t".join([path, f"{job_name}[{label}]" if label else job_name, sanitizer, mode,
                                 str(seconds), targets, keep]))


if __name__ == "__main__":
    main()
