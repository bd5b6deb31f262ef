// child_census.hpp - who our children are, as /proc tells it, for the leak
// checks of both test suites (core/tests/leak_check.hpp and
// property_tests/support.cpp).
//
// One process is not ours to check: under ThreadSanitizer the runtime starts
// an external symbolizer (llvm-symbolizer, a child holding two pipes of ours)
// the first time it needs function names - for a report it then matches
// against ci/tsan.supp, i.e. in the middle of a test. There a leak check
// would report its pipes and itself, and kill it (TSan then dies of SIGPIPE
// or warns "Can't read from symbolizer"). So this header starts it once,
// before main(): its pipes are in every descriptor snapshot, and that process
// (that pid with that start time, so a recycled pid is never excused) is the
// one child the checks leave out. In every other build nothing is excused.
#pragma once

#include <dirent.h>
#include <fcntl.h>
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#if defined(__SANITIZE_THREAD__)
#define SAFEEXEC_TEST_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define SAFEEXEC_TEST_TSAN 1
#endif
#endif
#if defined(SAFEEXEC_TEST_TSAN) && __has_include(<sanitizer/common_interface_defs.h>)
#include <sanitizer/common_interface_defs.h>
#define SAFEEXEC_TEST_PRIME_SYMBOLIZER 1
#endif

namespace safeexec_test_support {

/// `/proc` + `suffix` for the test fixtures. Under ci/kernels' no-proc
/// profile /proc is an empty tmpfs (the library must cope without it), and
/// seccomp_run mounts a real procfs elsewhere for the fixtures' leak checks,
/// named in SAFEEXEC_TEST_PROC. Library code never reads this variable.
inline std::string proc_path(const std::string& suffix) {
  const char* root = std::getenv("SAFEEXEC_TEST_PROC");
  return std::string(root != nullptr && *root != '\0' ? root : "/proc") + suffix;
}

/// One process as /proc/<pid>/stat tells it.
struct ProcInfo {
  pid_t pid = 0;
  char state = '?';
  pid_t ppid = 0;
  pid_t pgid = 0;
  unsigned long long start_time = 0;  // clock ticks after boot: tells a recycled pid apart

  bool same_process(const ProcInfo& other) const {
    return pid == other.pid && start_time == other.start_time;
  }
};

/// The whole of a small file (a /proc entry), or "" when it cannot be read.
/// Plain read(2) through a close-on-exec descriptor: a child spawned by
/// another thread meanwhile must not inherit it, and a /proc file of a
/// process that exits while we read it fails with ESRCH, which iostreams
/// would turn into an exception.
inline std::string read_small_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return {};
  std::string out;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  (void)::close(fd);
  return out;
}

/// /proc/<pid>/<name> whole, or "" (read_small_file).
inline std::string proc_pid_file(pid_t pid, const std::string& name) {
  return read_small_file(proc_path("/" + std::to_string(pid) + "/" + name));
}

/// The value of the "<name>:" line of a /proc status text ("SigIgn" ->
/// "0000000000004000"), without the blanks after the colon; "" when absent.
inline std::string status_value(const std::string& status, std::string_view name) {
  std::size_t at = 0;
  while (at < status.size()) {
    std::size_t end = status.find('\n', at);
    if (end == std::string::npos) end = status.size();
    const std::string_view line(status.data() + at, end - at);
    if (line.size() > name.size() && line.compare(0, name.size(), name) == 0 &&
        line[name.size()] == ':') {
      const std::string_view value = line.substr(name.size() + 1);
      const std::size_t start = value.find_first_not_of(" \t");
      return start == std::string_view::npos ? std::string() : std::string(value.substr(start));
    }
    at = end + 1;
  }
  return {};
}

