// pid.cpp - pid validation and /proc-based queries; kill_process().
//
// No shell, no external tool (F08): liveness and command lines come from
// /proc, signals from kill(2) after validation (F07).
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "descendant_search.hpp"
#include "log_internal.hpp"
#include "safeexec/errors.hpp"
#include "safeexec/pid.hpp"
#include "signal_range.hpp"
#include "sys.hpp"
#include "unique_fd.hpp"

namespace safeexec {
namespace {

constexpr pid_t kKernelPidMaxLimit = 4194304;  // PID_MAX_LIMIT on 64-bit

/// The whole of a small /proc file, or nullopt when it cannot be opened.
std::optional<std::string> read_proc_file(const std::string& path) {
  detail::UniqueFd fd(sys::open_cloexec(path.c_str(), O_RDONLY));
  if (!fd) return std::nullopt;
  std::string data;
  char buf[4096];
  for (;;) {
    const ssize_t n = sys::read(fd.get(), buf, sizeof buf);
    if (n > 0) {
      data.append(buf, static_cast<std::size_t>(n));
    } else if (n == 0) {
      return data;
    } else if (errno != EINTR) {
      return std::nullopt;
    }
  }
}

/// Children of `pid`, every thread's: /proc/<pid>/task/<tid>/children
/// (CONFIG_PROC_CHILDREN) lists the children that thread started, so a helper
/// that spawns from worker threads is covered too. Empty when `pid` is gone.
std::vector<pid_t> children_of(pid_t pid) {
  std::vector<pid_t> out;
  std::error_code ec;  // the non-throwing overloads: a vanished pid is "no children"
  std::filesystem::directory_iterator task(
      std::filesystem::path("/proc") / std::to_string(pid) / "task", ec);
  for (; !ec && task != std::filesystem::directory_iterator(); task.increment(ec)) {
    const auto text = read_proc_file((task->path() / "children").string());
    if (!text) continue;
    std::istringstream in(*text);
    std::string word;
    while (in >> word) {
      try {
        out.push_back(parse_pid(word));
      } catch (const InvalidArgument&) {
        // The kernel writes decimal pids; anything else is skipped, not trusted.
      }
    }
  }
  return out;
}

/// What /proc/<pid>/status says about a pid (issue 18 item 8).
struct ProcStatus {
  pid_t tgid = 0;  ///< the thread group (process) the pid's task belongs to
  char state = 0;  ///< 'R', 'S', ..., 'Z' (zombie), 'X' (dead)
};

/// nullopt when there is no /proc/<pid>/status (gone, or no /proc).
std::optional<ProcStatus> read_status(pid_t pid) {
  const auto text = read_proc_file("/proc/" + std::to_string(pid) + "/status");
  if (!text) return std::nullopt;
  ProcStatus st;
  std::istringstream in(*text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("State:", 0) == 0) {
      const std::size_t at = line.find_first_not_of(" \t", 6);
      if (at != std::string::npos) st.state = line[at];
    } else if (line.rfind("Tgid:", 0) == 0) {
      const std::size_t at = line.find_first_not_of(" \t", 5);
      if (at != std::string::npos) {
        long v = 0;
        const auto [ptr, ec] = std::from_chars(line.data() + at, line.data() + line.size(), v);
        if (ec == std::errc()) st.tgid = static_cast<pid_t>(v);
      }
    }
  }
  return st;
}

/// A pid counts as a process only when it names a thread-group leader (a
/// thread id of another process does not: /proc/<tid> exists too, hidden
/// from listings) that has not exited (a zombie has no memory, no command
/// line, and is not running).
bool is_live_process(const ProcStatus& st, pid_t pid) noexcept {
  return st.tgid == pid && st.state != 0 && st.state != 'Z' && st.state != 'X' && st.state != 'x';
}

}  // namespace

pid_t pid_max() noexcept {
  static const pid_t value = [] {
    try {
      const auto text = read_proc_file("/proc/sys/kernel/pid_max");
      if (!text) return kKernelPidMaxLimit;
      long v = 0;
      const auto [ptr, ec] = std::from_chars(text->data(), text->data() + text->size(), v);
      if (ec != std::errc() || v <= 0 || v > kKernelPidMaxLimit) return kKernelPidMaxLimit;
      return static_cast<pid_t>(v);
    } catch (...) {
      return kKernelPidMaxLimit;
    }
  }();
  return value;
}

