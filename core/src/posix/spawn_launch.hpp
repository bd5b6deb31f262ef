// spawn_launch.hpp - the spawn strategy (issue 20; spawn_strategy.hpp):
// starts the child of a prepared plan directly or through the spawn server.
// create_process() (spawn.cpp) does not know which ran: either way the child
// is the caller's own, and a failure report lands in plan.report.
#pragma once

#include <sys/types.h>

#include "child.hpp"
#include "kernel_features.hpp"
#include "safeexec/errors.hpp"
#include "safeexec/process.hpp"

namespace safeexec::detail {

struct Launched {
  pid_t pid = -1;  ///< -1: nothing was started; `error` and `stage` say why
  int pidfd = -1;  ///< owned by the caller; -1 where there is none
  int error = 0;
  SpawnStage stage = SpawnStage::clone;
};

/// Every signal is blocked around a direct clone (a handler must not run in
/// the CLONE_VM child before it reset dispositions). `cgroup_dir_fd` >= 0
/// and a parent-death signal always spawn directly.
Launched launch_child(ChildPlan& plan, const SpawnOptions& options, const KernelFeatures& features,
                      int cgroup_dir_fd);

}  // namespace safeexec::detail
