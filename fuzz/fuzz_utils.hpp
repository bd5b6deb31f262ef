// fuzz_utils.hpp - what every safeexec fuzz target shares.
//
//   FUZZ_CHECK(cond, detail)  report a broken invariant: print it, then abort().
//                             In a fuzz target that is how a finding is
//                             reported; libFuzzer saves the input as crash-*.
//   ProcessSnapshot           this process's open descriptors (number and
//                             target) and its children; a spawning target
//                             takes one before each input and asserts after
//                             it that nothing changed (F05).
//   locate_test_child(argv0)  where the helper child is (see below).
//   LogCapture                a log sink that keeps every line, to prove that
//                             no line carries the process input (F13).
#pragma once

#include <dirent.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "safeexec/log.hpp"
#include "safeexec/testing/fault_injection.hpp"

namespace safeexec_fuzz {

/// Bytes shown as printable text with \xNN escapes, cut at `limit`.
inline std::string printable(std::string_view data, std::size_t limit = 256) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (std::size_t i = 0; i < data.size() && i < limit; ++i) {
    const auto c = static_cast<unsigned char>(data[i]);
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out.push_back(static_cast<char>(c));
    } else {
      out += "\\x";
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xf]);
    }
  }
  if (data.size() > limit) out += "...[" + std::to_string(data.size() - limit) + " more bytes]";
  return out;
}

[[noreturn]] inline void report_violation(const char* file, int line, const char* condition,
                                          const std::string& detail) {
  std::fprintf(stderr, "\n==safeexec-fuzz== INVARIANT VIOLATED at %s:%d\n  check: %s\n  %s\n", file,
               line, condition, detail.c_str());
  std::fflush(stderr);
  std::abort();
}

}  // namespace safeexec_fuzz

