// child.cpp - the child side of a spawn, from clone() to execve().
//
// Rules for everything in this file (after CPython's _posixsubprocess.c and
// glibc's spawni):
//   * The child was made with CLONE_VM|CLONE_VFORK: it shares the parent's
//     memory and runs on a stack the parent mapped for it (with a guard page),
//     while the parent thread that spawned it is suspended until execve()
//     succeeds or the child exits. So the child must not allocate, take locks,
//     touch stdio, throw, or write any memory the parent will read - except
//     plan.report (its failure, read by the parent once clone returns) and
//     errno, which lives in the suspended thread's TLS and which the parent
//     does not rely on.
//   * Only async-signal-safe system calls are made, and raw syscall(2) is used
//     rather than libc wrappers, so that no sanitizer interceptor runs here.
//   * Signals were all blocked by the parent before clone(). Handlers are
//     shared memory with the parent: a handler running in the child could
//     corrupt the parent. So handled signals are reset to SIG_DFL before the
//     mask is opened, and the mask is opened only right before execve.
//     Ignored signals stay ignored unless the caller asked otherwise (POSIX
//     posix_spawn semantics: a nohup'd host's children keep SIGHUP ignored).
//   * Any failure writes {stage, errno} into plan.report (and, in the TSan
//     build only, to the report pipe) and ends with exit_group(127); never
//     exit(), whose atexit handlers (libFuzzer installs one) belong to the
//     parent.
#include "child.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>

#include "child_code.hpp"
#include "child_containment.hpp"
#include "fd_borrow.hpp"
#include "safeexec/errors.hpp"
#include "signal_range.hpp"
#include "sys.hpp"

