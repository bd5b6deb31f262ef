// test_child.hpp - running the helper child (core/tests/helper) and reading
// what it reports, plus small bounded-wait, log-capture, fork and temp-dir
// helpers shared by the unit tests.
//
// Every wait here is bounded: a hung child fails the test, it never hangs it.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "safeexec/safeexec.hpp"
#include "safeexec/testing/spawn_server.hpp"
#include "support/child_census.hpp"
#include "support/kernel_features.hpp"
#include "support/split_nul.hpp"

#ifndef SAFEEXEC_TEST_CHILD
#error "SAFEEXEC_TEST_CHILD must name the safeexec-test-child binary"
#endif

namespace safeexec_test {

using namespace std::chrono_literals;

/// Upper bound for any single command a test runs; far above what any
/// should take, far below the ctest TIMEOUT.
constexpr std::chrono::milliseconds kCommandLimit = 20s;

/// The helper child's absolute path.
inline const std::string& child_path() {
  static const std::string path = SAFEEXEC_TEST_CHILD;
  return path;
}

/// {child_path(), args...}
inline std::vector<std::string> child_cmd(std::vector<std::string> args) {
  args.insert(args.begin(), child_path());
  return args;
}

/// ExecuteOptions bounded by kCommandLimit.
inline safeexec::ExecuteOptions bounded() {
  return safeexec::ExecuteOptions{}.timeout(kCommandLimit);
}

using safeexec_test_support::split_nul;

/// The arguments the helper received (argv[2...]) through execute().
inline std::vector<std::string> argv_seen_by_child(const std::vector<std::string>& args,
                                                   safeexec::ExecuteOptions options = bounded()) {
  std::vector<std::string> cmd = child_cmd({"argv"});
  cmd.insert(cmd.end(), args.begin(), args.end());
  return split_nul(safeexec::execute(std::move(cmd), options).out);
}

/// The helper's environment (sorted "K=V" entries) through execute().
inline std::vector<std::string> env_seen_by_child(safeexec::ExecuteOptions options = bounded()) {
  std::vector<std::string> env = split_nul(safeexec::execute(child_cmd({"env"}), options).out);
  std::sort(env.begin(), env.end());
  return env;
}

/// The helper's environment through create_process() (its own spawn path).
inline std::vector<std::string> env_seen_by_spawned_child(safeexec::SpawnOptions options) {
  safeexec::Process p = safeexec::create_process(child_cmd({"env"}), options.stdout_pipe());
  const safeexec::Output o = p.communicate({}, safeexec::deadline_after(kCommandLimit));
  EXPECT_TRUE(p.wait().success());
  std::vector<std::string> env = split_nul(o.out);
  std::sort(env.begin(), env.end());
  return env;
}

/// This process's environment as sorted "K=V" entries, read from environ
/// directly (not through the code under test).
inline std::vector<std::string> parent_environment() {
  std::vector<std::string> env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) env.emplace_back(*e);
  std::sort(env.begin(), env.end());
  return env;
}

/// The descriptors the helper found open ("0 1 2"), newline stripped.
inline std::string fds_seen_by_child(safeexec::SpawnOptions options = {}) {
  safeexec::Process p = safeexec::create_process(child_cmd({"fds"}), options.stdout_pipe());
  safeexec::Output o = p.communicate({}, safeexec::deadline_after(kCommandLimit));
  EXPECT_TRUE(p.wait().success());
  if (!o.out.empty() && o.out.back() == '\n') o.out.pop_back();
  return o.out;
}

/// Reads `fd` until `want` has been seen, EOF, or `limit` passed; what was read.
inline std::string read_until(int fd, std::string_view want,
                              std::chrono::milliseconds limit = 10s) {
  std::string got;
  const auto end = std::chrono::steady_clock::now() + limit;
  while (got.find(want) == std::string::npos && std::chrono::steady_clock::now() < end) {
    pollfd pfd{fd, POLLIN, 0};
    if (::poll(&pfd, 1, 100) <= 0) continue;
    char buf[256];
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) break;
    got.append(buf, static_cast<std::size_t>(n));
  }
  return got;
}

