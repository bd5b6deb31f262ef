// caller_inherited.hpp - what a child inherits from the thread that creates
// it and a spawn request does not carry (spawn_server_client.cpp).
//
// A CLONE_PARENT child of the spawn server takes these from the server, not
// from the caller: the server has the values of the thread that started it,
// as they were then. Each request compares them with the calling thread's
// now, so a child through the server starts where a direct child would.
#pragma once

#include <sched.h>
#include <sys/types.h>

#include <array>
#include <cstdint>
#include <string>

namespace safeexec::detail {

/// Where the child is born: changed for a whole process in practice
/// (chroot, setns / unshare, a move to another cgroup), so a difference
/// restarts the server, from the calling thread.
struct InheritedPlace {
  dev_t root_dev = 0;  ///< the root directory (chroot, pivot_root)
  ino_t root_ino = 0;
  /// cgroup, ipc, mnt, net, pid_for_children, time_for_children, user, uts
  /// (the inode of /proc/thread-self/ns/<name>; 0 where the kernel has none).
  std::array<ino_t, 8> namespaces{};
  std::string cgroup;         ///< /proc/thread-self/cgroup
  std::string oom_score_adj;  ///< /proc/self/oom_score_adj
  int personality = 0;        ///< personality(0xffffffff)
  /// prctl: PR_GET_SECUREBITS (credentials the status lines do not show),
  /// PR_GET_THP_DISABLE, PR_GET_MDWE (memory-deny-write-execute, 6.3+);
  /// -1 where the kernel has none, the same every time.
  std::array<int, 3> prctls{};

  bool operator==(const InheritedPlace& o) const noexcept {
    return root_dev == o.root_dev && root_ino == o.root_ino && namespaces == o.namespaces &&
           cgroup == o.cgroup && oom_score_adj == o.oom_score_adj && personality == o.personality &&
           prctls == o.prctls;
  }
};

/// struct sched_attr (SCHED_ATTR_SIZE_VER1): policy, nice, real-time
/// priority, deadline parameters and utilisation clamps; glibc 2.36 has no
/// wrapper for sched_getattr.
struct SchedAttr {
  std::uint32_t size;
  std::uint32_t policy;
  std::uint64_t flags;
  std::int32_t nice;
  std::uint32_t priority;
  std::uint64_t runtime;
  std::uint64_t deadline;
  std::uint64_t period;
  std::uint32_t util_min;
  std::uint32_t util_max;
};

/// A thread's own scheduling state: threads of one process commonly differ
/// (a pinned or low-priority worker), so a thread that differs from the
/// server spawns directly instead (restarting the server for it would make
/// two such threads take turns restarting it).
struct InheritedThread {
  cpu_set_t affinity{};
  int affinity_rc = 0;  ///< sched_getaffinity's result: -1 where it is refused
  SchedAttr sched{};
  int sched_rc = 0;
  long timerslack = 0;  ///< prctl(PR_GET_TIMERSLACK)
  int ioprio = 0;       ///< ioprio_get(IOPRIO_WHO_PROCESS, 0): this thread's

  bool operator==(const InheritedThread& o) const noexcept;
};

/// False where /proc/thread-self cannot be read (then nothing is sent to a
/// server: the caller spawns directly).
bool read_inherited_place(InheritedPlace& out) noexcept;
void read_inherited_thread(InheritedThread& out) noexcept;

}  // namespace safeexec::detail
