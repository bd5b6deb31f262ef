// seccomp_probe.cpp - asks the kernel one question and checks the answer, so
// the `kernel` ctest tests can show seccomp_run's profiles really answer as
// the kernel they imitate does (and that the probe fails when they do not).
//
//   seccomp_probe QUESTION EXPECTED      EXPECTED: ok | ENOSYS | EINVAL | EPERM | ENOENT
//
// Prints "QUESTION: <answer>" and exits 0 when the answer is EXPECTED, 1 when
// not, 2 on bad usage. Raw syscalls throughout: a libc wrapper may retry or
// fall back (glibc's pthread_create falls back from clone3 to clone) and hide
// the answer under test.
#include <fcntl.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

namespace {

/// -1 with errno set, or a value >= 0.
using Result = long;

/// A child that exits at once, reaped here; its pid, or -1.
pid_t start_child() {
  const pid_t pid = ::fork();
  if (pid == 0) ::_exit(0);
  return pid;
}

void reap(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
}

/// clone(2) with `flags` (raw: the flags are argument 0 on x86_64); the
/// child exits at once and is reaped.
Result raw_clone(unsigned long flags) {
  int pidfd = -1;
  const long pid = ::syscall(SYS_clone, flags | SIGCHLD, nullptr, &pidfd, nullptr, nullptr);
  if (pid == 0) ::_exit(0);
  if (pid < 0) return -1;
  reap(static_cast<pid_t>(pid));
  if (pidfd >= 0) ::close(pidfd);
  return 0;
}

/// Opens cgroup.kill of a fresh cgroup v2 directory (made under the v2
/// mount found in /proc/self/mountinfo, removed at once) for writing, and
/// writes nothing. Through libc's open, not a raw syscall: the library opens
/// cgroupfs files through libc's openat, which the no-cgroup-kill profile
/// interposes (a seccomp filter cannot read a path).
Result open_cgroup_kill() {
  FILE* info = std::fopen("/proc/self/mountinfo", "re");
  if (info == nullptr) return -1;
  char line[4096];
  std::string mount;
  while (mount.empty() && std::fgets(line, sizeof line, info) != nullptr) {
    const std::string l = line;
    const std::size_t dash = l.find(" - cgroup2 ");
    if (dash == std::string::npos) continue;
    char root[1024] = {};
    char point[1024] = {};
    if (std::sscanf(l.c_str(), "%*s %*s %*s %1023s %1023s", root, point) == 2 &&
        std::string(root) == "/") {
      mount = point;
    }
  }
  std::fclose(info);
  if (mount.empty()) {
    errno = ENODEV;
    return -1;
  }
  const std::string dir = mount + "/safeexec-probe-" + std::to_string(::getpid());
  if (::mkdir(dir.c_str(), 0755) != 0) return -1;
  const int fd = ::open((dir + "/cgroup.kill").c_str(), O_WRONLY | O_CLOEXEC);
  const int saved = errno;
  if (fd >= 0) ::close(fd);
  (void)::rmdir(dir.c_str());
  errno = saved;
  return fd;
}

Result ask(const std::string& q) {
  if (q == "pidfd_open") {
    const long fd = ::syscall(SYS_pidfd_open, ::getpid(), 0);
    if (fd >= 0) ::close(static_cast<int>(fd));
    return fd;
  }
  if (q == "pidfd_send_signal") {
    // Signal 0 to ourselves through a pidfd; without pidfd_open, fd 0 (not a
    // pidfd: EBADF on a kernel that has the call, ENOSYS on one that has not).
    const long fd = ::syscall(SYS_pidfd_open, ::getpid(), 0);
    const int target = fd >= 0 ? static_cast<int>(fd) : 0;
    const long rc = ::syscall(SYS_pidfd_send_signal, target, 0, nullptr, 0U);
    const int saved = errno;
    if (fd >= 0) ::close(static_cast<int>(fd));
    errno = saved;
    return rc;
  }
  if (q == "pidfd_getfd") {
    const long fd = ::syscall(SYS_pidfd_open, ::getpid(), 0);
    const int target = fd >= 0 ? static_cast<int>(fd) : 0;
    const long rc = ::syscall(SYS_pidfd_getfd, target, 1, 0U);
    const int saved = errno;
    if (rc >= 0) ::close(static_cast<int>(rc));
    if (fd >= 0) ::close(static_cast<int>(fd));
    errno = saved;
    return rc;
  }
  if (q == "clone_pidfd") return raw_clone(CLONE_PIDFD);
  if (q == "clone_plain") return raw_clone(0);
  if (q == "clone3") {
    clone_args args{};
    args.exit_signal = SIGCHLD;
    const long pid = ::syscall(SYS_clone3, &args, sizeof args);
    if (pid == 0) ::_exit(0);
    if (pid < 0) return -1;
    reap(static_cast<pid_t>(pid));
    return 0;
  }
  if (q == "waitid_pidfd" || q == "waitid_pid") {
    const pid_t child = start_child();
    if (child < 0) return -1;
    const long fd = ::syscall(SYS_pidfd_open, child, 0);
    siginfo_t info{};
    const bool by_pidfd = q == "waitid_pidfd";
    const int rc = by_pidfd ? ::waitid(static_cast<idtype_t>(P_PIDFD),
                                       fd >= 0 ? static_cast<id_t>(fd) : 0, &info, WEXITED)
                            : ::waitid(P_PID, static_cast<id_t>(child), &info, WEXITED);
    const int saved = errno;
    if (rc < 0) reap(child);
    if (fd >= 0) ::close(static_cast<int>(fd));
    errno = saved;
    return rc;
  }
  if (q == "close_range") return ::syscall(SYS_close_range, 1000U, 1000U, 0U);
  if (q == "kill_group") return ::kill(-::getpgrp(), 0);
  if (q == "kill_pid") return ::kill(::getpid(), 0);
  if (q == "proc_self_fd") return ::open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (q == "test_proc_self_fd") {
    // The procfs seccomp_run leaves the fixtures (SAFEEXEC_TEST_PROC), or /proc.
    const char* root = std::getenv("SAFEEXEC_TEST_PROC");
    const std::string path = std::string(root != nullptr ? root : "/proc") + "/self/fd";
    return ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  }
  if (q == "cgroup_kill") return open_cgroup_kill();
  errno = 0;
  return -2;
}

const char* errno_name(int e) {
  switch (e) {
    case ENOSYS:
      return "ENOSYS";
    case EINVAL:
      return "EINVAL";
    case EPERM:
      return "EPERM";
    case ENOENT:
      return "ENOENT";
    case EBADF:
      return "EBADF";
    default:
      return "other";
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: seccomp_probe QUESTION ok|ENOSYS|EINVAL|EPERM|ENOENT\n");
    return 2;
  }
  errno = 0;
  const Result r = ask(argv[1]);
  if (r == -2) {
    std::fprintf(stderr, "seccomp_probe: unknown question %s\n", argv[1]);
    return 2;
  }
  const int e = errno;
  const std::string answer = r >= 0 ? "ok" : errno_name(e);
  std::printf("%s: %s (errno %d: %s)\n", argv[1], answer.c_str(), r >= 0 ? 0 : e,
              r >= 0 ? "-" : std::strerror(e));
  return answer == argv[2] ? 0 : 1;
}
