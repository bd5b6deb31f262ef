// pid.cpp (Windows) - pid validation, liveness and kill_process() by pid.
//
// No tasklist, no shell (F08): liveness is OpenProcess + a zero wait on the
// handle (exit codes are ambiguous: STILL_ACTIVE is 259, which a process
// may also exit with). OpenProcess failing with ERROR_INVALID_PARAMETER is
// "no such process". A pid is validated where it enters (F07).
#include <windows.h>

#include <charconv>
#include <string>

#include "descendant_search.hpp"
#include "log_internal.hpp"
#include "process_tree.hpp"
#include "safeexec/errors.hpp"
#include "safeexec/pid.hpp"
#include "win_util.hpp"

namespace safeexec {
namespace {

using detail::win::UniqueHandle;

void validate_signal(int signal) {
  if (signal < 0 || signal > 64) {
    throw InvalidArgument("signal " + std::to_string(signal) + " is out of range 0..64");
  }
}

}  // namespace

// Windows process ids are DWORDs (multiples of 4 in practice).
pid_t pid_max() noexcept {
  return static_cast<pid_t>(0xFFFFFFFFu);
}

void validate_pid(pid_t pid) {
  if (pid <= 0 || pid > pid_max()) {
    throw InvalidArgument("pid " + std::to_string(pid) + " is out of range 1.." +
                          std::to_string(pid_max()));
  }
}

pid_t parse_pid(std::string_view text) {
  if (text.empty() || text.size() > 10 || text[0] == '0') {
    throw InvalidArgument("'" + std::string(text.substr(0, 32)) + "' is not a pid");
  }
  for (const char c : text) {
    if (c < '0' || c > '9') {
      throw InvalidArgument("'" + std::string(text.substr(0, 32)) + "' is not a pid");
    }
  }
  unsigned long long v = 0;
  std::from_chars(text.data(), text.data() + text.size(), v);
  const auto pid = static_cast<pid_t>(v);
  validate_pid(pid);
  return pid;
}

bool process_is_running(pid_t pid) {
  validate_pid(pid);
  UniqueHandle h(::OpenProcess(SYNCHRONIZE | PROCESS_QUERY_LIMITED_INFORMATION, FALSE,
                               static_cast<DWORD>(pid)));
  if (!h) {
    // Someone else's protected process exists but cannot be opened.
    return ::GetLastError() == ERROR_ACCESS_DENIED;
  }
  return ::WaitForSingleObject(h.get(), 0) == WAIT_TIMEOUT;
}

KillOutcome kill_process(pid_t pid, int signal) {
  validate_pid(pid);
  validate_signal(signal);
  const auto fail = [&](DWORD error) -> KillOutcome {
    KillError e(pid, signal, static_cast<int>(error));
    detail::log(LogLevel::error, e.what());
    throw e;
  };
  UniqueHandle h(::OpenProcess(PROCESS_TERMINATE | SYNCHRONIZE | PROCESS_QUERY_LIMITED_INFORMATION,
                               FALSE, static_cast<DWORD>(pid)));
  if (!h) {
    const DWORD e = ::GetLastError();
    if (e == ERROR_INVALID_PARAMETER) return KillOutcome::gone;  // no such process
    return fail(e);
  }
  if (::WaitForSingleObject(h.get(), 0) == WAIT_OBJECT_0) return KillOutcome::gone;
  if (signal == 0) return KillOutcome::delivered;
  if (::TerminateProcess(h.get(), static_cast<UINT>(128 + signal))) return KillOutcome::delivered;
  const DWORD e = ::GetLastError();
  // An exited process refuses TerminateProcess with ERROR_ACCESS_DENIED.
  if (::WaitForSingleObject(h.get(), 0) == WAIT_OBJECT_0) return KillOutcome::gone;
  return fail(e);
}

std::optional<std::vector<std::string>> read_cmdline(pid_t pid) {
  validate_pid(pid);
  const auto process = detail::win::open_for_reading(static_cast<DWORD>(pid));
  if (!process) return std::nullopt;
  auto argv = detail::win::read_command_line(process->handle.get());
  // An empty command line (System, Registry, a process started with "")
  // is no command line, as on Linux (a kernel thread, a zombie).
  if (argv && argv->empty()) return std::nullopt;
  return argv;
}

bool pid_invoked_with_cmdline(pid_t pid, const std::vector<std::string>& expected_argv) {
  validate_pid(pid);
  if (expected_argv.empty()) return false;  // matches nothing: see pid.hpp
  const auto seen = read_cmdline(pid);
  return seen && *seen == expected_argv;
}

std::optional<pid_t> get_root_helper_child_pid(pid_t pid,
                                               const std::vector<std::string>& expected_argv,
                                               bool run_as_root) {
  validate_pid(pid);
  if (!run_as_root) return process_is_running(pid) ? std::optional<pid_t>(pid) : std::nullopt;
  if (expected_argv.empty()) return std::nullopt;  // matches nothing: see pid.hpp
  // One snapshot for the whole search; each candidate is opened once, and
  // the handle that passed the creation-time check is the one whose
  // command line is read, so a pid reused meanwhile cannot be matched.
  using detail::win::OpenedProcess;
  std::optional<OpenedProcess> root = detail::win::open_for_reading(static_cast<DWORD>(pid));
  if (!root) return std::nullopt;
  const auto snapshot = detail::win::snapshot_processes();
  const auto found = detail::find_descendant(
      std::move(*root),
      [&](const OpenedProcess& parent) {
        return detail::win::children_in_snapshot(snapshot, parent, detail::win::open_for_reading);
      },
      [&](const OpenedProcess& child) {
        const auto argv = detail::win::read_command_line(child.handle.get());
        return argv && *argv == expected_argv;
      });
  if (!found) return std::nullopt;
  return static_cast<pid_t>(found->pid);
}

}  // namespace safeexec