/// Field `field` of a /proc/<pid>/stat line, counted from 1 as proc(5)
/// does (4 is the ppid, 19 the nice value), found after the ")" that ends
/// the command name; "" when the line has no such field.
inline std::string stat_field(const std::string& stat, int field) {
  std::size_t pos = stat.rfind(')');
  if (pos == std::string::npos || field < 3) return {};
  pos += 2;  // field 3 starts after ") "
  for (int n = 3; n < field; ++n) {
    pos = stat.find(' ', pos);
    if (pos == std::string::npos) return {};
    ++pos;
  }
  if (pos >= stat.size()) return {};
  const std::size_t end = stat.find_first_of(" \n", pos);
  return stat.substr(pos, end == std::string::npos ? std::string::npos : end - pos);
}

inline bool all_digits(const char* s) {
  if (*s == '\0') return false;
  for (; *s != '\0'; ++s) {
    if (*s < '0' || *s > '9') return false;
  }
  return true;
}

/// Pids named by /proc's numeric entries (racy by nature: entries come and
/// go while we read).
inline std::vector<pid_t> proc_pids() {
  std::vector<pid_t> pids;
  DIR* d = ::opendir(proc_path("").c_str());
  if (d == nullptr) return pids;
  while (const dirent* e = ::readdir(d)) {
    if (all_digits(e->d_name)) pids.push_back(static_cast<pid_t>(std::atol(e->d_name)));
  }
  ::closedir(d);
  return pids;
}

/// Parses /proc/<pid>/stat; false when the process is gone or the line is odd.
inline bool parse_stat(pid_t pid, ProcInfo& info) {
  const std::string stat = read_small_file(proc_path("/" + std::to_string(pid) + "/stat"));
  // "pid (comm) S ppid pgrp ..."; comm may hold ')' and spaces: use the last ')'.
  const std::size_t close = stat.rfind(')');
  if (close == std::string::npos || close + 2 >= stat.size()) return false;
  char state = '?';
  long ppid = 0;
  long pgid = 0;
  unsigned long long start = 0;
  // state ppid pgrp session tty_nr tpgid flags minflt cminflt majflt cmajflt
  // utime stime cutime cstime priority nice num_threads itrealvalue starttime
  if (std::sscanf(stat.c_str() + close + 2,
                  "%c %ld %ld %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d %*d %llu",
                  &state, &ppid, &pgid, &start) != 4) {
    return false;
  }
  info.pid = pid;
  info.state = state;
  info.ppid = static_cast<pid_t>(ppid);
  info.pgid = static_cast<pid_t>(pgid);
  info.start_time = start;
  return true;
}

/// Every process in /proc.
inline std::vector<ProcInfo> list_processes() {
  std::vector<ProcInfo> out;
  for (const pid_t pid : proc_pids()) {
    ProcInfo info;
    if (parse_stat(pid, info)) out.push_back(info);
  }
  return out;
}

/// Our direct children (every thread's), zombies and the sanitizer's helper
/// included.
inline std::vector<ProcInfo> all_children() {
  const pid_t self = ::getpid();
  std::vector<ProcInfo> out;
  for (const ProcInfo& p : list_processes()) {
    if (p.ppid == self) out.push_back(p);
  }
  return out;
}

/// Starts the sanitizer runtime's symbolizer and returns the children that
/// appeared for it (none outside TSan builds).
inline std::vector<ProcInfo> start_sanitizer_runtime_children() {
  std::vector<ProcInfo> started;
#if defined(SAFEEXEC_TEST_PRIME_SYMBOLIZER)
  const std::vector<ProcInfo> before = all_children();
  // Naming one code address makes the runtime start the symbolizer that its
  // reports (and suppression matching) use.
  char name[256];
  __sanitizer_symbolize_pc(__builtin_return_address(0), "%F", name, sizeof name);
  for (const ProcInfo& p : all_children()) {
    if (std::none_of(before.begin(), before.end(),
                     [&p](const ProcInfo& b) { return b.same_process(p); })) {
      started.push_back(p);
    }
  }
#endif
  return started;
}

/// Started during static initialisation: before main(), so before any test
/// takes a descriptor snapshot, and while the process is single-threaded.
inline const std::vector<ProcInfo> g_sanitizer_runtime_children =
    start_sanitizer_runtime_children();

inline bool is_sanitizer_runtime_child(const ProcInfo& p) {
  return std::any_of(g_sanitizer_runtime_children.begin(), g_sanitizer_runtime_children.end(),
                     [&p](const ProcInfo& r) { return r.same_process(p); });
}

