#!/usr/bin/env python3
"""Writes the reviewed seed inputs of every fuzz target to corpus/<target>/seed-*.

Each seed is built here from readable values, in the byte layout that
fuzz/fuzz_input.hpp decodes (numbers from the end, strings from the front,
a string ended by a backslash plus another byte). This script is the
reviewable source of the seeds; the seed-* files are its output and are
checked in so that replay needs no Python. Inputs the fuzzer found and
-merge=1 kept are the other (hash-named) files in each corpus folder.

    fuzz/make_seeds.py            # rewrite corpus/*/seed-*
    fuzz/make_seeds.py --check    # fail if a checked-in seed differs
"""
import os
import signal
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class Seed:
    """Mirror of FuzzInput: record values in the order the target reads them."""

    def __init__(self):
        self.front = bytearray()
        self.back = []  # bytes in the order the target consumes them (from the end)

    def int_in_range(self, value, lo, hi, size):
        """integral_in_range<T>(lo, hi) with sizeof(T) == size yields `value`."""
        assert lo <= value <= hi, (value, lo, hi)
        rng = hi - lo
        n = 0
        while n < size and (rng >> (8 * n)) > 0:
            n += 1
        r = value - lo
        # The first byte consumed is the most significant one.
        self.back.extend(r.to_bytes(n, "big") if n else b"")
        return self

    def u8(self, v):
        return self.int_in_range(v, 0, 255, 1)

    def u32(self, v):
        return self.int_in_range(v, 0, 2**32 - 1, 4)

    def i32(self, v):
        return self.int_in_range(v, -(2**31), 2**31 - 1, 4)

    def boolean(self, v):
        return self.u8(1 if v else 0)

    def string(self, s, max_length):
        """random_length_string(max_length) yields `s`."""
        s = s.encode("latin-1") if isinstance(s, str) else bytes(s)
        assert len(s) <= max_length
        for b in s:
            self.front += b"\\\\" if b == 0x5C else bytes([b])
        if len(s) < max_length:
            self.front += b"\\ "  # the terminator
        return self

    def payload(self, data):
        """remaining_as_string() yields `data` (call last)."""
        self.front += data.encode("latin-1") if isinstance(data, str) else bytes(data)
        return self

    def bytes(self):
        return bytes(self.front) + bytes(reversed(self.back))


# ---------------------------------------------------------------- fuzz_env
def env_seed(additions, policy_kind=0, names=(), spawn=True, inherit_kind=0,
             remove_dangerous=False):
    s = Seed()
    flags = (policy_kind | (inherit_kind << 2) | (0x10 if remove_dangerous else 0)
             | (0xE0 if spawn else 0))
    s.u8(flags).int_in_range(len(names), 0, 4, 8).int_in_range(len(additions), 0, 8, 8)
    for n in names:
        s.string(n, 64)
    for k, v in additions:
        s.string(k, 96).string(v, 512)
    return s.bytes()


