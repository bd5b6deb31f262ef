// support.cpp - see support.hpp.
#include "support.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <thread>

#include "safeexec/env.hpp"
#include "safeexec/spawn_strategy.hpp"
#if defined(SAFEEXEC_FAULT_INJECTION) && SAFEEXEC_FAULT_INJECTION
#include "safeexec/testing/fault_injection.hpp"
#endif
#include "support/sanitizers.hpp"

#ifndef SAFEEXEC_TEST_CHILD
#error "SAFEEXEC_TEST_CHILD (the helper child's path) must be defined by the build"
#endif

namespace safeexec_props {
namespace {

using safeexec_test_support::all_digits;
using safeexec_test_support::proc_path;
using safeexec_test_support::read_small_file;

void sleep_for_ms(int ms) {
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
}

}  // namespace

void record_first_failure(const std::string& failure) {
  static std::atomic<bool> recorded{false};
  if (recorded.exchange(true)) return;
  std::fprintf(stderr, "[first failing check of this run, before shrinking]\n%s\n",
               failure.c_str());
}

const std::string& helper_path() {
  static const std::string path = SAFEEXEC_TEST_CHILD;
  return path;
}

std::set<int> open_fds() {
  std::set<int> fds;
  DIR* d = ::opendir(proc_path("/self/fd").c_str());
  if (d == nullptr) return fds;
  const int own = ::dirfd(d);
  while (const dirent* e = ::readdir(d)) {
    if (!all_digits(e->d_name)) continue;
    const int fd = std::atoi(e->d_name);
    if (fd != own) fds.insert(fd);
  }
  ::closedir(d);
  // Under the server strategy the spawn server's channel belongs to the
  // process (child_census.hpp); a case must leave everything else as it was.
  if (safeexec::spawn_strategy() != safeexec::SpawnStrategy::direct) {
    std::erase_if(fds, safeexec_test_support::is_spawn_server_descriptor);
  }
  return fds;
}

std::string show_fds(const std::set<int>& fds) {
  std::string out;
  for (const int fd : fds) {
    if (!out.empty()) out += ' ';
    out += std::to_string(fd);
    // Name what the descriptor is: "pipe:[123]", "anon_inode:[pidfd]", ...
    char target[256];
    const std::string link = proc_path("/self/fd/") + std::to_string(fd);
    const ssize_t n = ::readlink(link.c_str(), target, sizeof target - 1);
    if (n > 0) {
      out += "=" + std::string(target, static_cast<std::size_t>(n));
    }
  }
  return out;
}

std::string show_fd_diff(const std::set<int>& before, const std::set<int>& after) {
  std::set<int> opened;
  std::set<int> closed;
  for (const int fd : after) {
    if (before.count(fd) == 0) opened.insert(fd);
  }
  for (const int fd : before) {
    if (after.count(fd) == 0) closed.insert(fd);
  }
  return "opened: " + (opened.empty() ? std::string("none") : show_fds(opened)) +
         "; closed: " + (closed.empty() ? std::string("none") : show_fds(closed));
}

std::string ChildReport::describe() const {
  return std::string(waitpid_clean ? "waitpid(-1, WNOHANG): clean"
                                   : "waitpid(-1, WNOHANG): a child") +
         "; children in /proc: " + safeexec_test_support::describe(left);
}

ChildReport check_and_reap_children() {
  namespace census = safeexec_test_support;
  ChildReport report;
  report.left = census::our_children_but_spawn_servers();
  // The sanitizer's symbolizer, if any, is a running child of ours, and so
  // is the spawn server under the server strategy: then "no child has
  // exited" (0) is the clean answer. A running child of the case shows in
  // report.left, an exited one is returned here.
  const bool runtime_child =
      census::sanitizer_runtime_child_running() || census::spawn_server_running();
  int status = 0;
  const pid_t r = ::waitpid(-1, &status, WNOHANG | __WALL);
  const bool was_runtime_child = r > 0 && census::was_sanitizer_runtime_child(r);
  report.waitpid_clean =
      (r < 0 && errno == ECHILD) || (r == 0 && runtime_child) || was_runtime_child;
  if (r > 0 && !was_runtime_child &&
      std::none_of(report.left.begin(), report.left.end(),
                   [r](const ProcInfo& p) { return p.pid == r; })) {
    report.left.push_back(ProcInfo{r, 'Z', ::getpid(), 0, 0});
  }
  if (report.empty()) return report;
  // Clean up so that the next property starts clean: these are our own
  // unreaped children, so their pids cannot have been recycled.
  for (const ProcInfo& p : census::our_children_but_spawn_servers()) (void)::kill(p.pid, SIGKILL);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (std::chrono::steady_clock::now() < deadline) {
    const pid_t w = ::waitpid(-1, &status, WNOHANG | __WALL);
    if (w < 0 && errno == ECHILD) break;
    if (w == 0) {
      if (census::our_children_but_spawn_servers().empty()) break;  // only the process's own left
      sleep_for_ms(2);
    }
  }
  return report;
}

std::string new_tag() {
  static std::atomic<unsigned> counter{0};
  return "propdaemon-" + std::to_string(::getpid()) + "-" +
         std::to_string(counter.fetch_add(1, std::memory_order_relaxed));
}

namespace {
bool cmdline_has(pid_t pid, const std::string& tag) {
  std::string cmd = read_small_file(proc_path("/" + std::to_string(pid) + "/cmdline"));
  std::replace(cmd.begin(), cmd.end(), '\0', ' ');
  return cmd.find(tag) != std::string::npos;
}
}  // namespace

std::vector<pid_t> live_tagged(const std::string& tag) {
  std::vector<pid_t> out;
  const pid_t self = ::getpid();
  for (const ProcInfo& p : list_processes()) {
    if (p.pid == self || p.state == 'Z' || p.state == 'X') continue;
    if (cmdline_has(p.pid, tag)) out.push_back(p.pid);
  }
  return out;
}

bool drain_tagged(const std::string& tag, std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  for (;;) {
    if (live_tagged(tag).empty()) return true;
    if (std::chrono::steady_clock::now() >= deadline) break;
    sleep_for_ms(5);
  }
  // Still there: kill through a pidfd taken before re-checking the command
  // line, so a recycled pid is never hit. Without pidfds (or with
  // pidfd_send_signal refused: ci/kernels' no-pidfd and eperm-kill profiles)
  // kill the pid right after the check: a cleanup, with a race of microseconds.
  for (const pid_t pid : live_tagged(tag)) {
    const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0U));
    if (!cmdline_has(pid, tag)) {
      if (pidfd >= 0) (void)::close(pidfd);
      continue;
    }
    if (pidfd < 0 ||
        (::syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, nullptr, 0U) != 0 && errno != ESRCH)) {
      (void)::kill(pid, SIGKILL);
    }
    if (pidfd >= 0) (void)::close(pidfd);
  }
  const auto kill_deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  while (!live_tagged(tag).empty() && std::chrono::steady_clock::now() < kill_deadline) {
    sleep_for_ms(5);
  }
  return false;
}

