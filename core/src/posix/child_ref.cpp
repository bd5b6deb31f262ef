// child_ref.cpp - waits and signals through a pidfd or a pid.
#include "child_ref.hpp"

#include <poll.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <thread>
#include <utility>

#include "io_util.hpp"
#include "kernel_features.hpp"
#include "sys.hpp"

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

namespace safeexec::detail {
namespace {

// PIDFD_GET_INFO (Linux 6.15+): the kernel keeps a child's exit status for
// its pidfds even after someone else reaped it. Declared here because the
// build machine's headers may predate it.
struct PidfdInfo {
  std::uint64_t mask;
  std::uint64_t cgroupid;
  std::uint32_t pid, tgid, ppid, ruid, rgid, euid, egid, suid, sgid, fsuid, fsgid;
  std::int32_t exit_code;
  std::uint32_t coredump_mask;
  std::uint32_t spare;
};
constexpr std::uint64_t kPidfdInfoExit = 1U << 3;
constexpr unsigned long kPidfdGetInfo = _IOWR(0xFF, 11, PidfdInfo);

ExitStatus from_siginfo(const siginfo_t& info) noexcept {
  if (info.si_code == CLD_EXITED) return ExitStatus::exited(info.si_status);
  // CLD_KILLED / CLD_DUMPED always carry the signal (>= 1); anything else
  // would be no status we could name - never "killed by signal 0".
  return info.si_status >= 1 ? ExitStatus::signaled(info.si_status) : ExitStatus::lost();
}

/// The status a pidfd remembers, when the kernel offers it.
std::optional<ExitStatus> status_from_pidfd(int pidfd) noexcept {
  if (pidfd < 0 || !kernel_features().pidfd_info_exit) return std::nullopt;
  PidfdInfo info{};
  info.mask = kPidfdInfoExit;
  if (sys::ioctl_pidfd_info(pidfd, kPidfdGetInfo, &info) != 0) return std::nullopt;
  if ((info.mask & kPidfdInfoExit) == 0) return std::nullopt;
  const int raw = info.exit_code;
  if (WIFEXITED(raw)) return ExitStatus::exited(WEXITSTATUS(raw));
  if (WIFSIGNALED(raw)) return ExitStatus::signaled(WTERMSIG(raw));
  return std::nullopt;
}

int waitid_child(pid_t pid, int pidfd, siginfo_t* info, int options) noexcept {
  if (pidfd >= 0 && kernel_features().waitid_pidfd) {
    return sys::waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(pidfd), info, options);
  }
  // 5.3 kernels (pidfd but no P_PIDFD) and no pidfd at all: the pid is still
  // ours while the child is unreaped.
  return sys::waitid(P_PID, static_cast<id_t>(pid), info, options);
}

}  // namespace

ChildRef::ChildRef(ChildRef&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)), pidfd_(std::exchange(other.pidfd_, -1)) {}

ChildRef& ChildRef::operator=(ChildRef&& other) noexcept {
  if (this != &other) {
    clear();
    pid_ = std::exchange(other.pid_, -1);
    pidfd_ = std::exchange(other.pidfd_, -1);
  }
  return *this;
}

ChildRef::~ChildRef() {
  clear();
}

void ChildRef::clear() noexcept {
  close_fd(pidfd_);
  pid_ = -1;
}

int ChildRef::signal(int sig) const noexcept {
  if (pidfd_ >= 0 && kernel_features().pidfd_send_signal) {
    const int rc = sys::pidfd_send_signal(pidfd_, sig);
    // A filter may refuse the call although the probe passed (it can be
    // installed later): the pid is still ours, so fall back to kill().
    if (rc == 0 || (errno != ENOSYS && errno != EPERM)) return rc;
  }
  return static_cast<int>(sys::kill(pid_, sig));
}