ENV_SEEDS = {
    # F02: loader injection through the default policy: refused, nothing spawned.
    "ld_preload_refused": env_seed([("LD_PRELOAD", "/tmp/evil.so")]),
    "ld_library_path_refused": env_seed([("LD_LIBRARY_PATH", "/tmp"), ("OK_NAME", "1")]),
    "interpreter_hooks_refused": env_seed(
        [("BASH_ENV", "/tmp/x"), ("ENV", "/tmp/y"), ("GCONV_PATH", "/tmp"),
         ("PYTHONPATH", "/tmp"), ("NODE_OPTIONS", "--require /tmp/x.js"), ("IFS", " ")]),
    "ld_preload_opted_in": env_seed([("LD_PRELOAD", "")], policy_kind=2, names=["LD_PRELOAD"]),
    "allowlist_refuses_unlisted": env_seed(
        [("ONLY_ME", "1"), ("OTHER", "2")], policy_kind=3, names=["ONLY_ME"]),
    "allowlist_accepts_listed": env_seed([("ONLY_ME", "1")], policy_kind=3, names=["ONLY_ME"]),
    "allow_invalid_name": env_seed([("X", "1")], policy_kind=2, names=["A=B", "LD_AUDIT"]),
    # F01: keys that are not names.
    "key_a_eq_b": env_seed([("A=B", "C")]),
    "key_nul": env_seed([("A\0B", "x")]),
    "key_empty": env_seed([("", "v")]),
    "key_digit_first": env_seed([("1ABC", "x")]),
    "key_space_dash": env_seed([("A B", "x"), ("A-B", "y")]),
    "key_non_ascii": env_seed([("\xc3\x84BC", "x")]),
    "value_nul": env_seed([("GOOD", "a\0secret-after-nul")]),
    # Accepted additions must reach the child exactly.
    "accepted_spawn": env_seed(
        [("SAFEEXEC_FUZZ", "1"), ("HOME", "/nowhere"), ("EMPTY", ""), ("_U", "x=y=z")]),
    "value_shell_meta": env_seed([("X", "$(reboot); `id` | rm -rf / \n\t'\"*?~")]),
    "value_non_utf8": env_seed([("BYTES", bytes(range(1, 256)).decode("latin-1")[:400])]),
    "no_additions_spawn": env_seed([]),
    "in_process_only": env_seed([("A", "1"), ("B_2", "2")], spawn=False),
    # Item 17: what is inherited (0 all, 1 none, 2 only(names), 3 all().remove(names)).
    "inherit_none": env_seed([("ADDED", "1")], inherit_kind=1),
    "inherit_only_path_home": env_seed([], names=["PATH", "HOME"], inherit_kind=2),
    "inherit_remove_path": env_seed([("X", "1")], names=["PATH"], inherit_kind=3),
    "inherit_only_invalid_name": env_seed([], names=["PATH=", "HOME"], inherit_kind=2),
    "inherit_remove_dangerous": env_seed([("OK", "1")], remove_dangerous=True),
    "inherit_malformed_raw_entries": env_seed(
        [("A-B", "value-that-must-not-be-logged"), ("", "empty-key-value"), ("GOOD", "1")],
        spawn=False, inherit_kind=3, names=["GOOD"]),
    "new_denylist_names": env_seed(
        [("JDK_JAVA_OPTIONS", "-javaagent:/tmp/a.jar"), ("OPENSSL_CONF", "/tmp/o.cnf"),
         ("GIT_SSH_COMMAND", "sh -c id"), ("SSLKEYLOGFILE", "/tmp/keys")]),
}


# --------------------------------------------------------------- fuzz_argv
def argv_seed(args, via_process=False, shape=0, secret="", repeats=None):
    """args: list of str/bytes; repeats: {index: (byte, count)} use the repeat encoding."""
    repeats = repeats or {}
    s = Seed()
    s.boolean(via_process).int_in_range(shape, 0, 15, 4).int_in_range(len(args), 0, 24, 8)
    for i, a in enumerate(args):
        if i in repeats:
            byte, count = repeats[i]
            s.int_in_range(7, 0, 7, 4).u8(byte).int_in_range(count, 0, 140000, 8)
        else:
            s.int_in_range(0, 0, 7, 4).string(a, 4096)
    s.string(secret, 32)
    return s.bytes()


ARGV_SEEDS = {
    # F11: shell syntax must arrive literally, one argument each.
    "shell_injection": argv_seed(["12; rm -rf /", "$(reboot)", "`id`", "a|b", "a && b", "> /etc/x"]),
    "globs_and_tilde": argv_seed(["*", "/etc/*", "?", "[a-z]", "~", "~root", "{a,b}"]),
    "quotes_and_escapes": argv_seed(["'single'", '"double"', "\\", "\\n", "a\\ b", "'"]),
    "whitespace": argv_seed(["a b", " lead", "trail ", "\n", "line1\nline2", "\t", "\r\n"]),
    "variables": argv_seed(["$HOME", "${PATH}", "$0", "$@", "$$", "%PATH%"]),
    "empty_strings": argv_seed(["", "", "x", ""]),
    "non_utf8": argv_seed([bytes(range(1, 128)), bytes(range(128, 256)), b"\xff\xfe"]),
    "dash_options": argv_seed(["--", "-c", "--help", "-"], via_process=True),
    # Refused before anything starts.
    "nul_in_arg": argv_seed(["ok", "bad\0tail"]),
    "empty_argv": argv_seed([], shape=13),
    "empty_argv0": argv_seed(["x"], shape=14),
    "nul_in_argv0": argv_seed(["x"], shape=15),
    # The kernel's per-argument limit: 131072 bytes with the NUL.
    "long_arg_just_fits": argv_seed(["a"], repeats={0: (ord("A"), 131071)}),
    "long_arg_e2big": argv_seed(["a"], repeats={0: (ord("B"), 131072)}, via_process=True),
    "many_args": argv_seed([str(i) for i in range(24)]),
    # F13: a secret in argv is masked in describe_argv.
    "secret_masked": argv_seed(["--password=Hunter2Secret", "Hunter2Secret"], secret="Hunter2Secret"),
}


