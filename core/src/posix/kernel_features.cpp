// kernel_features.cpp - one probe per feature, run once.
#include "kernel_features.hpp"

#include <signal.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>

#include "safeexec/testing/fault_injection.hpp"

#ifndef P_PIDFD
#define P_PIDFD 3
#endif
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

namespace safeexec::detail {
namespace {

KernelFeatures probe() noexcept {
  KernelFeatures f;
  // A pidfd for ourselves: harmless, and the handle the next probes need.
  const long self = ::syscall(SYS_pidfd_open, ::getpid(), 0U);
  if (self >= 0) {
    f.pidfd_open = true;
    const int fd = static_cast<int>(self);
    // Signal 0 checks permission and existence only.
    f.pidfd_send_signal = ::syscall(SYS_pidfd_send_signal, fd, 0, nullptr, 0U) == 0;
    // We are not our own child: a kernel that knows P_PIDFD says ECHILD,
    // one that does not (5.3) says EINVAL.
    siginfo_t info{};
    f.waitid_pidfd = ::waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(fd), &info,
                              WEXITED | WNOHANG) != 0 &&
                     errno == ECHILD;
    // PIDFD_GET_INFO asking only for the pid: succeeds where the ioctl
    // exists; whether the exit status is kept is read from the answer's mask.
    struct {
      std::uint64_t mask;
      std::uint64_t rest[8];  // the 72-byte struct pidfd_info of Linux 6.15
    } pinfo{};
    pinfo.mask = 1;  // PIDFD_INFO_PID
    f.pidfd_info_exit = ::ioctl(fd, _IOWR(0xFF, 11, decltype(pinfo)), &pinfo) == 0;
    (void)::close(fd);
  }
  // An empty range above any descriptor: nothing changes, but an old kernel
  // (or a filter) answers ENOSYS, and 5.9/5.10 refuse the flag with EINVAL.
  f.close_range_cloexec = ::syscall(SYS_close_range, ~0U - 1, ~0U, CLOSE_RANGE_CLOEXEC) == 0;
  return f;
}

}  // namespace

#if defined(SAFEEXEC_FAULT_INJECTION) && SAFEEXEC_FAULT_INJECTION
namespace {
std::atomic<unsigned> g_disabled{0};
}  // namespace
}  // namespace safeexec::detail

namespace safeexec::testing {
void disable_kernel_features(unsigned mask) noexcept {
  detail::g_disabled.store(mask, std::memory_order_relaxed);
}
}  // namespace safeexec::testing

namespace safeexec::detail {
KernelFeatures kernel_features() noexcept {
  static const KernelFeatures probed = probe();
  KernelFeatures f = probed;
  const unsigned off = g_disabled.load(std::memory_order_relaxed);
  using testing::KernelFeature;
  if ((off & static_cast<unsigned>(KernelFeature::pidfd_open)) != 0) f.pidfd_open = false;
  if ((off & static_cast<unsigned>(KernelFeature::pidfd_send_signal)) != 0) {
    f.pidfd_send_signal = false;
  }
  if ((off & static_cast<unsigned>(KernelFeature::waitid_pidfd)) != 0) f.waitid_pidfd = false;
  if ((off & static_cast<unsigned>(KernelFeature::pidfd_info_exit)) != 0) f.pidfd_info_exit = false;
  if ((off & static_cast<unsigned>(KernelFeature::close_range)) != 0) {
    f.close_range_cloexec = false;
  }
  return f;
}
#else
KernelFeatures kernel_features() noexcept {
  static const KernelFeatures probed = probe();
  return probed;
}
#endif

}  // namespace safeexec::detail