std::string helper_pattern(std::size_t n) {
  std::string out(n, '\0');
  for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<char>('a' + (i % 65536) % 26);
  return out;
}

std::string make_bytes(std::size_t size, std::uint64_t seed, int flavour) {
  std::mt19937_64 rng(seed);
  std::string out(size, '\0');
  std::size_t i = 0;
  switch (flavour % 5) {
    case 0:  // uniform random bytes, 8 at a time
      for (; i + 8 <= size; i += 8) {
        const std::uint64_t v = rng();
        std::memcpy(&out[i], &v, 8);
      }
      for (; i < size; ++i) out[i] = static_cast<char>(rng() & 0xff);
      break;
    case 1:  // mostly NUL
      for (; i < size; ++i) out[i] = (rng() % 5 == 0) ? static_cast<char>(rng() & 0xff) : '\0';
      break;
    case 2:  // text lines
      for (; i < size; ++i) {
        const std::uint64_t v = rng() % 40;
        out[i] = v == 0 ? '\n' : static_cast<char>(' ' + v * 2);
      }
      break;
    case 3:  // mostly 0xFF (not UTF-8)
      for (; i < size; ++i) out[i] = static_cast<char>((rng() % 3 == 0) ? (rng() & 0xff) : 0xff);
      break;
    default:  // one byte repeated
      std::fill(out.begin(), out.end(), static_cast<char>(seed & 0xff));
      break;
  }
  return out;
}

std::string show_bytes(std::string_view s, std::size_t limit) {
  std::string out = "\"";
  for (std::size_t i = 0; i < s.size() && i < limit; ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
      out.push_back(static_cast<char>(c));
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    }
  }
  out += "\"";
  if (s.size() > limit) out += "...(" + std::to_string(s.size()) + " bytes)";
  return out;
}

rc::Gen<std::size_t> gen_pipe_edge_size(std::size_t max_size) {
  std::vector<std::size_t> edges;
  for (const std::size_t base : {std::size_t{4096}, std::size_t{8192}, std::size_t{16384}}) {
    edges.push_back(base);
  }
  for (std::size_t k = 1; k * 65536 <= max_size; k = (k < 4) ? k + 1 : k * 2) {
    edges.push_back(k * 65536);
  }
  edges.push_back(1 << 20);
  const auto at_edge = rc::gen::map(
      rc::gen::pair(rc::gen::elementOf(edges), rc::gen::inRange(-1, 2)),
      [max_size](const std::pair<std::size_t, int>& e) {
        const std::size_t v = e.first + static_cast<std::size_t>(static_cast<long>(e.second));
        return std::min(v, max_size);
      });
  return rc::gen::weightedOneOf<std::size_t>({
      {3, rc::gen::inRange<std::size_t>(0, 65)},
      {6, at_edge},
      {2, rc::gen::inRange<std::size_t>(0, max_size + 1)},
  });
}