# ------------------------------------------------------ fuzz_process_input
def input_seed(payload, mode=0, param=0, return_stderr=True, log_fail_as_error=True,
               exit_check=0, repeat=0, excerpt_bytes=1024):
    s = Seed()
    flags = (1 if return_stderr else 0) | (2 if log_fail_as_error else 0) | (exit_check << 2)
    s.int_in_range(mode, 0, 7, 4).u32(param).u8(flags)
    s.int_in_range(repeat, 0, 1023, 8).int_in_range(excerpt_bytes, 0, 2048, 8)
    s.payload(payload)
    return s.bytes()


# Every seed stays under the target's max_len (fuzz_process_input.options):
# libFuzzer cuts longer inputs, and the cut would take the settings stored at
# the end. Large inputs come from the repeat count instead.
ALL_BYTES = bytes(range(256))
INPUT_SEEDS = {
    "echo_text": input_seed("hello\nworld\n"),
    "echo_nul_and_binary": input_seed(ALL_BYTES * 4),
    "echo_invalid_utf8": input_seed(b"\xc3\x28\xa0\xa1\xe2\x28\xa1\xf0\x28\x8c\xbc\xff\xfe"),
    "echo_1mib_by_repeat": input_seed(ALL_BYTES * 4, repeat=1023),  # 1 MiB
    "empty_input": input_seed(""),
    # F14: the child writes 200 KB to both pipes before it reads anything.
    "write_before_read": input_seed(ALL_BYTES * 16, mode=1, param=4, repeat=63),
    "write_64k_before_read": input_seed(b"x" * 1000, mode=1, param=3, return_stderr=False,
                                        repeat=69),
    # The child closes stdin after 10 bytes: EPIPE, never SIGPIPE.
    "close_stdin_early": input_seed(ALL_BYTES * 16, mode=2, param=10, repeat=255),
    "exit_without_reading_1mib": input_seed(ALL_BYTES * 16, mode=3, repeat=255),
    # F13: the input must not appear in the error text or the log.
    "exit_3_secret_input": input_seed("password=hunter2 -----BEGIN PRIVATE KEY-----", mode=4, param=2),
    "exit_3_secret_input_debug_log": input_seed(
        "token=s3cr3t-t0k3n-value", mode=4, param=2, log_fail_as_error=False, excerpt_bytes=0),
    "exit_1_extra_ok": input_seed("some input", mode=4, param=0, exit_check=1),
    "exit_1_unchecked": input_seed("some input", mode=4, param=0, exit_check=2),
    "exit_other_code_ok": input_seed("some input", mode=4, param=6, exit_check=3),
    "killed_by_sigkill": input_seed("input for a dying child", mode=5, param=1),
    "killed_unchecked": input_seed("input for a dying child", mode=5, param=0, exit_check=2),
    # The input is also fixed message text: must not count as a leak.
    "input_looks_like_message": input_seed("command failed: '", mode=4, param=0),
    "output_limit_exceeded": input_seed("0123456789" * 100, mode=6, param=100),
    "output_limit_exact": input_seed("0123456789", mode=6, param=10),
    "timeout_with_pending_input": input_seed(b"y" * 1000, mode=7, param=4, repeat=99),
}


# ---------------------------------------------------------------- fuzz_pid
def pid_text(text):
    s = Seed()
    s.int_in_range(0, 0, 63, 1)
    s.payload(text)
    return s.bytes()


def pid_call(op, pid=0, sig=0, flags=0, word=""):
    s = Seed()
    s.int_in_range(op, 0, 63, 1).i32(pid).i32(sig).u8(flags)
    s.string(word, 64)
    return s.bytes()