int ChildRef::try_reap(ReapResult* result, ExitStatus* status, struct rusage* usage) noexcept {
  for (;;) {
    siginfo_t info{};
    info.si_pid = 0;
    // Look first (WNOWAIT), then close the pidfd, then reap by pid: once
    // the child is seen reaped from outside, nothing of it is left open
    // here (a leak check or a census racing with a reaper thread finds no
    // stray pidfd). The unreaped zombie keeps its pid, so the pid is safe.
    const int rc = waitid_child(pid_, pidfd_, &info, WEXITED | WNOHANG | WNOWAIT);
    if (rc == 0) {
      if (info.si_pid == 0) {
        *result = ReapResult::running;
        return 0;
      }
      *status = from_siginfo(info);
      close_fd(pidfd_);
      siginfo_t reaped{};
      struct rusage used {};
      while (sys::waitid_rusage(P_PID, static_cast<id_t>(pid_), &reaped, WEXITED | WNOHANG,
                                &used) != 0) {
        // ECHILD: a host's reaper took it after our look; the status stands.
        if (errno == ECHILD) break;
        if (errno != EINTR) return -1;  // still unreaped: the next call looks again, by pid
      }
      if (usage != nullptr && reaped.si_pid == pid_) *usage = used;
      *result = ReapResult::reaped;
      return 0;
    }
    if (errno == EINTR) continue;
    if (errno != ECHILD) return -1;
    // Not our child any more: the kernel reaped it (SIGCHLD ignored or
    // SA_NOCLDWAIT) or a host's waitpid(-1) took it. Ask the pidfd.
    if (const auto st = status_from_pidfd(pidfd_)) {
      *status = *st;
      *result = ReapResult::recovered;
    } else {
      *result = ReapResult::lost;
    }
    close_fd(pidfd_);
    return 0;
  }
}

bool ChildRef::has_exited() const noexcept {
  if (pidfd_ >= 0) {
    pollfd pfd{pidfd_, POLLIN, 0};
    return sys::poll(&pfd, 1, 0) > 0;
  }
  siginfo_t info{};
  info.si_pid = 0;
  const int rc = waitid_child(pid_, -1, &info, WEXITED | WNOHANG | WNOWAIT);
  // ECHILD: already reaped by someone else - gone as well.
  return (rc == 0 && info.si_pid != 0) || (rc != 0 && errno == ECHILD);
}

bool ChildRef::await_exit(std::optional<Deadline> deadline) const noexcept {
  auto backoff = std::chrono::microseconds(100);
  for (;;) {
    if (has_exited()) return true;
    if (deadline && Clock::now() >= *deadline) return false;
    if (pidfd_ >= 0) {
      pollfd pfd{pidfd_, POLLIN, 0};
      const int rc = sys::poll(&pfd, 1, poll_timeout_ms(deadline));
      if (rc < 0 && errno != EINTR) {
        // Cannot poll (an injected fault): fall back to the backoff below.
        std::this_thread::sleep_for(backoff);
      }
      continue;
    }
    // No pidfd (pre-5.3 kernels, or pidfd_open refused): bounded backoff.
    Clock::duration nap = backoff;
    if (deadline) nap = std::min<Clock::duration>(nap, *deadline - Clock::now());
    if (nap > Clock::duration::zero()) std::this_thread::sleep_for(nap);
    backoff = std::min(backoff * 2, std::chrono::microseconds(10000));
  }
}

int ChildRef::reap_within(std::optional<Deadline> deadline, Clock::duration held_patience,
                          ReapWait* out, struct rusage* usage) noexcept {
  constexpr auto kLongestNap = std::chrono::milliseconds(50);
  Clock::duration nap = std::chrono::milliseconds(1);
  std::optional<Deadline> give_up_held;
  for (;;) {
    if (try_reap(&out->result, &out->status, usage) != 0) return -1;
    out->held = false;
    if (out->result != ReapResult::running) return 0;
    const bool exited = has_exited();
    const Deadline now = Clock::now();
    out->held = exited;
    if (deadline && now >= *deadline) return 0;
    if (!exited) {
      (void)await_exit(deadline);  // sleeps on the pidfd (or a bounded backoff without one)
      continue;
    }
    // Exited, not reapable: the pidfd stays readable, so polling it would
    // return at once. Sleep instead, and look again.
    if (!give_up_held) give_up_held = saturating_deadline(now, held_patience);
    if (now >= *give_up_held) return 0;
    Clock::duration sleep = std::min(nap, *give_up_held - now);
    if (deadline) sleep = std::min(sleep, *deadline - now);
    std::this_thread::sleep_for(sleep);
    nap = std::min<Clock::duration>(nap * 2, kLongestNap);
  }
}

}  // namespace safeexec::detail
