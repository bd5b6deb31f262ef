// fd_borrow_child.cpp - the child's half of the borrowed descriptor table
// (fd_borrow.hpp): step 0 of child_main, under child.cpp's rules (raw
// system calls only, no memory written but the child's own stack). Linked
// into the spawn server too, whose children never borrow (plan.borrow stays
// null there).
#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstddef>

#include "child_code.hpp"
#include "fd_borrow.hpp"

#ifndef CLOSE_RANGE_UNSHARE
#define CLOSE_RANGE_UNSHARE (1U << 1)
#endif
namespace safeexec::detail {
namespace {

SAFEEXEC_CHILD_CODE bool is_kept(const FdBorrow& b, int fd) {
  for (std::size_t i = 0; i < b.count; ++i) {
    if (b.fds[i] == fd) return true;
  }
  return false;
}

/// One of the caller's descriptors into this table, at the lowest free
/// number (close-on-exec: pidfd_getfd always sets it).
SAFEEXEC_CHILD_CODE long take(long pidfd, int fd) {
  return ::syscall(SYS_pidfd_getfd, pidfd, fd, 0U);
}

}  // namespace

// Runs first in the child (child.cpp, step 0), on the table it shares with
// the suspended caller: nothing here may add to or close in that table
// before the unshare, and nothing after it can reach it any more.
SAFEEXEC_CHILD_CODE bool borrow_descriptors(const FdBorrow& b, int (&stdio)[3]) noexcept {
  // 0a. A private table holding the caller's 0-2 and nothing else: with the
  //     range open to the end, the kernel copies only the entries below 3.
  if (::syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_UNSHARE) != 0) return false;
  // 0b. The spawning thread's pidfd (PIDFD_THREAD): a thread that unshared
  //     its own table holds descriptors its group leader does not. It is
  //     suspended in clone (CLONE_VFORK), so its tid cannot be reused.
  long pidfd = ::syscall(SYS_pidfd_open, b.caller_tid, PIDFD_THREAD);
  if (pidfd < 0) return false;
  if (pidfd < b.pidfd_floor && is_kept(b, static_cast<int>(pidfd))) {
    const long moved = ::syscall(SYS_fcntl, pidfd, F_DUPFD_CLOEXEC, b.pidfd_floor);
    (void)::syscall(SYS_close, pidfd);
    if (moved < 0) return false;
    pidfd = moved;
  }
  // 0c. Keep fds on their own numbers, first: a stdio copy taken later
  //     lands on a free number, never on one a keep fd needs.
  for (std::size_t i = 0; i < b.count; ++i) {
    const long got = take(pidfd, b.fds[i]);
    if (got < 0) return false;
    if (got != b.fds[i]) {
      const long placed = ::syscall(SYS_dup3, got, b.fds[i], O_CLOEXEC);
      (void)::syscall(SYS_close, got);
      if (placed < 0) return false;
    }
  }
  // 0d. Stdio sources above 2 wherever they land (step 3 moves them onto
  //     0-2); one already taken as a keep fd is used where it is. Sources in
  //     0-2 are the copies made in 0a.
  int taken_from[3] = {-1, -1, -1};
  int taken_to[3] = {-1, -1, -1};
  for (int i = 0; i < 3; ++i) {
    const int s = stdio[i];
    if (s < 3 || is_kept(b, s)) continue;
    int to = -1;
    for (int j = 0; j < i; ++j) {
      if (taken_from[j] == s) to = taken_to[j];
    }
    if (to < 0) {
      const long got = take(pidfd, s);
      if (got < 0) return false;
      to = static_cast<int>(got);
    }
    taken_from[i] = s;
    taken_to[i] = to;
    stdio[i] = to;
  }
  (void)::syscall(SYS_close, pidfd);
  return true;
}

}  // namespace safeexec::detail
