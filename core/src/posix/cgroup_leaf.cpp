// cgroup_leaf.cpp - making, killing, measuring and removing a cgroup v2 leaf.
#include "cgroup_leaf.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <string_view>
#include <thread>
#include <vector>

#include "log_internal.hpp"
#include "safeexec/errors.hpp"
#include "sys.hpp"

namespace safeexec::detail {
namespace {

constexpr long kCgroup2Magic = 0x63677270;  // CGROUP2_SUPER_MAGIC

/// A whole small file (proc or cgroupfs); nullopt when it cannot be read.
std::optional<std::string> read_at(int dir, const char* name) {
  const int fd =
      ::openat(dir, name, O_RDONLY | O_CLOEXEC);  // NOLINT(cppcoreguidelines-pro-type-vararg)
  if (fd < 0) return std::nullopt;
  std::string text;
  std::array<char, 4096> buf{};
  for (;;) {
    const ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int e = errno;
      (void)::close(fd);
      if (n < 0) {
        errno = e;
        return std::nullopt;
      }
      return text;
    }
    text.append(buf.data(), static_cast<std::size_t>(n));
  }
}

/// One write of `text` to `name` in `dir`: cgroupfs takes each value in a
/// single write. 0, or -1 with errno.
int write_at(int dir, const char* name, std::string_view text) noexcept {
  const int fd =
      ::openat(dir, name, O_WRONLY | O_CLOEXEC);  // NOLINT(cppcoreguidelines-pro-type-vararg)
  if (fd < 0) return -1;
  const ssize_t n = ::write(fd, text.data(), text.size());
  const int e = errno;
  (void)::close(fd);
  if (n == static_cast<ssize_t>(text.size())) return 0;
  errno = n < 0 ? e : EIO;
  return -1;
}

/// cgroup.kill (5.14+): the kernel kills every member at once, forks in
/// flight included.
int write_cgroup_kill(int dir) noexcept {
  SAFEEXEC_SEAM(cgroup_kill);
  return write_at(dir, "cgroup.kill", "1");
}

/// cgroup.freeze (5.2+): "1" stops every member where it is (no fork, no
/// exit) until "0".
int write_cgroup_freeze(int dir) noexcept {
  SAFEEXEC_SEAM(cgroup_freeze);
  return write_at(dir, "cgroup.freeze", "1");
}

/// The value after "key " on a line of a flat keyed file (cpu.stat,
/// cgroup.events, memory.events).
std::optional<std::uint64_t> keyed_value(std::string_view text, std::string_view key) {
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view line = text.substr(pos, end - pos);
    if (line.size() > key.size() && line.substr(0, key.size()) == key && line[key.size()] == ' ') {
      const std::string digits(line.substr(key.size() + 1));
      char* stop = nullptr;
      const unsigned long long v = std::strtoull(digits.c_str(), &stop, 10);
      if (stop != digits.c_str()) return v;
      return std::nullopt;
    }
    pos = end + 1;
  }
  return std::nullopt;
}

