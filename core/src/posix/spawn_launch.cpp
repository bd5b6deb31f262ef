// spawn_launch.cpp - direct clone or the spawn server (spawn_launch.hpp).
#include "spawn_launch.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <mutex>

#include "child_containment.hpp"
#include "clone_child.hpp"
#include "fd_borrow.hpp"
#include "fd_probe.hpp"
#include "signal_block.hpp"
#include "spawn_server_client.hpp"
#include "stdio_fds.hpp"
#include "unique_fd.hpp"

namespace safeexec::detail {
namespace {

/// automatic: whether the caller's highest open descriptor is at
/// kAutomaticServerFd or above (fd_probe.hpp), looked at most every 10 ms.
/// It only steers the speed: a stale answer spawns correctly, on the slower
/// path; without /proc the answer is no (the server needs /proc anyway).
bool caller_is_large() noexcept {
  using Clock = std::chrono::steady_clock;
  static std::mutex mu;
  static Clock::time_point next{};
  static bool large = false;
  const std::lock_guard<std::mutex> lock(mu);
  const Clock::time_point now = Clock::now();
  if (now >= next) {
    large = descriptor_at_or_above(kAutomaticServerFd) == 1;
    next = now + std::chrono::milliseconds(10);
  }
  return large;
}

SpawnStrategy strategy_of(const SpawnOptions& options) noexcept {
  const SpawnStrategy s = options.spawn_strategy();
  return s == SpawnStrategy::process_default ? spawn_strategy() : s;
}

bool server_may_serve(const ChildPlan& plan, int cgroup_dir_fd) noexcept {
  if (kChildReportsThroughPipe) return false;  // TSan: the child is a real fork
  // The server's child is born in the server's cgroup, and a parent-death
  // signal would follow the thread that started the server: both direct.
  if (cgroup_dir_fd >= 0) return false;
  return plan.containment == nullptr || plan.containment->pdeath_signal == 0;
}

/// A direct clone; `borrow` non-null: a borrowed table (fd_borrow.hpp). A
/// child that reports its borrow refused has exited having done nothing
/// else: it is reaped, the refusal noted, and the spawn made again by
/// copying the table.
Launched clone_here(ChildPlan& plan, const KernelFeatures& features, int cgroup_dir_fd,
                    const FdBorrow* borrow) {
  Launched out;
  const AllSignalsBlocked blocked;
  plan.borrow = borrow;
  out.pid = clone_child(plan, features.pidfd_open, cgroup_dir_fd, &out.pidfd, &out.stage);
  out.error = errno;
  plan.borrow = nullptr;
  if (borrow == nullptr || out.pid < 0) return out;
  if (plan.report.reported != kReportBorrowRefused) {
    note_borrowed();
    return out;
  }
  const int refused = plan.report.error;
  siginfo_t info{};
  while (::waitid(P_PID, static_cast<id_t>(out.pid), &info, WEXITED) != 0 && errno == EINTR) {
  }
  if (out.pidfd >= 0) (void)::close(out.pidfd);
  note_borrow_refused(refused);
  plan.report = ChildReport{0, 0, 0};
  out = Launched{};
  out.pid = clone_child(plan, features.pidfd_open, cgroup_dir_fd, &out.pidfd, &out.stage);
  out.error = errno;
  return out;
}

Launched launch_child_here_or_through_server(ChildPlan& plan, const SpawnOptions& options,
                                             const KernelFeatures& features, int cgroup_dir_fd) {
  // A large caller borrows where it can (any strategy but `server`): no
  // copy, no hop. `automatic` sends it to the server only where it cannot.
  const SpawnStrategy s = strategy_of(options);
  BorrowPlan borrow;
  const bool large = s != SpawnStrategy::server && caller_is_large();
  const bool borrowing = large && borrow.prepare(plan, cgroup_dir_fd);
  const bool to_server =
      (s == SpawnStrategy::server || (s == SpawnStrategy::automatic && large && !borrowing)) &&
      server_may_serve(plan, cgroup_dir_fd);
  if (to_server) {
    Launched out;
    const ServerSpawn sp = spawn_through_server(plan);
    if (sp.sent) {
      out.pid = sp.pid;
      out.pidfd = sp.pidfd;
      if (!features.pidfd_open && out.pidfd >= 0) {
        // As the direct path on a kernel (or filter) without pidfds: by pid.
        (void)::close(out.pidfd);
        out.pidfd = -1;
      }
      out.error = sp.clone_error;
      out.stage = sp.clone_stage;
      plan.report = sp.report;
      return out;
    }
  }
  return clone_here(plan, features, cgroup_dir_fd, borrowing ? borrow.get() : nullptr);
}

/// The child's pidfd moved above 2 (the kernel gives the lowest free number,
/// which is 0-2 in a host running with those closed): a descriptor the
/// handle keeps for the child's life must not take the host's stdin.
void pidfd_above_stdio(Launched& out) noexcept {
  if (out.pidfd < 0 || out.pidfd > 2) return;
  const int saved = errno;
  out.pidfd = above_stdio(UniqueFd(out.pidfd)).release();  // -1 if it failed: handled by pid
  errno = saved;
}

}  // namespace

Launched launch_child(ChildPlan& plan, const SpawnOptions& options, const KernelFeatures& features,
                      int cgroup_dir_fd) {
  Launched out = launch_child_here_or_through_server(plan, options, features, cgroup_dir_fd);
  pidfd_above_stdio(out);
  return out;
}

}  // namespace safeexec::detail
