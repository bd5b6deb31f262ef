// io_util.hpp - small pieces the handle and the I/O pump share.
#pragma once

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <optional>

#include "safeexec/process.hpp"

namespace safeexec::detail {

inline void close_fd(int& fd) noexcept {
  if (fd >= 0) (void)::close(fd);
  fd = -1;
}

/// Milliseconds until `deadline` for poll(), rounded up so that we never
/// wake a little early and spin; -1 (forever) without a deadline.
inline int poll_timeout_ms(std::optional<Deadline> deadline) {
  if (!deadline) return -1;
  const auto left = *deadline - Clock::now();
  if (left <= Clock::duration::zero()) return 0;
  const auto ms = std::chrono::ceil<std::chrono::milliseconds>(left).count();
  return static_cast<int>(std::min<long long>(ms, 1 << 30));
}

/// SIGPIPE for a write to a pipe is sent to the writing thread. Block it on
/// this thread while we write, and on EPIPE take back the SIGPIPE we caused
/// (unless one was already pending), so the host never dies of it and no
/// process-wide disposition is changed (a library must not SIG_IGN for you).
class SigpipeGuard {
 public:
  SigpipeGuard() noexcept {
    sigset_t pipe_only{};
    sigemptyset(&pipe_only);
    sigaddset(&pipe_only, SIGPIPE);
    sigset_t pending{};
    sigpending(&pending);
    was_pending_ = sigismember(&pending, SIGPIPE) == 1;
    (void)pthread_sigmask(SIG_BLOCK, &pipe_only, &old_);  // cannot fail: valid how and set
  }
  SigpipeGuard(const SigpipeGuard&) = delete;
  SigpipeGuard& operator=(const SigpipeGuard&) = delete;
  void saw_epipe() noexcept { saw_epipe_ = true; }
  ~SigpipeGuard() {
    if (saw_epipe_ && !was_pending_) {
      sigset_t pipe_only{};
      sigemptyset(&pipe_only);
      sigaddset(&pipe_only, SIGPIPE);
      const timespec zero{0, 0};
      while (sigtimedwait(&pipe_only, nullptr, &zero) < 0 && errno == EINTR) {
      }
    }
    (void)pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }

 private:
  sigset_t old_{};
  bool was_pending_ = false;
  bool saw_epipe_ = false;
};

}  // namespace safeexec::detail
