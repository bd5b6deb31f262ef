// kernel_features.cpp - one probe per feature, kept once it has answered.
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

/// What one probe call says about its feature.
enum class Answer { yes, no, not_now };

/// A refusal is "not supported" (ENOSYS, EINVAL, EPERM from a filter,
/// ENOTTY...) only when it says so: running out of descriptors or memory, or
/// an interruption, says nothing about the kernel, and must not be
/// remembered for the life of the process (a first spawn at the descriptor
/// limit once made every later handle do without a pidfd).
Answer answer(bool ok, int error) noexcept {
  if (ok) return Answer::yes;
  switch (error) {
    case EMFILE:
    case ENFILE:
    case ENOMEM:
    case EINTR:
    case EAGAIN:
      return Answer::not_now;
    default:
      return Answer::no;
  }
}

struct Probe {
  KernelFeatures features;
  bool settled = true;  ///< every answer was yes or no: it may be cached

  /// Records one feature's answer; `not_now` reads as absent this time.
  bool take(Answer a) noexcept {
    if (a == Answer::not_now) settled = false;
    return a == Answer::yes;
  }
};

Probe probe() noexcept {
  Probe p;
  KernelFeatures& f = p.features;
  // A pidfd for ourselves: harmless, and the handle the next probes need.
  const long self = ::syscall(SYS_pidfd_open, ::getpid(), 0U);
  f.pidfd_open = p.take(answer(self >= 0, errno));
  if (self >= 0) {
    const int fd = static_cast<int>(self);
    // Signal 0 checks permission and existence only.
    const long sent = ::syscall(SYS_pidfd_send_signal, fd, 0, nullptr, 0U);
    f.pidfd_send_signal = p.take(answer(sent == 0, errno));
    // We are not our own child: a kernel that knows P_PIDFD says ECHILD,
    // one that does not (5.3) says EINVAL.
    siginfo_t info{};
    const int waited =
        ::waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(fd), &info, WEXITED | WNOHANG);
    f.waitid_pidfd = p.take(answer(waited != 0 && errno == ECHILD, errno));
    // PIDFD_GET_INFO asking only for the pid: succeeds where the ioctl
    // exists; whether the exit status is kept is read from the answer's mask.
    struct {
      std::uint64_t mask;
      std::uint64_t rest[8];  // the 72-byte struct pidfd_info of Linux 6.15
    } pinfo{};
    pinfo.mask = 1;  // PIDFD_INFO_PID
    const int asked = ::ioctl(fd, _IOWR(0xFF, 11, decltype(pinfo)), &pinfo);
    f.pidfd_info_exit = p.take(answer(asked == 0, errno));
    (void)::close(fd);
  }
  // (Without a pidfd of our own the next three are not asked: absent when
  // pidfd_open is, unknown - and so not settled - when it was "not now".)
  // An empty range above any descriptor: nothing changes, but an old kernel
  // (or a filter) answers ENOSYS, and 5.9/5.10 refuse the flag with EINVAL.
  const long closed = ::syscall(SYS_close_range, ~0U - 1, ~0U, CLOSE_RANGE_CLOEXEC);
  f.close_range_cloexec = p.take(answer(closed == 0, errno));
  return p;
}

/// The probe's answer, kept once it is settled; until then (a first spawn at
/// the descriptor limit) each call asks the kernel again.
KernelFeatures probed() noexcept {
  static std::atomic<bool> settled{false};
  static KernelFeatures kept;  // written once, before `settled` is released
  static std::atomic_flag writing = ATOMIC_FLAG_INIT;
  if (settled.load(std::memory_order_acquire)) return kept;
  const Probe p = probe();
  if (p.settled && !writing.test_and_set(std::memory_order_acq_rel)) {
    kept = p.features;
    settled.store(true, std::memory_order_release);
  }
  return p.features;
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
  KernelFeatures f = probed();
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
  return probed();
}
#endif

}  // namespace safeexec::detail
