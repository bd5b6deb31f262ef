// pipe_ops.hpp - the overlapped operations on a Windows child's pipe ends.
// They live on the handle, not on the pump's stack: step() returns with a
// read or a write still in flight (the caller waits on its event), and the
// next step() or communicate() picks it up where it is. Whoever closes a
// pipe end cancels its operation first and waits until the system is done
// with its OVERLAPPED and buffer (ProcessState::close_stdin/close_pipes).
#pragma once

#include <windows.h>

#include <array>
#include <vector>

#include "win_util.hpp"

namespace safeexec::detail {
struct ProcessState;
}

namespace safeexec::detail::win {

/// One overlapped operation on one pipe end.
struct PipeOp {
  int* handle = nullptr;  ///< the Process's int slot; -1 once closed
  OVERLAPPED ov{};
  UniqueHandle event;  ///< manual-reset; reset before each operation starts
  bool pending = false;
  std::vector<char> buf;  ///< reads only: what a finished read holds

  HANDLE h() const { return int_to_handle(*handle); }
  bool is_open() const { return handle != nullptr && *handle != -1; }
  /// Cancels a pending operation and waits until the system is done with
  /// `ov` and `buf`; returns the bytes it moved before the cancel.
  DWORD cancel() noexcept;
  /// cancel(), then the pipe end is closed.
  void close() noexcept;
};

/// stdin (write), stdout and stderr (read) of one handle.
struct PipeOps {
  std::array<PipeOp, 3> ops;
  void cancel_all() noexcept;
};

/// The handle's operations, made on first use (IoError if an event cannot
/// be created).
PipeOps& pipe_ops(ProcessState& s);

}  // namespace safeexec::detail::win