namespace safeexec::detail {
namespace {

// The kernel's struct for rt_sigaction (differs from glibc's struct sigaction).
struct KernelSigaction {
  void (*handler)(int);
  unsigned long flags;
  void (*restorer)();
  std::uint64_t mask;
};
constexpr long kKernelSigsetBytes = 8;

[[noreturn]] SAFEEXEC_CHILD_CODE void report_and_exit(ChildPlan& plan, int reported,
                                                      SpawnStage stage, int error) {
  plan.report.stage = static_cast<int>(stage);
  plan.report.error = error;
  // The parent reads the report only after clone() returned, which the
  // kernel does only once this process has exited (CLONE_VFORK); the release
  // store just keeps the compiler from sinking the writes past exit_group.
  __atomic_store_n(&plan.report.reported, reported, __ATOMIC_RELEASE);
  if (plan.report_fd >= 0) {
    // TSan build: a real fork shares no memory. One small write to a pipe is
    // atomic; if it fails there is nobody to tell, and the parent then sees
    // EOF plus an exit status of 127.
    (void)::syscall(SYS_write, plan.report_fd, &plan.report, sizeof plan.report);
  }
  (void)::syscall(SYS_exit_group, 127);
  __builtin_unreachable();
}

[[noreturn]] SAFEEXEC_CHILD_CODE void fail(ChildPlan& plan, SpawnStage stage, int error) {
  report_and_exit(plan, 1, stage, error);
}

// Step 1: default dispositions for every handled signal: a handler would run
// in the parent's memory. Ignored signals (SIG_IGN) survive execve, and stay
// ignored by default as with posix_spawn (a nohup'd host's children keep
// SIGHUP ignored); `reset_ignored` puts them back to SIG_DFL too.
SAFEEXEC_CHILD_CODE bool reset_signal_dispositions(bool reset_ignored) {
  for (int sig = 1; sig <= kMaxSignal; ++sig) {
    if (sig == SIGKILL || sig == SIGSTOP) continue;
    KernelSigaction old{};
    if (::syscall(SYS_rt_sigaction, sig, nullptr, &old, kKernelSigsetBytes) != 0) {
      continue;  // signals reserved by libc (32, 33) refuse queries; nothing to reset
    }
    if (old.handler == SIG_DFL) continue;
    if (old.handler == SIG_IGN && !reset_ignored) continue;
    KernelSigaction dfl{};
    dfl.handler = SIG_DFL;
    if (::syscall(SYS_rt_sigaction, sig, &dfl, nullptr, kKernelSigsetBytes) != 0) return false;
  }
  return true;
}

// Step 4, first fallback: close_range(CLOSE_RANGE_CLOEXEC) needs Linux 5.11
// and may be refused by seccomp (ENOSYS, EPERM) or an old kernel (EINVAL).
// Then mark each open descriptor close-on-exec by walking /proc/self/fd with
// getdents64 into a stack buffer: opendir() would malloc, which is unsafe here.
SAFEEXEC_CHILD_CODE bool mark_cloexec_by_walking_proc(int first) {
  const long dir = sys::open_directory_raw("/proc/self/fd");
  if (dir < 0) return false;
  alignas(8) char buf[4096];
  for (;;) {
    const long n = ::syscall(SYS_getdents64, dir, buf, sizeof buf);
    if (n < 0) {
      (void)::syscall(SYS_close, dir);
      return false;
    }
    if (n == 0) break;
    for (long off = 0; off < n;) {
      // struct linux_dirent64: ino (8), off (8), reclen (2), type (1), name.
      unsigned short reclen = 0;
      __builtin_memcpy(&reclen, buf + off + 16, sizeof reclen);
      const char* name = buf + off + 19;
      int fd = 0;
      bool numeric = name[0] != '\0';
      for (const char* p = name; *p != '\0'; ++p) {
        if (*p < '0' || *p > '9') {
          numeric = false;
          break;
        }
        fd = fd * 10 + (*p - '0');
      }
      if (numeric && fd >= first && fd != dir) {
        (void)::syscall(SYS_fcntl, fd, F_SETFD, FD_CLOEXEC);
      }
      off += reclen;
    }
  }
  (void)::syscall(SYS_close, dir);
  return true;
}

SAFEEXEC_CHILD_CODE bool is_path_search_miss(int error) {
  // As execvp: these mean "not here, try the next PATH entry".
  return error == ENOENT || error == ENOTDIR || error == ESTALE || error == ENODEV ||
         error == ETIMEDOUT || error == ELOOP || error == ENAMETOOLONG;
}

// Step 4, last fallback (no close_range, no /proc - a chroot or a minimal
// container): ask the kernel which descriptors below the limit are open,
// 1024 at a time with one ppoll each (a closed one answers POLLNVAL), and mark
// those. Each batch is one syscall, not 1024 fcntl() calls; it runs in the
// child, on the child's own copy of the descriptor table, so a descriptor
// another parent thread opens meanwhile cannot slip past it. Descriptors at
// or above RLIMIT_NOFILE (possible only if the host lowered its limit after
// opening them) are not seen; this is the same bound CPython's fallback uses.
SAFEEXEC_CHILD_CODE bool mark_cloexec_by_polling(unsigned first, unsigned limit) {
  constexpr unsigned kBatch = 1024;
  pollfd batch[kBatch];
  const timespec no_wait{0, 0};
  for (unsigned base = first; base < limit;) {
    const unsigned n = limit - base < kBatch ? limit - base : kBatch;
    for (unsigned i = 0; i < n; ++i) {
      batch[i].fd = static_cast<int>(base + i);
      batch[i].events = 0;
      batch[i].revents = 0;
    }
    // Every signal is blocked here, so ppoll cannot fail with EINTR.
    if (::syscall(SYS_ppoll, batch, static_cast<unsigned long>(n), &no_wait, nullptr,
                  kKernelSigsetBytes) < 0) {
      return false;
    }
    for (unsigned i = 0; i < n; ++i) {
      if ((batch[i].revents & POLLNVAL) == 0) {
        (void)::syscall(SYS_fcntl, batch[i].fd, F_SETFD, FD_CLOEXEC);
      }
    }
    base += n;
  }
  return true;
}

SAFEEXEC_CHILD_CODE bool mark_cloexec_from_3(const ChildPlan& plan) {
  if (plan.use_close_range && sys::close_range_cloexec(3) == 0) return true;
  if (mark_cloexec_by_walking_proc(3)) return true;
  return mark_cloexec_by_polling(3, plan.fd_limit);
}

// A candidate from an empty or relative PATH entry is found relative to the
// child's working directory (the cwd() option, or wherever the host happens
// to be): the Go 1.19 exec.ErrDot lesson - a file planted there must never
// run in place of the system's program. So such a candidate is not executed;
// if an executable regular file sits there, the spawn is refused (stage
// path_lookup, EACCES) rather than silently running a later PATH entry, so the
// caller learns their PATH is unsafe.
SAFEEXEC_CHILD_CODE bool is_executable_file(const char* path) {
  struct stat st {};
  if (::syscall(SYS_newfstatat, AT_FDCWD, path, &st, 0) != 0) return false;
  return S_ISREG(st.st_mode) && (st.st_mode & (S_IXUSR | S_IXGRP | S_IXOTH)) != 0;
}

// Step 3: put each planned source on its number. A source may itself be one
// of 0-2 (a borrowed descriptor: the caller's stderr as the child's stdout,
// stdout and stderr swapped, a merged stderr whose stdout is borrowed fd 1),
// and a dup2 onto that number before its own dup2 would overwrite it. So
// first every source in 0-2 that is not already its own target gets a
// close-on-exec copy above 2 (shared by the streams that name it; the copies
// are gone at execve); then no source is any other stream's target, and the
// dup2s may run in any order. A source that already sits on its target only
// loses close-on-exec (dup2(fd, fd) would leave the flag as it is). All on
// the child's own descriptor table: the parent's is never touched.
SAFEEXEC_CHILD_CODE bool place_stdio(const int (&planned)[3]) {
  int src[3] = {planned[0], planned[1], planned[2]};
  for (int t = 0; t < 3; ++t) {
    const int s = src[t];
    if (s < 0 || s > 2 || s == t) continue;
    const long copy = ::syscall(SYS_fcntl, s, F_DUPFD_CLOEXEC, 3);
    if (copy < 0) return false;
    for (int u = t; u < 3; ++u) {
      if (src[u] == s) src[u] = static_cast<int>(copy);
    }
  }
  for (int t = 0; t < 3; ++t) {
    if (src[t] < 0) continue;
    if (src[t] == t) {
      if (::syscall(SYS_fcntl, t, F_SETFD, 0) != 0) return false;
    } else if (::syscall(SYS_dup2, src[t], t) < 0) {
      return false;
    }
  }
  return true;
}

}  // namespace

SAFEEXEC_CHILD_CODE int child_main(void* arg) {
  ChildPlan& plan = *static_cast<ChildPlan*>(arg);
  int stdio_src[3] = {plan.stdio_src[0], plan.stdio_src[1], plan.stdio_src[2]};

  // 0. A borrowed table (fd_borrow.hpp): first, while this process still
  //    shares the caller's table and has changed nothing else. A refusal
  //    (a ptrace policy, a filter) is reported as such, and the parent
  //    spawns again by copying; nothing of the caller's was touched.
  if (plan.borrow != nullptr && !borrow_descriptors(*plan.borrow, stdio_src)) {
    report_and_exit(plan, kReportBorrowRefused, SpawnStage::stdio, errno);
  }

  // 1. Signal dispositions (the mask stays fully blocked until step 6).
  if (!reset_signal_dispositions(plan.reset_ignored_signals)) {
    fail(plan, SpawnStage::signals, errno);
  }

  // 2. Our own process group, so that a timeout can kill grandchildren too.
  if (plan.new_process_group && ::syscall(SYS_setpgid, 0, 0) != 0) {
    fail(plan, SpawnStage::process_group, errno);
  }

  // 3. stdin/stdout/stderr (see place_stdio).
  if (!place_stdio(stdio_src)) fail(plan, SpawnStage::stdio, errno);

  // 4. Nothing but 0, 1, 2 and keep_fds survives execve (F06). Marking
  //    close-on-exec instead of closing keeps report_fd usable until execve.
  if (!mark_cloexec_from_3(plan)) fail(plan, SpawnStage::close_fds, errno);
  for (std::size_t i = 0; i < plan.keep_count; ++i) {
    if (::syscall(SYS_fcntl, plan.keep_fds[i], F_SETFD, 0) != 0) {
      fail(plan, SpawnStage::close_fds, errno);
    }
  }

  // 5. Working directory.
  if (plan.cwd != nullptr && ::syscall(SYS_chdir, plan.cwd) != 0) {
    fail(plan, SpawnStage::chdir, errno);
  }

  // 5b. Containment (child_containment.cpp): cgroup, session, rlimits, umask,
  //     credentials, parent-death signal, no_new_privs - after chdir (which
  //     may need the privileges dropped here), before anything of the
  //     program's own runs.
  if (plan.containment != nullptr) {
    const ContainmentFailure f = apply_containment(*plan.containment);
    if (f.error != 0) fail(plan, f.stage, f.error);
  }

  // 6. Open the signal mask: the new program starts with nothing blocked.
  const std::uint64_t empty_mask = 0;
  if (::syscall(SYS_rt_sigprocmask, SIG_SETMASK, &empty_mask, nullptr, kKernelSigsetBytes) != 0) {
    fail(plan, SpawnStage::signals, errno);
  }

  // 7. execve each candidate, as execvp does, but never via /bin/sh: ENOEXEC
  //    is reported, not retried through a shell (F11), and never from an
  //    empty or relative PATH entry (see is_executable_file). The first error
  //    that is not a plain "not here" wins (EACCES beats a later ENOENT).
  int saved_error = ENOENT;
  bool have_significant = false;
  for (std::size_t i = 0; i < plan.exec_count; ++i) {
    const ExecCandidate& candidate = plan.exec_paths[i];
    if (candidate.relative_to_cwd) {
      if (is_executable_file(candidate.path)) fail(plan, SpawnStage::path_lookup, EACCES);
      continue;
    }
    (void)::syscall(SYS_execve, candidate.path, plan.argv, plan.envp);  // returns only on failure
    const int error = errno;
    if (!is_path_search_miss(error)) {
      if (error != EACCES) fail(plan, SpawnStage::exec, error);
      if (!have_significant) {
        saved_error = error;
        have_significant = true;
      }
    } else if (!have_significant) {
      saved_error = error;
    }
  }
  fail(plan, SpawnStage::exec, saved_error);
}

}  // namespace safeexec::detail