void validate_pid(pid_t pid) {
  if (pid <= 0) {
    // 0 would signal our own process group, -1 every process we may signal.
    throw InvalidArgument("pid " + std::to_string(pid) + " is not positive");
  }
  if (pid > pid_max()) {
    throw InvalidArgument("pid " + std::to_string(pid) + " is above pid_max (" +
                          std::to_string(pid_max()) + ")");
  }
}

pid_t parse_pid(std::string_view text) {
  // Never echo the text itself beyond a short, escaped prefix: it is input.
  const auto quoted = [&] {
    std::string s;
    for (char c : text.substr(0, 32)) {
      s += (c >= 0x20 && c < 0x7f) ? std::string(1, c) : std::string("?");
    }
    return "'" + s + (text.size() > 32 ? "...'" : "'");
  };
  if (text.empty()) throw InvalidArgument("pid text is empty");
  if (text.size() > 10) throw InvalidArgument("pid text " + quoted() + " is too long");
  for (char c : text) {
    if (c < '0' || c > '9') throw InvalidArgument("pid text " + quoted() + " is not all digits");
  }
  if (text.front() == '0') throw InvalidArgument("pid text " + quoted() + " has a leading zero");
  long long v = 0;
  std::from_chars(text.data(), text.data() + text.size(), v);
  if (v > pid_max()) {
    throw InvalidArgument("pid " + std::string(text) + " is above pid_max (" +
                          std::to_string(pid_max()) + ")");
  }
  return static_cast<pid_t>(v);
}

KillOutcome kill_process(pid_t pid, int signal) {
  validate_pid(pid);
  detail::validate_signal(signal);
  if (::kill(pid, signal) == 0) return KillOutcome::delivered;
  if (errno == ESRCH) return KillOutcome::gone;
  // Any other failure means the process exists and we could not signal it:
  // the caller must learn that (the seed swallowed it, F12).
  KillError e(pid, signal, errno);
  detail::log(LogLevel::error, e.what());
  throw e;
}

bool process_is_running(pid_t pid) {
  validate_pid(pid);
  const auto status = read_status(pid);
  if (!status) {
    // No /proc at all (not mounted, or hidden): "no such file" says nothing
    // about the pid. getpgid() asks the kernel; ESRCH is the only "gone".
    // It cannot tell a thread id or a zombie from a process (pid.hpp).
    if (::access("/proc/self/stat", F_OK) != 0) return ::getpgid(pid) >= 0 || errno != ESRCH;
    return false;
  }
  return is_live_process(*status, pid);
}

std::optional<std::vector<std::string>> read_cmdline(pid_t pid) {
  validate_pid(pid);
  const auto status = read_status(pid);
  if (!status || !is_live_process(*status, pid)) return std::nullopt;
  const auto raw = read_proc_file("/proc/" + std::to_string(pid) + "/cmdline");
  // Empty: a kernel thread, or a process that exited since the status was
  // read. Neither has a command line ({} would match an empty argv).
  if (!raw || raw->empty()) return std::nullopt;
  std::vector<std::string> argv;
  std::size_t start = 0;
  while (start < raw->size()) {
    std::size_t end = raw->find('\0', start);
    if (end == std::string::npos) end = raw->size();
    argv.emplace_back(*raw, start, end - start);
    start = end + 1;
  }
  return argv;
}

bool pid_invoked_with_cmdline(pid_t pid, const std::vector<std::string>& expected_argv) {
  validate_pid(pid);
  if (expected_argv.empty()) return false;  // matches nothing: see pid.hpp
  const auto argv = read_cmdline(pid);
  return argv && *argv == expected_argv;
}

std::optional<pid_t> get_root_helper_child_pid(pid_t pid,
                                               const std::vector<std::string>& expected_argv,
                                               bool run_as_root) {
  // A thread id or a zombie is not a process to answer with or to search
  // under (/proc/<tid>/task lists the whole group's threads).
  if (!process_is_running(pid)) return std::nullopt;
  if (!run_as_root) return pid;
  // The root helper (sudo, a rootwrap daemon) runs the command as a
  // descendant, but not always down its first child: a daemon serves several
  // commands at once, and a logger or a sanitizer's symbolizer may be a child
  // too. So search the descendants breadth-first (nearest first), bounded in
  // depth and count, for the first one that runs expected_argv.
  return detail::find_descendant(pid, children_of, [&](pid_t child) {
    return pid_invoked_with_cmdline(child, expected_argv);
  });
}

}  // namespace safeexec