// A macro so that the report names the file and line of the check.
#define FUZZ_CHECK(cond, detail)                                                         \
  do {                                                                                   \
    if (!(cond)) ::safeexec_fuzz::report_violation(__FILE__, __LINE__, #cond, (detail)); \
  } while (0)

namespace safeexec_fuzz {

/// Children found by reading every /proc/<pid>/stat for our pid as parent:
/// the slow way, for kernels without CONFIG_PROC_CHILDREN.
inline std::vector<pid_t> scan_proc_for_children() {
  std::vector<pid_t> out;
  const pid_t self = ::getpid();
  DIR* proc = ::opendir("/proc");
  FUZZ_CHECK(proc != nullptr, "cannot open /proc");
  while (const dirent* e = ::readdir(proc)) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    const std::string path = std::string("/proc/") + e->d_name + "/stat";
    FILE* f = std::fopen(path.c_str(), "re");
    if (f == nullptr) continue;
    char buf[512];
    const std::size_t n = std::fread(buf, 1, sizeof buf - 1, f);
    std::fclose(f);
    buf[n] = '\0';
    // "pid (comm) S ppid ...": comm may hold anything, so start after the last ')'.
    const char* close = std::strrchr(buf, ')');
    char state = 0;
    int ppid = 0;
    if (close != nullptr && std::sscanf(close + 1, " %c %d", &state, &ppid) == 2 && ppid == self) {
      out.push_back(std::atoi(e->d_name));
    }
  }
  ::closedir(proc);
  return out;
}

/// The children of every thread of this process, sorted. A zombie stays in
/// the list until it is reaped (/proc/<pid>/task/<tid>/children).
inline std::vector<pid_t> list_children() {
  std::vector<pid_t> out;
  bool readable = false;
  DIR* tasks = ::opendir("/proc/self/task");
  FUZZ_CHECK(tasks != nullptr, "cannot open /proc/self/task");
  while (const dirent* t = ::readdir(tasks)) {
    if (t->d_name[0] == '.') continue;
    const std::string path = std::string("/proc/self/task/") + t->d_name + "/children";
    if (FILE* f = std::fopen(path.c_str(), "re")) {
      readable = true;
      int pid = 0;
      while (std::fscanf(f, "%d", &pid) == 1) out.push_back(pid);
      std::fclose(f);
    }
  }
  ::closedir(tasks);
  if (!readable) out = scan_proc_for_children();
  std::sort(out.begin(), out.end());
  return out;
}

inline std::string describe_pids(const std::vector<pid_t>& pids) {
  std::string out;
  for (const pid_t pid : pids) {
    std::string cmd;
    if (FILE* c = std::fopen(("/proc/" + std::to_string(pid) + "/cmdline").c_str(), "re")) {
      for (int ch = std::fgetc(c); ch != EOF && cmd.size() < 200; ch = std::fgetc(c)) {
        cmd.push_back(ch == 0 ? ' ' : static_cast<char>(ch));
      }
      std::fclose(c);
    }
    out += "[" + std::to_string(pid) + ": " + cmd + "] ";
  }
  return out;
}

/// This process's open descriptors (number -> what it points to) and its
/// children. Compared before/after, never against a fixed list: libFuzzer,
/// test runners and the sanitizers hold descriptors of their own, and the
/// sanitizer runtime keeps llvm-symbolizer as a child once it has printed a
/// symbolized PC (libFuzzer's NEW_FUNC lines do that).
struct ProcessSnapshot {
  std::vector<std::pair<int, std::string>> fds;
  std::vector<pid_t> children;

  /// `full`: also what each descriptor points to, and the children (a few
  /// dozen syscalls more; spawning targets want it, in-process ones do not).
  static ProcessSnapshot take(bool full = true) {
    ProcessSnapshot s;
    DIR* dir = ::opendir("/proc/self/fd");
    FUZZ_CHECK(dir != nullptr, "cannot open /proc/self/fd");
    const int own = ::dirfd(dir);
    while (const dirent* ent = ::readdir(dir)) {
      if (ent->d_name[0] < '0' || ent->d_name[0] > '9') continue;
      const int fd = std::atoi(ent->d_name);
      if (fd == own) continue;
      if (!full) {
        s.fds.emplace_back(fd, std::string());
        continue;
      }
      char target[PATH_MAX];
      const std::string path = std::string("/proc/self/fd/") + ent->d_name;
      const ssize_t n = ::readlink(path.c_str(), target, sizeof target - 1);
      s.fds.emplace_back(fd,
                         n < 0 ? std::string("?") : std::string(target, static_cast<size_t>(n)));
    }
    ::closedir(dir);
    std::sort(s.fds.begin(), s.fds.end());
    if (full) s.children = list_children();
    return s;
  }

  std::string str() const {
    std::string out;
    for (const auto& [fd, target] : fds) out += std::to_string(fd) + "->" + target + " ";
    return out;
  }
};

/// Empty when no child exists beyond `known`; else what was found. When
/// `known` is empty this is the plain probe waitpid(-1, WNOHANG) == -1/ECHILD
/// (which reaps a leaked zombie: a finding anyway). Otherwise the probe only
/// peeks (WNOWAIT), so that a runtime's own child is never reaped by us.
/// __WALL: children with any exit signal count.
inline std::string children_beyond(const std::vector<pid_t>& known) {
  if (known.empty()) {
    int status = 0;
    const pid_t r = ::waitpid(-1, &status, WNOHANG | __WALL);
    if (r == -1 && errno == ECHILD) return {};
    if (r > 0) return "an unreaped child (zombie) " + std::to_string(r);
    if (r == 0) return "a running child " + describe_pids(list_children());
    return "waitpid failed: errno " + std::to_string(errno);
  }
  const std::vector<pid_t> now = list_children();
  if (now != known)
    return "children changed: before " + describe_pids(known) + ", after " + describe_pids(now);
  siginfo_t info{};
  if (::waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT | __WALL) == 0 && info.si_pid != 0 &&
      !std::binary_search(known.begin(), known.end(), info.si_pid)) {
    return "an unreaped child (zombie) " + std::to_string(info.si_pid);
  }
  return {};
}

/// Asserts that `before` still describes the process: same descriptors,
/// same children. Call after every input of a spawning target.
inline void check_nothing_left_behind(const ProcessSnapshot& before, const char* context) {
  const std::string children = children_beyond(before.children);
  FUZZ_CHECK(children.empty(), std::string(context) + ": left behind " + children);
  const ProcessSnapshot after = ProcessSnapshot::take();
  FUZZ_CHECK(after.fds == before.fds, std::string(context) +
                                          ": open descriptors changed\n  before: " + before.str() +
                                          "\n  after:  " + after.str());
}

/// How many pipes and clones the library has attempted so far. The targets
/// link the seam-enabled build of the core (safeexec::testing, no fault ever
/// armed) only for these counters: they prove that an input refused with
/// InvalidArgument started nothing - not even a pipe.
struct SpawnAttempts {
  unsigned pipes = 0;
  unsigned clones = 0;
  static SpawnAttempts now() noexcept {
    using safeexec::testing::Call;
    return {safeexec::testing::call_count(Call::pipe2), safeexec::testing::call_count(Call::clone)};
  }
  friend bool operator==(const SpawnAttempts&, const SpawnAttempts&) = default;
};

