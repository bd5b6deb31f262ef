// clone_child.hpp - starting the vfork-style child that runs child_main().
#pragma once

#include <sys/types.h>

#include "child.hpp"
#include "safeexec/errors.hpp"

#if defined(__SANITIZE_THREAD__)
#define SAFEEXEC_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define SAFEEXEC_TSAN 1
#endif
#endif

namespace safeexec::detail {

#if defined(SAFEEXEC_TSAN)
/// The TSan build's child is a real fork sharing no memory: it reports
/// through a pipe (child.hpp, ChildPlan::report_fd).
constexpr bool kChildReportsThroughPipe = true;
#else
constexpr bool kChildReportsThroughPipe = false;
#endif

/// Starts child_main(&plan) and returns once it exec'd or exited (the
/// caller's thread is suspended meanwhile). `*pidfd` gets a pidfd from the
/// same call where the kernel gives one (else -1). With `cgroup_dir_fd` >= 0
/// the child is born in that cgroup (clone3 CLONE_INTO_CGROUP) or, where
/// clone3 cannot do it, plan.containment->join_cgroup is set so that the
/// child joins it before execve. -1 with errno on failure, `*stage` saying
/// which step failed (clone, or cgroup when the kernel refused the placement).
pid_t clone_child(ChildPlan& plan, bool want_pidfd, int cgroup_dir_fd, int* pidfd,
                  SpawnStage* stage);

/// The spawn server's clone (spawn_server_main.cpp): clone3 with CLONE_VM |
/// CLONE_VFORK | CLONE_PARENT | CLONE_PIDFD | CLONE_PARENT_SETTID, so the
/// child is a child of the server's parent (the library's caller), `*pidfd`
/// is its pidfd, and the kernel writes its pid to `*pid_slot` (memory the
/// caller shares) before the child first runs: a server that dies after
/// this point still leaves the caller the pid of its child. x86-64 only
/// (elsewhere -1, ENOSYS, and the caller spawns directly).
pid_t clone_child_for_parent(ChildPlan& plan, int* pidfd, pid_t* pid_slot);

}  // namespace safeexec::detail
