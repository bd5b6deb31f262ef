// spawn_launch.cpp - direct clone or the spawn server (spawn_launch.hpp).
#include "spawn_launch.hpp"

#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <mutex>

#include "child_containment.hpp"
#include "clone_child.hpp"
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

bool use_server(const ChildPlan& plan, const SpawnOptions& options, int cgroup_dir_fd) noexcept {
  if (kChildReportsThroughPipe) return false;  // TSan: the child is a real fork
  SpawnStrategy s = options.spawn_strategy();
  if (s == SpawnStrategy::process_default) s = spawn_strategy();
  if (s == SpawnStrategy::direct) return false;
  // The server's child is born in the server's cgroup, and a parent-death
  // signal would follow the thread that started the server: both direct.
  if (cgroup_dir_fd >= 0) return false;
  if (plan.containment != nullptr && plan.containment->pdeath_signal != 0) return false;
  return s == SpawnStrategy::server || caller_is_large();
}

Launched launch_child_here_or_through_server(ChildPlan& plan, const SpawnOptions& options,
                                             const KernelFeatures& features, int cgroup_dir_fd) {
  Launched out;
  if (use_server(plan, options, cgroup_dir_fd)) {
    const ServerSpawn s = spawn_through_server(plan);
    if (s.sent) {
      out.pid = s.pid;
      out.pidfd = s.pidfd;
      if (!features.pidfd_open && out.pidfd >= 0) {
        // As the direct path on a kernel (or filter) without pidfds: by pid.
        (void)::close(out.pidfd);
        out.pidfd = -1;
      }
      out.error = s.clone_error;
      out.stage = s.clone_stage;
      plan.report = s.report;
      return out;
    }
  }
  const AllSignalsBlocked blocked;
  out.pid = clone_child(plan, features.pidfd_open, cgroup_dir_fd, &out.pidfd, &out.stage);
  out.error = errno;
  return out;
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