PID_SEEDS = {
    # F08: text that a shell would have run.
    "text_shell_injection": pid_text("12; rm -rf /"),
    "text_zero": pid_text("0"),
    "text_minus_one": pid_text("-1"),
    "text_plus": pid_text("+5"),
    "text_spaces": pid_text(" 12"),
    "text_newline": pid_text("12\n"),
    "text_leading_zero": pid_text("007"),
    "text_hex": pid_text("0x10"),
    "text_exponent": pid_text("1e3"),
    "text_empty": pid_text(""),
    "text_nul": pid_text("12\x0034"),
    "text_too_long": pid_text("99999999999"),
    "text_int_overflow": pid_text("2147483648"),
    "text_above_limit": pid_text("4194305"),
    "text_one": pid_text("1"),
    "text_ok": pid_text("31337"),
    "text_unicode_digits": pid_text("\xe0\xa5\xa7\xe0\xa5\xa8"),
    # F07: numbers that kill() would turn into "my group" or "everyone".
    "validate_zero": pid_call(48, pid=0),
    "validate_minus_one": pid_call(48, pid=-1),
    "validate_int_min": pid_call(48, pid=-(2**31)),
    "validate_huge": pid_call(48, pid=2**31 - 1),
    "kill_minus_one": pid_call(49, pid=-1),
    "kill_zero": pid_call(49, pid=0),
    "is_running_zero": pid_call(50, pid=0),
    "root_helper_minus_one": pid_call(51, pid=-1, flags=1, word="sleep"),
    "signal_out_of_range": pid_call(52, pid=1, sig=65),
    "signal_negative": pid_call(52, pid=1, sig=-9),
    "proc_is_running_init_and_self": pid_call(63, pid=1, flags=2 | (0 << 2)),
    "proc_cmdline_init": pid_call(63, pid=1, flags=1 << 2, word="/sbin/init"),
    "proc_root_walk_init": pid_call(63, pid=1, flags=1 | (2 << 2), word="no-such-command"),
    "proc_probe_init": pid_call(63, pid=1, flags=3 << 2),
}

# ------------------------------------------------------------- fuzz_message
def message_seed(a, part=3, b_shape=0, b_pos=0, b=(), secrets=(), input="", data="", limit=300,
                 copies=0, plant_at=0, code=1, secret_kinds=None, input_kind=0, input_at=0,
                 input_len=0):
    s = Seed()
    s.int_in_range(part, 0, 3, 4)
    s.int_in_range(len(a), 0, 6, 8).int_in_range(b_shape, 0, 4, 4).int_in_range(b_pos, 0, 65535, 2)
    for x in a:
        s.string(x, 48)
    if b_shape == 0:
        s.int_in_range(len(b), 0, 6, 8)
        for x in b:
            s.string(x, 48)
    s.int_in_range(len(secrets), 0, 4, 8)
    kinds = secret_kinds or [(0, 0, 1)] * len(secrets)
    for kind, at, length in kinds:
        s.int_in_range(kind, 0, 2, 4).int_in_range(at, 0, 65535, 2).int_in_range(length, 1, 24, 8)
    s.int_in_range(input_kind, 0, 1, 4).int_in_range(input_at, 0, 65535, 2)
    s.int_in_range(input_len, 0, 64, 8).int_in_range(limit, 0, 300, 8)
    s.int_in_range(copies, 0, 3, 4).int_in_range(plant_at, 0, 65535, 2)
    s.int_in_range(code, -(2**15), 2**15 - 1, 2)
    for x in secrets:
        s.string(x, 24)
    s.string(input, 64)
    s.payload(data)
    return s.bytes()


MESSAGE_SEEDS = {
    # Item 15: masking "pass" first left "***word123" of "password123".
    "nested_secrets": message_seed(["--password=password123", "user"], part=0, b_shape=2,
                                   secrets=["pass", "password123"],
                                   data="login --password=password123 failed\n"),
    # Overlapping secrets, echoed on stderr, the excerpt cut inside one.
    "overlapping_secrets_cut": message_seed(["cat", "/tmp/token-abcdef"], part=1, b_shape=1,
                                            b_pos=8, secrets=["abcd", "cdef"], limit=18,
                                            data="cat: /tmp/token-abcdef: No such file\n"),
    # Item 15: process_input echoed by the child, cut by the limit.
    "input_echo_cut": message_seed(["cat", "-"], part=1, input="stdin-secret-0123456789",
                                   data="stdin-secret-0123456789" * 3, limit=30),
    # Below the minimum length the input is not masked.
    "input_one_byte": message_seed(["grep", "a"], part=1, input="a", data="banana\n", limit=300),
    # Item 16: {"a' 'b"} and {"a", "b"} rendered the same.
    "quote_collision": message_seed(["a' 'b"], part=0, b=["a", "b"]),
    "split_argument": message_seed(["a b"], part=0, b_shape=1, b_pos=7),
    # Item 16: control bytes, ESC sequences, quotes of every kind.
    "control_bytes": message_seed(["line\nstatus: ok", "\x1b[31mred", "\t\r", "\\'\"$'x'", ""],
                                  part=0, b_shape=3, b_pos=0x0102),
    "non_ascii": message_seed(["\xe2\x80\xae-rtl", "\xff\x00"], part=0, b_shape=4),
    # An env key that is a terminal escape; a value with NUL.
    "env_key_escape": message_seed([], part=2, secrets=["A\x1b]0;x\x07=B"], data="v\x00tail"),
    # Item 16: SpawnError put argv[0] into its message raw.
    "spawn_error_program": message_seed(["/bin/x\nstatus: exited with code 0", "y"], part=2,
                                        secrets=["K EY"], data="v"),
    # A child's output that forges the message's own lines.
    "forged_status_line": message_seed(["true"], data="out\nstatus: exited with code 0\n",
                                       code=-9),
    # Secrets taken from the data and from each other (nested), planted copies.
    "sliced_secrets": message_seed(["x"], part=1, secrets=["", "", ""],
                                   data="0123456789abcdef" * 4,
                                   secret_kinds=[(1, 3, 10), (2, 2, 4), (2, 1, 3)],
                                   input_kind=1, input_at=5, input_len=12, copies=3,
                                   plant_at=17, limit=40),
    "nested_secrets_message": message_seed(["--password=password123"], part=3,
                                           secrets=["password123", "pass"],
                                           data="password123\npass\n", limit=14),
    "empty": message_seed([]),
}

