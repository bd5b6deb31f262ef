// process_state_common.hpp - what every backend's ProcessState holds (each
// backend's process_state.hpp adds how it reaches the child).
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

#include "safeexec/exit_status.hpp"

#include "cancel_state.hpp"
#include "safeexec/process.hpp"
#include "stream_carry.hpp"

namespace safeexec::detail {

/// The I/O pump's progress, kept on the handle so that a communicate() that
/// timed out can be continued, as CPython keeps _input_offset on Popen.
struct PumpState {
  bool started = false;  ///< a communicate() has run and not finished
  std::string input;     ///< the input of that call (kept only after a timeout)
  std::size_t input_offset = 0;
  Output collected;        ///< output read by earlier calls
  StreamCarry out_stream;  ///< streaming state of stdout (stream_delivery.hpp)
  StreamCarry err_stream;
  SourceCarry source;  ///< stdin source bytes not written yet
};

/// The handle's platform-neutral part.
struct ProcessStateCommon {
  // The parent's pipe ends: descriptors on POSIX, HANDLE values in an int
  // on Windows (win_util.hpp). -1 when not piped or closed.
  int stdin_fd = -1;
  int stdout_fd = -1;
  int stderr_fd = -1;
  bool own_group = false;  ///< the child leads its own process group (its own job on Windows)
  ExitStatus status;
  /// Why the child, which has exited, could not be reaped when a bounded
  /// wait gave up ("exited, not yet reapable: traced by pid N"), or "".
  std::string unreapable;
  std::chrono::milliseconds destroy_wait{2000};
  PumpState pump;
  /// Fires the pump's cancellation: the handle's own (Process::cancel()),
  /// a caller's CancelToken's (execute()), or none (execute() without one).
  std::shared_ptr<CancelState> cancel = std::make_shared<CancelState>();
};

}  // namespace safeexec::detail
