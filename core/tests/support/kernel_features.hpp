// kernel_features.hpp - what this kernel offers, asked of the kernel itself,
// for tests that check a feature only where it exists (ci/kernels runs the
// suites under seccomp_run profiles that take features away).
//
// Never ask the library: a test that skips because the library's own probe
// said "absent" would hide a broken probe. Each answer is cached; the probe
// opens and closes its descriptor at once, so a leak check around it sees
// nothing.
#pragma once

#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace safeexec_test_support {

/// pidfd_open(2) works (Linux 5.3+, not blocked by seccomp).
inline bool kernel_has_pidfd() {
  static const bool has = [] {
    const long fd = ::syscall(SYS_pidfd_open, ::getpid(), 0U);
    if (fd < 0) return false;
    (void)::close(static_cast<int>(fd));
    return true;
  }();
  return has;
}

/// pidfd_send_signal(2) is allowed (an eperm-kill filter refuses it).
inline bool kernel_has_pidfd_send_signal() {
  static const bool has = [] {
    const long fd = ::syscall(SYS_pidfd_open, ::getpid(), 0U);
    if (fd < 0) return false;
    const bool ok = ::syscall(SYS_pidfd_send_signal, static_cast<int>(fd), 0, nullptr, 0U) == 0;
    (void)::close(static_cast<int>(fd));
    return ok;
  }();
  return has;
}

/// ioctl(PIDFD_GET_INFO) works on a pidfd (Linux 6.13+; 6.15+ keeps the exit
/// status there even after someone else reaped the child). False without pidfds.
inline bool kernel_has_pidfd_info() {
  static const bool has = [] {
    const long fd = ::syscall(SYS_pidfd_open, ::getpid(), 0U);
    if (fd < 0) return false;
    struct {
      unsigned long long mask;
      unsigned long long rest[8];
    } info{};
    info.mask = 1;  // PIDFD_INFO_PID
    const bool ok = ::ioctl(static_cast<int>(fd), _IOWR(0xFF, 11, decltype(info)), &info) == 0;
    (void)::close(static_cast<int>(fd));
    return ok;
  }();
  return has;
}

/// /proc is mounted where the library looks for it (ci/kernels'
/// no-close-range-no-proc profile hides it; the fixtures then read their own
/// procfs through proc_path()).
inline bool library_sees_proc() {
  static const bool has = ::access("/proc/self/stat", R_OK) == 0;
  return has;
}

}  // namespace safeexec_test_support
