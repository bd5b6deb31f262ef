// safeexec/pid.hpp - pids that enter the API, and acting on them by pid.
//
// Every pid is validated where it enters (F07): it must be positive and no
// larger than /proc/sys/kernel/pid_max, so 0 (the caller's process group) and
// -1 (every process) never reach kill(). Liveness and command lines come from
// /proc, never from a shell (F08). Prefer the handle-based calls of
// safeexec::Process where you own the child: they use a pidfd and can never
// signal a recycled pid.
#pragma once

#include <sys/types.h>

#include <csignal>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace safeexec {

/// The kernel's pid_max (read once from /proc/sys/kernel/pid_max; 4194304,
/// the kernel's hard limit, when it cannot be read).
pid_t pid_max() noexcept;

/// Throws InvalidArgument unless 0 < pid <= pid_max().
void validate_pid(pid_t pid);

/// Strict parse of a pid written as text: ASCII digits only (no sign, no
/// space, no leading zero), value in 1..pid_max(). Anything else - "0", "-1",
/// " 12", "12\n", "12; rm -rf /", "" - throws InvalidArgument.
pid_t parse_pid(std::string_view text);

/// The end of a successful kill_process().
enum class KillOutcome {
  delivered,  ///< the kernel accepted the signal
  gone,       ///< no such process (it had already exited and been reaped)
};

/// Sends `signal` to `pid` after validating both. Returns delivered or gone;
/// any other failure (EPERM, ...) is logged once at error level and thrown as
/// KillError with pid, signal and errno (F12). Never signals a group.
#ifdef _WIN32
// Windows has no signals: a non-zero `signal` terminates the process
// (TerminateProcess, exit code 128 + signal); 0 only checks that it exists.
// 9 is SIGKILL's number, which mingw's <csignal> does not define.
KillOutcome kill_process(pid_t pid, int signal = 9);
#else
KillOutcome kill_process(pid_t pid, int signal = SIGKILL);
#endif

/// True when `pid` names a live process: /proc/<pid>/status exists, names
/// `pid` as its own thread group (Tgid == pid: a thread id of some process
/// is not a process, although /proc/<tid> exists) and a state that is not
/// zombie or dead. Validates pid first (F07, F08). Where /proc is not
/// mounted (containers, sandboxes) the kernel is asked with getpgid(pid),
/// which can tell neither a zombie nor a thread id from a live process:
/// there both count as running.
bool process_is_running(pid_t pid);

/// The command line of `pid` from /proc/<pid>/cmdline, or nullopt when the
/// pid is gone, unreadable, not a process (a thread id), a zombie, or has
/// an empty command line (a kernel thread): none of those has a command
/// line. Without /proc: nullopt. On Windows: read from the process itself
/// (ProcessCommandLineInformation, or its PEB where that is unknown) and
/// split by the CommandLineToArgvW rules; nullopt once it has exited, and
/// for an empty command line (System, Registry).
std::optional<std::vector<std::string>> read_cmdline(pid_t pid);

/// True when read_cmdline(pid) equals `expected_argv` exactly. An empty
/// `expected_argv` matches nothing (false, on both platforms): every
/// process that runs a program has argv[0], and an empty one would match
/// kernel threads and system processes.
bool pid_invoked_with_cmdline(pid_t pid, const std::vector<std::string>& expected_argv);

/// The seed's get_root_helper_child_pid, done right: validates `pid`; when
/// `run_as_root`, searches the root helper's descendants, nearest first
/// (every thread's children; at most 32 levels and 4096 processes), for the
/// first process that runs `expected_argv` (never an empty one; on Windows from a Toolhelp
/// snapshot, where a process created before its listed parent is an orphan
/// of a reused pid, not a child); otherwise checks
/// that `pid` itself is running. A thread id or a zombie (Linux) is not
/// running: nullopt either way. Returns a validated pid or nullopt - never
/// an unchecked or non-positive value. A process spawned a moment ago may
/// not show its command line yet (the kernel sets it while loading the
/// program, after create_process has returned): poll if it must be found.
std::optional<pid_t> get_root_helper_child_pid(pid_t pid,
                                               const std::vector<std::string>& expected_argv,
                                               bool run_as_root);

}  // namespace safeexec
