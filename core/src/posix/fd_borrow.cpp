// fd_borrow.cpp - the borrowed descriptor table (fd_borrow.hpp).
#include "fd_borrow.hpp"

#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>

#include "child_containment.hpp"
#include "clone_child.hpp"
#include "sys.hpp"

namespace safeexec::detail {
namespace {

// What this process knows about borrowing: not looked yet, yes, or no for
// good (the kernel lacks a call or flag, or a filter or policy refused it).
enum class Borrowing : int { unknown, works, refused };
std::atomic<Borrowing> g_borrowing{Borrowing::unknown};
std::atomic<unsigned> g_refusals{0};
std::atomic<unsigned> g_borrowed{0};
std::atomic<bool> g_forbidden{false};

bool kept_for_good(int error) noexcept {
  return error == ENOSYS || error == EINVAL || error == EPERM || error == EACCES;
}

/// The parent's probe, on its own thread: pidfd_open(PIDFD_THREAD) and
/// pidfd_getfd of that very pidfd (a thread may always take its own group's
/// descriptors, so this tests the calls, not the ptrace policy). A refusal
/// for good is kept; EMFILE, ENFILE or ENOMEM say "not now", and the next
/// spawn looks again.
Borrowing probe() noexcept {
  const Borrowing known = g_borrowing.load(std::memory_order_acquire);
  if (known != Borrowing::unknown) return known;
  const long self = ::syscall(SYS_pidfd_open, ::gettid(), PIDFD_THREAD);
  int error = self < 0 ? errno : 0;
  if (self >= 0) {
    const long copy = ::syscall(SYS_pidfd_getfd, self, self, 0U);
    if (copy < 0) error = errno;
    if (copy >= 0) (void)::close(static_cast<int>(copy));
    (void)::close(static_cast<int>(self));
  }
  if (error == 0) {
    g_borrowing.store(Borrowing::works, std::memory_order_release);
    return Borrowing::works;
  }
  if (kept_for_good(error)) {
    g_borrowing.store(Borrowing::refused, std::memory_order_release);
    return Borrowing::refused;
  }
  return Borrowing::unknown;  // not now
}

/// pidfd_getfd asks PTRACE_MODE_ATTACH_REALCREDS of the child towards the
/// caller: the child's real ids (the caller's) must equal the caller's real,
/// effective and saved ones, and the caller must be dumpable. Where either
/// fails the child would be refused, so such a caller copies at once.
bool caller_can_be_borrowed_from() noexcept {
  uid_t ru = 0, eu = 0, su = 0;
  gid_t rg = 0, eg = 0, sg = 0;
  if (::getresuid(&ru, &eu, &su) != 0 || ::getresgid(&rg, &eg, &sg) != 0) return false;
  if (ru != eu || ru != su || rg != eg || rg != sg) return false;
  return ::prctl(PR_GET_DUMPABLE) == 1;  // NOLINT(cppcoreguidelines-pro-type-vararg)
}

}  // namespace

bool BorrowPlan::prepare(ChildPlan& plan, int cgroup_dir_fd) {
  // The TSan build's child is a real fork (no shared memory for the plan);
  // a cgroup placement keeps the paths that know it.
  if (kChildReportsThroughPipe || cgroup_dir_fd >= 0) return false;
  if (plan.containment != nullptr && plan.containment->cgroup_procs_fd >= 0) return false;
  if (g_forbidden.load(std::memory_order_relaxed)) return false;
  if (probe() != Borrowing::works || !caller_can_be_borrowed_from()) return false;
  fds_.assign(plan.keep_fds, plan.keep_fds + plan.keep_count);
  std::sort(fds_.begin(), fds_.end());
  fds_.erase(std::unique(fds_.begin(), fds_.end()), fds_.end());
  borrow_.caller_tid = ::gettid();
  borrow_.pidfd_floor = fds_.empty() ? 3 : fds_.back() + 1;
  borrow_.fds = fds_.data();
  borrow_.count = fds_.size();
  plan.borrow = &borrow_;
  return true;
}

void note_borrow_refused(int error) noexcept {
  g_refusals.fetch_add(1, std::memory_order_relaxed);
  if (kept_for_good(error)) g_borrowing.store(Borrowing::refused, std::memory_order_release);
}

void note_borrowed() noexcept {
  g_borrowed.fetch_add(1, std::memory_order_relaxed);
}

}  // namespace safeexec::detail

#if defined(SAFEEXEC_FAULT_INJECTION)
namespace safeexec::testing {

unsigned borrowed_spawns() noexcept {
  return ::safeexec::detail::g_borrowed.load();
}
unsigned borrow_refusals() noexcept {
  return ::safeexec::detail::g_refusals.load();
}
void forbid_fd_borrow(bool forbidden) noexcept {
  ::safeexec::detail::g_forbidden.store(forbidden);
}
void reset_fd_borrow() noexcept {
  ::safeexec::detail::g_borrowing.store(::safeexec::detail::Borrowing::unknown);
  ::safeexec::detail::g_forbidden.store(false);
}

}  // namespace safeexec::testing
#endif
