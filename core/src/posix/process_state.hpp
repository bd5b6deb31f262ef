// process_state.hpp - what a POSIX Process handle holds (behind its pointer,
// so the public header names no platform type).
#pragma once

#include <chrono>
#include <string>

#include "child_ref.hpp"
#include "process_state_common.hpp"
#include "safeexec/exit_status.hpp"
#include "safeexec/process.hpp"

namespace safeexec::detail {

struct ProcessState : ProcessStateCommon {
  ChildRef child;
  pid_t lost_pid = -1;  ///< the child's pid, once its status was lost (status().lost_status())

  ProcessState() = default;
  ProcessState(const ProcessState&) = delete;
  ProcessState& operator=(const ProcessState&) = delete;
  ~ProcessState();

  void close_stdin() noexcept;
  void close_pipes() noexcept;
};

}  // namespace safeexec::detail