/// Polls `done` every few milliseconds until it holds or `limit` passes.
inline bool eventually(const std::function<bool()>& done, std::chrono::milliseconds limit = 5s) {
  const auto end = std::chrono::steady_clock::now() + limit;
  for (;;) {
    if (done()) return true;
    if (std::chrono::steady_clock::now() >= end) return false;
    std::this_thread::sleep_for(2ms);
  }
}

// /proc reads and the process census are shared with the property tests.
using safeexec_test_support::read_small_file;

/// CPU time of the calling thread: a wait that spins spends it all, one that
/// sleeps almost none.
inline std::chrono::nanoseconds thread_cpu() {
  timespec ts{};
  (void)::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec);
}

/// The state letter of /proc/<pid>/stat ('R', 'S', 'Z', ...), or 0 when gone.
inline char proc_state(pid_t pid) {
  safeexec_test_support::ProcInfo info;
  return safeexec_test_support::parse_stat(pid, info) ? info.state : '\0';
}

/// A field of /proc/<pid>/status ("SigIgn" -> "0000000000004000").
inline std::string proc_status_field(pid_t pid, std::string_view name) {
  return safeexec_test_support::status_value(safeexec_test_support::proc_pid_file(pid, "status"),
                                             name);
}

/// Pids of live (not zombie) processes whose command line holds `token` as
/// one argument. Used to find grandchildren a test started indirectly.
inline std::vector<pid_t> live_processes_with_arg(const std::string& token) {
  std::vector<pid_t> out;
  for (const pid_t pid : safeexec_test_support::proc_pids()) {
    // Another process's cmdline need not end in NUL (programs may rewrite it).
    const std::string cmdline =
        read_small_file(safeexec_test_support::proc_path("/" + std::to_string(pid) + "/cmdline"));
    bool found = false;
    for (std::size_t start = 0; start < cmdline.size() && !found;) {
      std::size_t end = cmdline.find('\0', start);
      if (end == std::string::npos) end = cmdline.size();
      found = cmdline.compare(start, end - start, token) == 0;
      start = end + 1;
    }
    if (!found) continue;
    const char state = proc_state(pid);
    if (state != 0 && state != 'Z' && state != 'X') out.push_back(pid);
  }
  return out;
}

/// A token unique to this test run, to tag helper command lines.
inline std::string unique_token(std::string_view what) {
  static int counter = 0;
  return "safeexec-test-" + std::string(what) + "-" + std::to_string(::getpid()) + "-" +
         std::to_string(++counter);
}

/// One captured log line.
struct LogLine {
  safeexec::LogLevel level;
  std::string text;
  std::thread::id thread;
};

/// Installs a capturing log sink (and debug level) for its lifetime.
class LogCapture {
 public:
  LogCapture() {
    safeexec::set_log_level(safeexec::LogLevel::debug);
    previous_ = safeexec::set_log_sink([this](safeexec::LogLevel level, std::string_view line) {
      const std::lock_guard<std::mutex> lock(mutex_);
      lines_.push_back({level, std::string(line), std::this_thread::get_id()});
    });
  }
  LogCapture(const LogCapture&) = delete;
  LogCapture& operator=(const LogCapture&) = delete;
  ~LogCapture() { safeexec::set_log_sink(std::move(previous_)); }

  std::vector<LogLine> lines() const {
    const std::lock_guard<std::mutex> lock(mutex_);
    return lines_;
  }
  /// Lines at `level` that contain `needle`.
  std::size_t count(safeexec::LogLevel level, std::string_view needle = {}) const {
    const std::lock_guard<std::mutex> lock(mutex_);
    return static_cast<std::size_t>(
        std::count_if(lines_.begin(), lines_.end(), [&](const LogLine& l) {
          return l.level == level && l.text.find(needle) != std::string::npos;
        }));
  }
  /// True when any line holds `needle`.
  bool any_contains(std::string_view needle) const {
    const std::lock_guard<std::mutex> lock(mutex_);
    return std::any_of(lines_.begin(), lines_.end(),
                       [&](const LogLine& l) { return l.text.find(needle) != std::string::npos; });
  }