/// Mount points in mountinfo escape space, tab, newline and backslash as \ooo.
std::string unescape_mount_field(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size() && s[i + 1] >= '0' && s[i + 1] <= '3') {
      out.push_back(
          static_cast<char>((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0')));
      i += 3;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  std::size_t pos = 0;
  while (pos <= s.size()) {
    std::size_t end = s.find(sep, pos);
    if (end == std::string_view::npos) end = s.size();
    if (end > pos) out.push_back(s.substr(pos, end - pos));
    pos = end + 1;
  }
  return out;
}

bool is_cgroup2_dir(const std::string& dir) {
  struct statfs fs {};
  return ::statfs(dir.c_str(), &fs) == 0 && static_cast<long>(fs.f_type) == kCgroup2Magic;
}

[[noreturn]] void refuse(const std::string& what, int error) {
  ContainmentError e(what, error);
  log(LogLevel::error, e.what());
  throw e;
}

[[noreturn]] void spawn_failed(int error, const std::string& program) {
  SpawnError e(SpawnStage::cgroup, error, program);
  log(LogLevel::error, e.what());
  throw e;
}

/// Limits need their controller enabled for the parent's children.
void check_controllers(const CgroupOptions& o, const std::string& parent) {
  std::vector<std::pair<const char*, const char*>> wanted;  // {file, controller}
  if (o.memory_max()) wanted.emplace_back("memory.max", "memory");
  if (o.memory_swap_max()) wanted.emplace_back("memory.swap.max", "memory");
  if (o.pids_max()) wanted.emplace_back("pids.max", "pids");
  if (o.cpu_max()) wanted.emplace_back("cpu.max", "cpu");
  if (wanted.empty()) return;
  const std::optional<std::string> enabled =
      read_at(AT_FDCWD, (parent + "/cgroup.subtree_control").c_str());
  const std::vector<std::string_view> names =
      enabled ? split(std::string_view(*enabled).substr(0, enabled->find('\n')), ' ')
              : std::vector<std::string_view>{};
  for (const auto& [file, controller] : wanted) {
    bool on = false;
    for (std::string_view n : names) on = on || n == controller;
    if (!on) {
      refuse(std::string("cgroup limit ") + file + " needs the " + controller +
                 " controller, which " + parent +
                 "/cgroup.subtree_control does not enable (enabled: \"" +
                 (enabled ? enabled->substr(0, enabled->find('\n')) : std::string("unreadable")) +
                 "\")",
             ENOTSUP);
    }
  }
}

void validate(const CgroupOptions& o) {
  if (o.parent().find('\0') != std::string::npos)
    throw InvalidArgument("cgroup parent holds a NUL byte");
  if (!o.parent().empty() && o.parent().front() != '/') {
    throw InvalidArgument("cgroup parent must be an absolute path (got \"" + o.parent() + "\")");
  }
  if (o.cpu_max() && (o.cpu_max()->quota.count() <= 0 || o.cpu_max()->period.count() <= 0)) {
    throw InvalidArgument("cpu_max: quota and period must be positive");
  }
  if (o.pids_max() && *o.pids_max() == 0) throw InvalidArgument("pids_max must be at least 1");
  if (o.remove_wait().count() < 0) throw InvalidArgument("cgroup remove_wait must not be negative");
}

std::atomic<unsigned> g_leaf_counter{0};

}  // namespace

std::string cgroup2_mount() {
  const std::optional<std::string> info = read_at(AT_FDCWD, "/proc/self/mountinfo");
  if (!info) return {};
  for (std::string_view line : split(*info, '\n')) {
    // "id parent maj:min root mountpoint options [optional...] - fstype source super"
    const std::size_t dash = line.find(" - ");
    if (dash == std::string_view::npos) continue;
    const std::vector<std::string_view> tail = split(line.substr(dash + 3), ' ');
    if (tail.empty() || tail[0] != "cgroup2") continue;
    const std::vector<std::string_view> head = split(line.substr(0, dash), ' ');
    if (head.size() < 5 || head[3] != "/") continue;  // a bind of a sub-cgroup: not the root
    return unescape_mount_field(head[4]);
  }
  return {};
}

std::string own_cgroup2_dir() {
  const std::string mount = cgroup2_mount();
  if (mount.empty()) return {};
  const std::optional<std::string> self = read_at(AT_FDCWD, "/proc/self/cgroup");
  if (!self) return {};
  for (std::string_view line : split(*self, '\n')) {
    if (line.substr(0, 3) != "0::") continue;
    std::string_view rel = line.substr(3);
    if (rel == "/") rel = {};
    return mount + std::string(rel);
  }
  return {};
}

std::unique_ptr<CgroupLeaf> CgroupLeaf::create(const CgroupOptions& options,
                                               const std::string& program) {
  validate(options);
  std::string parent = options.parent();
  if (parent.empty()) {
    parent = own_cgroup2_dir();
    if (parent.empty()) {
      refuse(
          "cgroup: no cgroup v2 hierarchy found (no cgroup2 mount in /proc/self/mountinfo, or "
          "no 0:: line in /proc/self/cgroup); name a parent",
          ENOENT);
    }
  }
  while (parent.size() > 1 && parent.back() == '/') parent.pop_back();
  if (!is_cgroup2_dir(parent)) {
    refuse("cgroup parent " + parent + " is not a directory on a cgroup v2 file system", ENOTDIR);
  }
  check_controllers(options, parent);

  std::unique_ptr<CgroupLeaf> leaf(new CgroupLeaf());
  leaf->remove_wait_ = options.remove_wait();
  for (int attempt = 0;; ++attempt) {
    // A leaf a crashed process of the same pid left behind is never reused.
    const std::string name = "safeexec-" + std::to_string(::getpid()) + "-" +
                             std::to_string(g_leaf_counter.fetch_add(1, std::memory_order_relaxed));
    std::string path = parent;
    path += '/';
    path += name;
    if (::mkdir(path.c_str(), 0755) == 0) {
      leaf->path_ = path;
      break;
    }
    if (errno != EEXIST || attempt >= 16) spawn_failed(errno, program);
  }
  // From here the destructor removes the directory on any throw.
  leaf->dir_fd_ = sys::open_cloexec(leaf->path_.c_str(), O_RDONLY | O_DIRECTORY);
  if (leaf->dir_fd_ < 0) spawn_failed(errno, program);
  // NOLINTNEXTLINE(cppcoreguidelines-pro-type-vararg)
  leaf->procs_fd_ = ::openat(leaf->dir_fd_, "cgroup.procs", O_WRONLY | O_CLOEXEC);
  if (leaf->procs_fd_ < 0) spawn_failed(errno, program);

  // Limits before the child exists: it never runs a moment without them.
  const auto put = [&](const char* file, const std::string& value) {
    if (write_at(leaf->dir_fd_, file, value) != 0) {
      const int e = errno;
      refuse("cgroup: cannot write " + value + " to " + leaf->path_ + "/" + file, e);
    }
  };
  if (options.memory_max()) put("memory.max", std::to_string(*options.memory_max()));
  if (options.memory_swap_max()) {
    put("memory.swap.max", std::to_string(*options.memory_swap_max()));
  }
  if (options.pids_max()) put("pids.max", std::to_string(*options.pids_max()));
  if (options.cpu_max()) {
    put("cpu.max", std::to_string(options.cpu_max()->quota.count()) + " " +
                       std::to_string(options.cpu_max()->period.count()));
  }
  return leaf;
}

CgroupLeaf::~CgroupLeaf() {
  if (dir_fd_ >= 0) {
    if (populated()) (void)signal_all(SIGKILL);
    (void)wait_empty(deadline_after(remove_wait_));
  }
  if (procs_fd_ >= 0) (void)::close(procs_fd_);
  if (dir_fd_ >= 0) (void)::close(dir_fd_);
  if (!path_.empty() && ::rmdir(path_.c_str()) != 0) {
    const int e = errno;
    try {
      log(LogLevel::warning, "safeexec: cannot remove cgroup leaf " + path_ + ": " +
                                 SystemError("rmdir", e).what() +
                                 " (still populated after SIGKILL and remove_wait?); left behind");
    } catch (...) {  // bad_alloc while logging: nothing more to do in a destructor
    }
  }
}

int CgroupLeaf::signal_all(int sig) noexcept {
  if (sig == SIGKILL && write_cgroup_kill(dir_fd_) == 0) return 0;
  return freeze_and_signal(sig);
}

int CgroupLeaf::freeze_and_signal(int sig) noexcept {
  // Freezing (5.2+) keeps members from forking past the list or exiting and
  // having their pid reused. Without it the list is read and signalled as
  // it is, repeatedly for SIGKILL, until nothing is left (bounded).
  const bool frozen = write_cgroup_freeze(dir_fd_) == 0;
  if (frozen) {
    const Deadline bound = deadline_after(std::chrono::milliseconds(500));
    for (;;) {
      std::optional<std::string> events;
      try {
        events = read_at(dir_fd_, "cgroup.events");
      } catch (...) {
        break;
      }
      if (!events || keyed_value(*events, "frozen").value_or(0) == 1 || Clock::now() >= bound)
        break;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
  int rc = 0;
  int error = 0;
  try {
    const int rounds = (sig == SIGKILL && !frozen) ? 50 : 1;
    for (int round = 0; round < rounds; ++round) {
      const std::optional<std::string> procs = read_at(dir_fd_, "cgroup.procs");
      if (!procs) {
        rc = -1;
        error = errno;
        break;
      }
      const std::vector<std::string_view> pids = split(*procs, '\n');
      if (pids.empty()) break;
      for (std::string_view p : pids) {
        const auto pid = static_cast<pid_t>(std::strtol(std::string(p).c_str(), nullptr, 10));
        if (pid > 0 && sys::kill(pid, sig) != 0 && errno != ESRCH) {
          rc = -1;
          error = errno;
        }
      }
      if (rounds > 1) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  } catch (...) {  // bad_alloc
    rc = -1;
    error = ENOMEM;
  }
  if (frozen) (void)write_at(dir_fd_, "cgroup.freeze", "0");
  errno = error;
  return rc;
}

bool CgroupLeaf::populated() const noexcept {
  try {
    const std::optional<std::string> events = read_at(dir_fd_, "cgroup.events");
    return !events || keyed_value(*events, "populated").value_or(1) != 0;
  } catch (...) {
    return true;
  }
}

bool CgroupLeaf::wait_empty(Deadline deadline) const noexcept {
  auto pause = std::chrono::microseconds(100);
  for (;;) {
    if (!populated()) return true;
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::microseconds(10000));
  }
}

CgroupUsage CgroupLeaf::usage() const {
  CgroupUsage u;
  if (const std::optional<std::string> cpu = read_at(dir_fd_, "cpu.stat")) {
    if (auto v = keyed_value(*cpu, "user_usec")) u.cpu_user = std::chrono::microseconds(*v);
    if (auto v = keyed_value(*cpu, "system_usec")) u.cpu_system = std::chrono::microseconds(*v);
  }
  if (const std::optional<std::string> peak = read_at(dir_fd_, "memory.peak")) {
    char* stop = nullptr;
    const unsigned long long v = std::strtoull(peak->c_str(), &stop, 10);
    if (stop != peak->c_str()) u.memory_peak_bytes = v;
  }
  if (const std::optional<std::string> events = read_at(dir_fd_, "memory.events")) {
    u.oom_kills = keyed_value(*events, "oom_kill");
  }
  return u;
}

}  // namespace safeexec::detail