/// True when `pid` (as waitpid returned it) was the sanitizer's helper.
inline bool was_sanitizer_runtime_child(pid_t pid) {
  return std::any_of(g_sanitizer_runtime_children.begin(), g_sanitizer_runtime_children.end(),
                     [pid](const ProcInfo& r) { return r.pid == pid; });
}

/// Our direct children, zombies included, except the sanitizer's helper.
inline std::vector<ProcInfo> our_children() {
  std::vector<ProcInfo> out = all_children();
  out.erase(std::remove_if(out.begin(), out.end(), is_sanitizer_runtime_child), out.end());
  return out;
}

/// The spawn server (safeexec/spawn_strategy.hpp) runs as
/// "safeexec-spawn-server"; /proc's comm keeps its first 15 bytes.
inline bool is_running_spawn_server(const ProcInfo& p) {
  return p.state != 'Z' &&
         read_small_file(proc_path("/" + std::to_string(p.pid) + "/comm")) == "safeexec-spawn-\n";
}

/// Our children but the sanitizer's helper and a running spawn server: the
/// server belongs to the process (started once, kept between spawns), not
/// to the test that happened to start it. A dead one is the library's to
/// reap, and shows here until it has.
inline std::vector<ProcInfo> our_children_but_spawn_servers() {
  std::vector<ProcInfo> out = our_children();
  out.erase(std::remove_if(out.begin(), out.end(), is_running_spawn_server), out.end());
  return out;
}

inline bool spawn_server_running() {
  const std::vector<ProcInfo> all = all_children();
  return std::any_of(all.begin(), all.end(), is_running_spawn_server);
}

/// A descriptor of the process's spawn-server channel: its socket (the
/// library makes no other socket) or the pidfd of a running server. The
/// process keeps them between spawns and replaces them when it restarts
/// the server (after the caller changed its rlimits or credentials), so
/// under the server strategy they are not a test's leak. A pidfd of a dead
/// server ("Pid: -1") is not excluded: keeping that would be a leak.
inline bool is_spawn_server_descriptor(int fd) {
  char target[64];
  const std::string link = proc_path("/self/fd/") + std::to_string(fd);
  const ssize_t n = ::readlink(link.c_str(), target, sizeof target - 1);
  if (n <= 0) return false;
  const std::string what(target, static_cast<std::size_t>(n));
  if (what.rfind("socket:", 0) == 0) return true;
  if (what != "anon_inode:[pidfd]") return false;
  const std::string info = read_small_file(proc_path("/self/fdinfo/") + std::to_string(fd));
  const std::size_t at = info.find("\nPid:");
  if (at == std::string::npos) return false;
  const long pid = std::strtol(info.c_str() + at + 5, nullptr, 10);
  if (pid <= 0) return false;
  const std::string stat = read_small_file(proc_path("/" + std::to_string(pid) + "/stat"));
  const std::size_t close = stat.rfind(')');
  const char state = close != std::string::npos && close + 2 < stat.size() ? stat[close + 2] : '?';
  return is_running_spawn_server(ProcInfo{static_cast<pid_t>(pid), state, 0, 0, 0});
}

/// True while the sanitizer's helper is still an unreaped child of ours: then
/// waitpid(-1, WNOHANG) says 0 ("a child, none exited") on a clean process.
inline bool sanitizer_runtime_child_running() {
  if (g_sanitizer_runtime_children.empty()) return false;  // no /proc scan outside TSan
  const std::vector<ProcInfo> all = all_children();
  return std::any_of(all.begin(), all.end(), is_sanitizer_runtime_child);
}

/// "123(Z) 124(S)" for failure messages; "none" when empty.
inline std::string describe(const std::vector<ProcInfo>& processes) {
  std::string out;
  for (const ProcInfo& p : processes) {
    if (!out.empty()) out += ' ';
    out += std::to_string(p.pid) + "(" + std::string(1, p.state) + ")";
  }
  return out.empty() ? "none" : out;
}

}  // namespace safeexec_test_support