rc::Gen<std::string> gen_permitted_env_key() {
  static const std::string first = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_";
  static const std::string rest = first + "0123456789";
  const auto key = rc::gen::map(
      rc::gen::pair(rc::gen::elementOf(first),
                    rc::gen::resize(12, rc::gen::container<std::string>(rc::gen::elementOf(rest)))),
      [](const std::pair<char, std::string>& p) { return std::string(1, p.first) + p.second; });
  return rc::gen::suchThat(key, [](const std::string& k) {
    return safeexec::is_valid_env_key(k) && safeexec::EnvPolicy::deny_dangerous().permits(k);
  });
}

rc::Gen<std::string> gen_nul_free_bytes(std::size_t max_len) {
  static const std::string shellish = " \t\n$`'\"\\*?;|&<>(){}[]~#!=%";
  const auto byte = rc::gen::weightedOneOf<char>({
      {3, rc::gen::suchThat(rc::gen::arbitrary<char>(), [](char c) { return c != '\0'; })},
      {1, rc::gen::elementOf(shellish)},
  });
  return rc::gen::mapcat(rc::gen::inRange<std::size_t>(0, max_len + 1), [byte](std::size_t n) {
    return rc::gen::container<std::string>(n, byte);
  });
}

// Under a sanitizer every spawn and syscall is slower.
constexpr long kDefaultSlackMs = safeexec_test_support::kSanitized ? 2000 : 500;

std::chrono::milliseconds timing_slack() {
  const char* env = std::getenv("SAFEEXEC_PROP_SLACK_MS");
  long ms = env != nullptr ? std::atol(env) : 0;
  if (ms <= 0) ms = kDefaultSlackMs;
  return std::chrono::milliseconds(ms);
}

LogCapture::LogCapture()
    : previous_(safeexec::set_log_sink([](safeexec::LogLevel, std::string_view) {})) {}

LogCapture::LogCapture(std::vector<std::string>* lines)
    : previous_(safeexec::set_log_sink(
          [lines](safeexec::LogLevel, std::string_view line) { lines->emplace_back(line); })) {}

LogCapture::~LogCapture() {
  (void)safeexec::set_log_sink(std::move(previous_));
}

SigpipeBlock::SigpipeBlock() {
  sigset_t pipe_only;
  sigemptyset(&pipe_only);
  sigaddset(&pipe_only, SIGPIPE);
  sigset_t pending;
  sigemptyset(&pending);
  (void)sigpending(&pending);
  was_pending_ = sigismember(&pending, SIGPIPE) == 1;
  (void)pthread_sigmask(SIG_BLOCK, &pipe_only, &old_);
}

SigpipeBlock::~SigpipeBlock() {
  if (!was_pending_) {
    sigset_t pipe_only;
    sigemptyset(&pipe_only);
    sigaddset(&pipe_only, SIGPIPE);
    const timespec zero{0, 0};
    while (sigtimedwait(&pipe_only, nullptr, &zero) < 0 && errno == EINTR) {
    }
  }
  (void)pthread_sigmask(SIG_SETMASK, &old_, nullptr);
}

LeakGuard::LeakGuard() : before_(open_fds()) {}

LeakGuard::~LeakGuard() {
  if (!verified_) (void)check_and_reap_children();
}

void LeakGuard::verify(const char* what) {
  verified_ = true;
#if defined(SAFEEXEC_FAULT_INJECTION) && SAFEEXEC_FAULT_INJECTION
  // A child that outlived a bounded destroy (under injected waitid faults,
  // or a loaded machine) is reaped by a background thread that holds its
  // pidfd until then: not a leak while that thread runs, one if it never
  // finishes (the wait is bounded; the comparison below then fails).
  const auto settle_by = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  while (safeexec::testing::background_reapers() != 0 &&
         std::chrono::steady_clock::now() < settle_by) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
#endif
  const std::set<int> after = open_fds();
  const ChildReport children = check_and_reap_children();
  if (after != before_) {
    RC_FAIL(std::string(what) + ": descriptors differ from the snapshot taken before (" +
            show_fd_diff(before_, after) + ")");
  }
  if (!children.empty()) {
    RC_FAIL(std::string(what) + ": a child was left behind (" + children.describe() + ")");
  }
}

}  // namespace safeexec_props
