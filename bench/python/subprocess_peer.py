#!/usr/bin/env python3
"""Peer for safeexec-bench: Python's subprocess.run doing execute()'s job.

Started once per benchmark run by safeexec-bench (peer_python.cpp). Protocol,
one line each way:
    <- "N\n"          run the job N times
    -> "<ns>\n"       total wall nanoseconds of those N runs (time.perf_counter_ns)
EOF on stdin ends the worker. The job is the same as execute()'s in P1:
argv[1:] with stdin/stdout/stderr pipes, a small input written, both outputs
captured, exit code checked. Timing is taken inside Python around the calls,
so the figure is what a Python caller sees per subprocess.run, without the
pipe round trip to the benchmark process.

Run by hand:  echo 100 | python3 subprocess_peer.py /bin/true
"""
import subprocess
import sys
import time

INPUT = b"hello from safeexec-bench\n"


def main() -> int:
    cmd = sys.argv[1:] or ["/bin/true"]
    # One warm-up run: imports and first-call costs are not a spawn's.
    subprocess.run(cmd, input=INPUT, capture_output=True, check=True)
    for line in sys.stdin:
        n = int(line)
        start = time.perf_counter_ns()
        for _ in range(n):
            subprocess.run(cmd, input=INPUT, capture_output=True, check=True)
        elapsed = time.perf_counter_ns() - start
        sys.stdout.write(f"{elapsed}\n")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
