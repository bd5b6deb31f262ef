// sys.hpp - the system calls safeexec makes that tests may want to fail.
//
// In the installed library (SAFEEXEC_FAULT_INJECTION undefined or 0) each
// wrapper is an inline direct call: the seam costs nothing. The test-only
// `safeexec_testing` library is built from the same sources with
// SAFEEXEC_FAULT_INJECTION=1, where each wrapper first asks the fault table
// (fault_injection.cpp) whether this call should fail, and with which errno.
// The table is lock-free, so the check is async-signal-safe and may run in a
// vfork-style child (the close_range fallback test relies on that).
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>

#include "safeexec/testing/fault_injection.hpp"

#if defined(SAFEEXEC_FAULT_INJECTION) && SAFEEXEC_FAULT_INJECTION
namespace safeexec::testing::detail {
/// True when this call must fail; stores the errno to fail with.
bool fault_hit(Call call, int* error) noexcept;
}  // namespace safeexec::testing::detail
#define SAFEEXEC_SEAM(call)                                                                      \
  do {                                                                                           \
    int seam_error_ = 0;                                                                         \
    if (::safeexec::testing::detail::fault_hit(::safeexec::testing::Call::call, &seam_error_)) { \
      errno = seam_error_;                                                                       \
      return -1;                                                                                 \
    }                                                                                            \
  } while (0)
#else
#define SAFEEXEC_SEAM(call) \
  do {                      \
  } while (0)
#endif

namespace safeexec::sys {

/// Both ends close-on-exec from birth (F06): there is no other way to make a pipe here.
inline int pipe2_cloexec(int fds[2]) noexcept {
  SAFEEXEC_SEAM(pipe2);
  return ::pipe2(fds, O_CLOEXEC);
}

inline int poll(pollfd* fds, nfds_t n, int timeout_ms) noexcept {
  SAFEEXEC_SEAM(poll);
  return ::poll(fds, n, timeout_ms);
}

inline ssize_t read(int fd, void* buf, size_t n) noexcept {
  SAFEEXEC_SEAM(read);
  return ::read(fd, buf, n);
}

inline ssize_t write(int fd, const void* buf, size_t n) noexcept {
  SAFEEXEC_SEAM(write);
  return ::write(fd, buf, n);
}

inline int waitid(idtype_t type, id_t id, siginfo_t* info, int options) noexcept {
  SAFEEXEC_SEAM(waitid);
  return ::waitid(type, id, info, options);
}

/// waitid(2) as the kernel has it, with the rusage libc's wrapper drops.
inline int waitid_rusage(idtype_t type, id_t id, siginfo_t* info, int options,
                         struct rusage* usage) noexcept {
  SAFEEXEC_SEAM(waitid);
  return static_cast<int>(::syscall(SYS_waitid, type, id, info, options, usage));
}

inline int pidfd_open(pid_t pid) noexcept {
  SAFEEXEC_SEAM(pidfd_open);
  return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0U));
}

inline int open_cloexec(const char* path, int flags) noexcept {
  SAFEEXEC_SEAM(open);
  return ::open(path, flags | O_CLOEXEC);  // NOLINT(cppcoreguidelines-pro-type-vararg)
}
/// With the permission bits for O_CREAT (a file stdout is routed to).
inline int open_cloexec(const char* path, int flags, mode_t mode) noexcept {
  SAFEEXEC_SEAM(open);
  return ::open(path, flags | O_CLOEXEC, mode);  // NOLINT(cppcoreguidelines-pro-type-vararg)
}

/// Raw openat of a directory, for the child's /proc/self/fd walk: the child
/// may call no libc wrapper an interceptor (TSan) could hook. Shares the
/// `open` seam, so a test can take /proc away from the child.
inline long open_directory_raw(const char* path) noexcept {
  SAFEEXEC_SEAM(open);
  return ::syscall(SYS_openat, AT_FDCWD, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
}

/// Raw close_range: the child calls it, so no libc wrapper that an
/// interceptor (TSan) could hook.
inline int close_range_cloexec(unsigned first) noexcept {
  SAFEEXEC_SEAM(close_range);
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif
  return static_cast<int>(::syscall(SYS_close_range, first, ~0U, CLOSE_RANGE_CLOEXEC));
}

/// pidfd_send_signal(2) (Linux 5.1).
inline int pidfd_send_signal(int pidfd, int sig) noexcept {
  SAFEEXEC_SEAM(signal);
  return static_cast<int>(::syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr, 0U));
}

/// kill(2) of a child (pid > 0) or of its process group (pid < 0).
inline int kill(pid_t pid, int sig) noexcept {
  SAFEEXEC_SEAM(signal);
  return ::kill(pid, sig);
}

/// ioctl(pidfd, PIDFD_GET_INFO, info): see child_ref.cpp.
inline int ioctl_pidfd_info(int pidfd, unsigned long request, void* info) noexcept {
  return ::ioctl(pidfd, request, info);  // NOLINT(cppcoreguidelines-pro-type-vararg)
}

/// The clone seam has no wrapper of its own (clone takes a callback); the
/// spawn path asks this before calling clone.
inline int clone_fault() noexcept {
  SAFEEXEC_SEAM(clone);
  return 0;
}

/// Thread creation (std::thread, the worker pool) has no errno-returning
/// call to wrap either: the pool asks this before starting each worker.
inline int thread_create_fault() noexcept {
  SAFEEXEC_SEAM(thread_create);
  return 0;
}

/// Counts a read of environ for the tests (EnvironSnapshot::take is the
/// only reader); a fault injected here has no effect.
inline int environ_read_seen() noexcept {
  SAFEEXEC_SEAM(environ_read);
  return 0;
}

}  // namespace safeexec::sys
