// process_state.hpp - what a Windows Process handle holds (behind its
// pointer, so the public header names no platform type).
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "process_state_common.hpp"
#include "safeexec/exit_status.hpp"
#include "safeexec/process.hpp"

namespace safeexec::detail {

namespace win {
struct PipeOps;
}

struct ProcessState : ProcessStateCommon {
  void* process = nullptr;  ///< the process HANDLE
  void* job = nullptr;      ///< the job object HANDLE (KILL_ON_JOB_CLOSE)
  bool killed = false;      ///< the status comes from our own termination
  /// What the child used, read when its exit was first seen (job_usage.cpp).
  std::optional<ResourceUsage> usage;
  pid_t pid = -1;
  /// The overlapped reads and writes on the pipes (pipe_ops.hpp): kept
  /// between step() calls, cancelled before a pipe end is closed.
  std::unique_ptr<win::PipeOps> pipe_ops;

  ProcessState();  // out of line, as the destructor: PipeOps is complete there
  ProcessState(const ProcessState&) = delete;
  ProcessState& operator=(const ProcessState&) = delete;
  ~ProcessState();

  void close_stdin() noexcept;
  void close_pipes() noexcept;
};

}  // namespace safeexec::detail
