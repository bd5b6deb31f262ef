#!/usr/bin/env python3
"""Forbidden-calls check: what clang-tidy and cppcheck do not catch.

Each rule names the finding it guards. Run from anywhere; exits 1 on any hit.
Usage: ci/forbidden_calls.py [ROOT]   (ROOT defaults to the repository)
"""
import pathlib
import re
import sys

ROOT = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else pathlib.Path(__file__).resolve().parent.parent)
CORE = [p for d in ("core/src", "core/include") for p in sorted((ROOT / d).rglob("*")) if p.suffix in (".cpp", ".hpp", ".h")]


def strip_comments(text):
    """Blank out // and /* */ comments, keeping line numbers and string literals."""
    out, i, n = [], 0, len(text)
    while i < n:
        if text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append("\n" * text.count("\n", i, j))
            i = j
        elif text[i] == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append(text[i:j + 1])
            i = j + 1
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


# (finding, pattern, why). Patterns run on code with comments removed.
RULES = [
    ("F08/F11", r"\b(system|popen)\s*\(", "runs a shell: argv must go to execve verbatim"),
    ("F08/F11", r'"/bin/(ba|da)?sh"|"sh"\s*,\s*"-c"|\bsh -c\b', "a shell in the core"),
    ("F11", r"\bexec(l|lp|le|v|vp|vpe)\s*\(", "exec* that searches PATH or may fall back to /bin/sh; use execve"),
    ("F05", r"(?<![_\w])fork\s*\(", "fork() copies the parent (slow with a large RSS, unsafe under ASan); spawn uses clone(CLONE_VM|CLONE_VFORK)"),
    ("F06", r"(?<![_\w])(pipe|dup|dup3|accept|socket|socketpair|creat|open|openat)\s*\((?!\s*\))", "may create a descriptor without O_CLOEXEC; use pipe2(O_CLOEXEC), sys::open_cloexec, F_DUPFD_CLOEXEC"),
    ("F06", r"\bpipe2\s*\((?![^;]*O_CLOEXEC)", "pipe2 without O_CLOEXEC"),
]

# kill() is allowed where the pid cannot be stale or unvalidated (F07, F12):
#   process.cpp - pids of unreaped children owned by a Process handle;
#   child_ref.cpp - the same handle's child, when pidfd_send_signal is refused;
#   sys.hpp     - the seam's wrapper itself (every caller is matched here too);
#   spawn.cpp   - the unreaped child create_process() has just made;
#   pid.cpp     - only in kill_process(), after validate_pid(pid);
#   cgroup_leaf.cpp - members listed in our own frozen leaf's cgroup.procs
#                 (a frozen process cannot exit, so its pid cannot be recycled);
#   spawn_server_client.cpp - our unreaped children: the spawn server, and
#                 the child it made before dying (pid from the kernel's slot);
#   clone_child.cpp - the TSan build's forked child, unreaped and still at its
#                 gate, when its pidfd cannot be had (EMFILE).
KILL = re.compile(r"::kill\s*\(")
KILL_ALLOWED = {"process.cpp", "child_ref.cpp", "sys.hpp", "spawn.cpp", "cgroup_leaf.cpp",
                "spawn_server_client.cpp", "clone_child.cpp"}

# process_input reaches exactly two places (F13, F09): the I/O loop's input
# (the PumpIo that feeds stdin, issue 21), and the masks of the failure
# excerpts (detail::redacted_excerpt and, for a stream not captured,
# detail::redacted_tail_excerpt and the tail's margin detail::tail_margin,
# which mask every echo of it; hardening item 15); a call may wrap onto a
# second line. Whether there is input at all (`process_input().empty()`,
# for the routing check of issue 21) says nothing of its bytes.
INPUT_ALLOWED = ("execute.cpp", "detail::PumpIo io(")
INPUT_EMPTINESS = "options.process_input().empty()"
INPUT_MASK_CALLS = ("detail::redacted_excerpt(", "detail::redacted_tail_excerpt(", "detail::tail_margin(")


# environ is read in one place (H24, issue 18 item 7): EnvironSnapshot::take,
# whose copy every other pass of a spawn works on.
ENVIRON = re.compile(r"\benviron\b")
ENVIRON_ALLOWED = {"environ_snapshot.cpp"}


def main():
    failures = []
    for path in CORE:
        rel = path.relative_to(ROOT)
        code = strip_comments(path.read_text())
        lines = code.split("\n")
        for lineno, line in enumerate(lines, 1):
            for finding, pattern, why in RULES:
                if re.search(pattern, line):
                    # sys::open_cloexec and the raw SYS_openat in the child are the sanctioned openers.
                    if finding == "F06" and ("open_cloexec" in line or "::open(path, flags | O_CLOEXEC)" in line
                                             or "SYS_openat" in line or "O_CLOEXEC" in line
                                             or "SOCK_CLOEXEC" in line):
                        continue
                    failures.append(f"{rel}:{lineno}: [{finding}] {why}: {line.strip()}")
            if KILL.search(line) and path.name not in KILL_ALLOWED:
                if path.name == "pid.cpp":
                    body = "\n".join(lines[:lineno])
                    start = body.rfind("KillOutcome kill_process(")
                    if start >= 0 and "validate_pid(pid);" in body[start:]:
                        continue
                failures.append(f"{rel}:{lineno}: [F07] kill() on a pid that was not validated: {line.strip()}")
            if ENVIRON.search(line) and path.name not in ENVIRON_ALLOWED:
                failures.append(f"{rel}:{lineno}: [H24] environ read outside EnvironSnapshot::take (one snapshot per spawn): {line.strip()}")
            if "process_input" in line and path.suffix == ".cpp":
                previous = lines[lineno - 2] if lineno >= 2 else ""
                here = path.name == INPUT_ALLOWED[0]
                as_mask = here and any(c in line or c in previous for c in INPUT_MASK_CALLS)
                as_input = here and (INPUT_ALLOWED[1] in line or INPUT_ALLOWED[1] in previous
                                     or line.count("process_input") == line.count(INPUT_EMPTINESS))
                if not as_input and not as_mask:
                    failures.append(f"{rel}:{lineno}: [F13] process_input used outside the I/O request (may reach a message or log): {line.strip()}")
    for f in failures:
        print(f)
    print(f"forbidden-calls: {len(CORE)} files, {len(failures)} violation(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