 private:
  mutable std::mutex mutex_;
  std::vector<LogLine> lines_;
  safeexec::LogSink previous_;
};

/// The process's children but its spawn server (spawn_strategy.hpp): under
/// the server strategy that one child belongs to the process, not to a test.
inline std::vector<safeexec_test_support::ProcInfo> children_but_spawn_server() {
  std::vector<safeexec_test_support::ProcInfo> left = safeexec_test_support::our_children();
  const int server = safeexec::testing::spawn_server_pid();
  std::erase_if(left, [&](const safeexec_test_support::ProcInfo& p) { return p.pid == server; });
  return left;
}

/// Spawns directly while alive: for checks of the direct child's own
/// fallbacks through the seam (a fault injected into close_range or open in
/// the child), which the spawn server's child, another program, lacks.
class DirectSpawns {
 public:
  DirectSpawns() : previous_(safeexec::spawn_strategy()) {
    safeexec::set_spawn_strategy(safeexec::SpawnStrategy::direct);
  }
  DirectSpawns(const DirectSpawns&) = delete;
  DirectSpawns& operator=(const DirectSpawns&) = delete;
  ~DirectSpawns() { safeexec::set_spawn_strategy(previous_); }

 private:
  safeexec::SpawnStrategy previous_;
};

/// Runs `body` in a forked copy of this process, which _exits with body's
/// return value (or 99 if it throws). Returns the raw wait status. Bounded:
/// after `limit` the copy is SIGKILLed. Only for checks that must change
/// process-wide state (credentials, process group) or that would be fatal to
/// the test process if the code under test were wrong.
inline int run_forked(const std::function<int()>& body, std::chrono::milliseconds limit = 10s) {
  const pid_t pid = ::fork();
  if (pid < 0) {
    ADD_FAILURE() << "fork failed: errno " << errno;
    return -1;
  }
  if (pid == 0) {
    int code = 99;
    try {
      code = body();
    } catch (...) {
      code = 99;
    }
    ::_exit(code);
  }
  int status = 0;
  const bool ended = eventually([&] { return ::waitpid(pid, &status, WNOHANG) == pid; }, limit);
  if (!ended) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &status, 0);
    ADD_FAILURE() << "forked check did not finish within " << limit.count() << " ms";
  }
  return status;
}

/// A temporary directory, removed with its contents at the end of scope.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "safeexec-test-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) {
      ADD_FAILURE() << "mkdtemp failed: errno " << errno;
    }
    path_ = tmpl;
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  /// Creates `name` in the directory with `content` and `mode`; returns its path.
  std::string write_file(const std::string& name, std::string_view content, mode_t mode = 0644) {
    const std::string file = path_ + "/" + name;
    {
      std::ofstream out(file, std::ios::binary);
      out.write(content.data(), static_cast<std::streamsize>(content.size()));
    }
    ::chmod(file.c_str(), mode);
    return file;
  }

 private:
  std::string path_;
};

/// The pattern the helper writes in write-then-echo and spew modes.
inline std::string helper_pattern(std::size_t n) {
  std::string out(n, '\0');
  for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<char>('a' + (i % 65536) % 26);
  return out;
}

/// `n` bytes that are not all the same and cover every byte value.
inline std::string all_bytes_pattern(std::size_t n) {
  std::string out(n, '\0');
  std::uint32_t x = 2463534242U;
  for (std::size_t i = 0; i < n; ++i) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    out[i] = static_cast<char>(i < 256 ? i : (x & 0xffU));
  }
  return out;
}

/// A descriptor's close-on-exec flag.
inline bool is_cloexec(int fd) {
  const int flags = ::fcntl(fd, F_GETFD);
  return flags >= 0 && (flags & FD_CLOEXEC) != 0;
}

}  // namespace safeexec_test
