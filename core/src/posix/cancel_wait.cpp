// cancel_wait.cpp - cancellation on POSIX: the wake object is an eventfd
// (close-on-exec from birth, non-blocking) that cancel() makes readable for
// good, and the wait for the child's exit that a cancel
// interrupts (a child can close its pipes and go on running, so the pump's
// end is not the end of what a cancel must be able to stop).
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdint>

#include "cancel_state.hpp"
#include "io_util.hpp"
#include "process_access.hpp"
#include "process_state.hpp"
#include "safeexec/errors.hpp"
#include "safeexec/process.hpp"
#include "sys.hpp"

namespace safeexec {
namespace detail {

WakeHandle make_wake() {
  const int fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (fd < 0) throw IoError("cannot create the eventfd a cancellation wakes", errno);
  return fd;
}

void fire_wake(WakeHandle w) noexcept {
  const std::uint64_t one = 1;
  // Only a counter at its maximum refuses (EAGAIN): it is readable then anyway.
  (void)sys::write(static_cast<int>(w), &one, sizeof one);
}

void close_wake(WakeHandle w) noexcept {
  int fd = static_cast<int>(w);
  close_fd(fd);
}

ExitWait ProcessAccess::await_exit_or_cancel(Process& p, std::optional<Deadline> deadline) {
  ProcessState& s = *p.state_;
  if (!s.cancel || !s.child || !s.status.running()) return ExitWait::exited;
  const int wake = static_cast<int>(s.cancel->wake());
  for (;;) {
    if (s.cancel->cancelled()) return ExitWait::cancelled;
    if (s.child.has_exited()) return ExitWait::exited;
    if (deadline && Clock::now() >= *deadline) return ExitWait::deadline;
    std::array<pollfd, 2> fds{{{wake, POLLIN, 0}, {s.child.exit_fd(), POLLIN, 0}}};
    const nfds_t n = s.child.exit_fd() >= 0 ? 2 : 1;
    int timeout_ms = poll_timeout_ms(deadline);
    // Without a pidfd the exit is seen by asking again now and then.
    if (n == 1) timeout_ms = timeout_ms < 0 ? 10 : std::min(timeout_ms, 10);
    if (sys::poll(fds.data(), n, timeout_ms) < 0 && errno != EINTR) {
      throw IoError("poll on the child's exit failed", errno);
    }
  }
}

}  // namespace detail
}  // namespace safeexec