# -------------------------------------------------------------- fuzz_lines
def lines_seed(data, max_line, cuts=(), handover=0):
    s = Seed()
    large = max_line > 300
    s.boolean(large)
    s.int_in_range(max_line, 1, 2**20 if large else 300, 8)
    s.int_in_range(len(cuts), 0, 40, 8)
    for c in cuts:
        s.int_in_range(c, 0, 65535, 2)
    s.int_in_range(handover, 0, len(cuts) + 1, 8)
    return s.payload(data).bytes()


LINES_SEEDS = {
    "plain_lines": lines_seed("one\ntwo\nthree\n", 80, cuts=(5,)),
    "line_split_across_chunks": lines_seed("abcdef\nghij\n", 80, cuts=(2, 4, 9)),
    "unterminated_tail": lines_seed("first\nno newline at the end", 80, cuts=(8,)),
    "cut_at_max": lines_seed("abcdefg\nxyz\nlong", 3, cuts=(1, 5, 9)),
    "exactly_max_then_newline": lines_seed("abc\nabcd\n", 3, cuts=(3,)),
    "empty_lines_and_empty_chunks": lines_seed("\n\n\na\n\n", 2, cuts=(0, 0, 2, 2, 6)),
    "handover_mid_line": lines_seed("partial line goes on\nnext", 6, cuts=(4, 12), handover=1),
    "crlf_and_nul": lines_seed("a\r\nb\0c\r\n\0", 2, cuts=(3,)),
    "one_byte_lines_max_1": lines_seed("abc\n\nd", 1, cuts=(1, 2, 3, 4)),
    "large_max": lines_seed("x" * 1000 + "\n" + "y" * 500, 4096, cuts=(100, 999, 1001)),
}

TARGETS = {
    "fuzz_env": ENV_SEEDS,
    "fuzz_argv": ARGV_SEEDS,
    "fuzz_process_input": INPUT_SEEDS,
    "fuzz_pid": PID_SEEDS,
    "fuzz_message": MESSAGE_SEEDS,
    "fuzz_lines": LINES_SEEDS,
}


def max_len(target):
    with open(os.path.join(ROOT, "fuzz", target + ".options")) as f:
        for line in f:
            key, _, value = line.partition("=")
            if key.strip() == "max_len":
                return int(value)
    raise SystemExit(f"{target}.options has no max_len")


def main():
    check = "--check" in sys.argv[1:]
    stale = []
    for target, seeds in TARGETS.items():
        folder = os.path.join(ROOT, "corpus", target)
        os.makedirs(folder, exist_ok=True)
        limit = max_len(target)
        for name, data in seeds.items():
            assert len(data) <= limit, f"{target}/{name}: {len(data)} bytes > max_len {limit}"
            path = os.path.join(folder, "seed-" + name)
            if check:
                try:
                    with open(path, "rb") as f:
                        if f.read() != data:
                            stale.append(path)
                except OSError:
                    stale.append(path)
                continue
            with open(path, "wb") as f:
                f.write(data)
        print(f"{target}: {len(seeds)} seeds")
    if stale:
        print("stale or missing seeds (run fuzz/make_seeds.py):\n  " + "\n  ".join(stale))
        return 1
    return 0


if __name__ == "__main__":
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    sys.exit(main())
