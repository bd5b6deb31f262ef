// kernel_features.hpp - what this kernel (and any seccomp filter around us)
// lets the library use, probed until the kernel has answered, then kept.
//
// After Go's os/pidfd_linux.go checkPidfd: a feature counts as present only
// when a harmless call of it succeeds here, so a kernel that has the syscall
// but a filter that refuses it (ENOSYS, EPERM) is treated as an old kernel.
// Every user of a feature has a fallback; the probe decides which path runs,
// it never decides whether a spawn can work. Only "not supported" (ENOSYS,
// EINVAL, EPERM, ...) is an answer: "not now" (EMFILE, ENFILE, ENOMEM, EINTR,
// EAGAIN - a first spawn at the descriptor limit) reads as absent for that
// call only, and the next call probes again.
#pragma once

namespace safeexec::detail {

struct KernelFeatures {
  bool pidfd_open = false;           ///< pidfd_open(2): Linux 5.3
  bool pidfd_send_signal = false;    ///< pidfd_send_signal(2): Linux 5.1
  bool waitid_pidfd = false;         ///< waitid(P_PIDFD, ...): Linux 5.4
  bool close_range_cloexec = false;  ///< close_range(CLOSE_RANGE_CLOEXEC): Linux 5.11
  /// ioctl(PIDFD_GET_INFO): Linux 6.13; with PIDFD_INFO_EXIT (6.15) a pidfd
  /// keeps the child's exit status even after someone else reaped it.
  bool pidfd_info_exit = false;
};

/// The features of this process's kernel, probed on first use and kept once
/// every probe answered yes or no (thread-safe).
/// In the test-only build, features disabled through
/// safeexec::testing::disable_kernel_features() read as absent.
KernelFeatures kernel_features() noexcept;

}  // namespace safeexec::detail