/// The helper child program. Found, in this order, at $SAFEEXEC_TEST_CHILD,
/// at <dir of argv[0]>/bin/safeexec-test-child (the OSS-Fuzz layout: fuzzers
/// in $OUT, the helper in $OUT/bin), and at <dir of argv[0]>/../bin/ (the
/// CMake layout: fuzzers in <build>/fuzz, the helper in <build>/bin). Only
/// $OUT exists on a fuzzing machine and the working directory is unknown, so
/// nothing is looked up relative to it.
inline std::string& test_child_path() {
  static std::string path;
  return path;
}

inline const std::string& test_child() {
  return test_child_path();
}

inline void locate_test_child(const char* argv0) {
  std::vector<std::string> candidates;
  if (const char* env = std::getenv("SAFEEXEC_TEST_CHILD"); env != nullptr && *env != '\0') {
    candidates.emplace_back(env);
  } else {
    std::string self = argv0 != nullptr ? argv0 : "";
    if (self.find('/') == std::string::npos) {
      // Started through PATH: ask the kernel where the binary is.
      char buf[PATH_MAX];
      const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
      self = n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string("./x");
    }
    const std::string dir = self.substr(0, self.rfind('/'));
    candidates.push_back(dir + "/bin/safeexec-test-child");
    candidates.push_back(dir + "/../bin/safeexec-test-child");
  }
  for (const std::string& c : candidates) {
    if (::access(c.c_str(), X_OK) == 0) {
      char real[PATH_MAX];
      test_child_path() = ::realpath(c.c_str(), real) != nullptr ? std::string(real) : c;
      return;
    }
  }
  std::string tried;
  for (const std::string& c : candidates) tried += "\n  " + c;
  std::fprintf(stderr,
               "safeexec fuzz target: helper child safeexec-test-child not found; tried:%s\n"
               "set SAFEEXEC_TEST_CHILD to its path\n",
               tried.c_str());
  std::exit(2);
}

/// The light child (fuzz/fuzz_child.cpp: the argv, echo, write-then-echo,
/// read-some, ignore-stdin, exit, signal and sleep modes without a C
/// library, so it starts 20 times faster), for the targets that spawn on
/// every input. Found like the helper, under the name safeexec-fuzz-child:
/// at $SAFEEXEC_FUZZ_CHILD, next to $SAFEEXEC_TEST_CHILD, or in the bin/
/// folders above. Where it was not built (another architecture), the full
/// helper stands in: same modes, same behaviour. Call after
/// locate_test_child().
inline std::string& light_child_path() {
  static std::string path;
  return path;
}

inline const std::string& light_child() {
  return light_child_path().empty() ? test_child() : light_child_path();
}

inline void locate_light_child(const char* argv0) {
  std::vector<std::string> candidates;
  if (const char* env = std::getenv("SAFEEXEC_FUZZ_CHILD"); env != nullptr && *env != '\0') {
    candidates.emplace_back(env);
  }
  const std::string& helper = test_child();
  candidates.push_back(helper.substr(0, helper.rfind('/') + 1) + "safeexec-fuzz-child");
  std::string self = argv0 != nullptr ? argv0 : "";
  if (self.find('/') == std::string::npos) {
    char buf[PATH_MAX];
    const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
    self = n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string("./x");
  }
  const std::string dir = self.substr(0, self.rfind('/'));
  candidates.push_back(dir + "/bin/safeexec-fuzz-child");
  candidates.push_back(dir + "/../bin/safeexec-fuzz-child");
  for (const std::string& c : candidates) {
    if (::access(c.c_str(), X_OK) == 0) {
      char real[PATH_MAX];
      light_child_path() = ::realpath(c.c_str(), real) != nullptr ? std::string(real) : c;
      return;
    }
  }
}

/// Installs a log sink that records every line (and drops nothing), at
/// debug level, for the life of the process.
class LogCapture {
 public:
  static LogCapture& install() {
    static LogCapture capture;
    return capture;
  }

  void clear() {
    const std::lock_guard<std::mutex> lock(mutex_);
    lines_.clear();
  }
  std::vector<std::string> lines() const {
    const std::lock_guard<std::mutex> lock(mutex_);
    return lines_;
  }

 private:
  LogCapture() {
    safeexec::set_log_level(safeexec::LogLevel::debug);
    safeexec::set_log_sink([this](safeexec::LogLevel, std::string_view line) {
      const std::lock_guard<std::mutex> lock(mutex_);
      lines_.emplace_back(line);
    });
  }
  mutable std::mutex mutex_;
  std::vector<std::string> lines_;
};

}  // namespace safeexec_fuzz
