// process_state.hpp - what a POSIX Process handle holds (behind its pointer,
// so the public header names no platform type).
#pragma once

#include <sys/resource.h>
#include <chrono>

#include <memory>
#include <string>

#include "cgroup_leaf.hpp"
#include "child_ref.hpp"
#include "process_state_common.hpp"
#include "safeexec/exit_status.hpp"
#include "safeexec/process.hpp"

namespace safeexec::detail {

struct ProcessState : ProcessStateCommon {
  ChildRef child;
  pid_t lost_pid = -1;  ///< the child's pid, once its status was lost (status().lost_status())
  /// The child's cgroup leaf (Containment::cgroup()), or empty. Destroyed
  /// after the child: kills what is left in it and removes it.
  std::unique_ptr<CgroupLeaf> leaf;
  /// What the child used, from the waitid that reaped it; ru_maxrss -1
  /// until then (and for good when someone else reaped it).
  struct rusage reaped_usage = unknown_usage();
  struct rusage* reap_usage() noexcept {
    return &reaped_usage;
  }
  static struct rusage unknown_usage() noexcept {
    struct rusage u {};
    u.ru_maxrss = -1;
    return u;
  }

  ProcessState() = default;
  ProcessState(const ProcessState&) = delete;
  ProcessState& operator=(const ProcessState&) = delete;
  ~ProcessState();

  void close_stdin() noexcept;
  void close_pipes() noexcept;
};

}  // namespace safeexec::detail
