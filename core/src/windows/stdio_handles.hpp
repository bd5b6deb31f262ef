// stdio_handles.hpp - the handle plan of one Windows spawn: what the child
// gets as its standard handles, and the parent's pipe ends (stdio_handles.cpp).
#pragma once

#include <windows.h>

#include <array>
#include <string>

#include "safeexec/process.hpp"
#include "win_util.hpp"

namespace safeexec::detail::win {

struct StdioHandles {
  /// Handles made for the child (pipe ends, NUL, files, duplicates of the
  /// parent's or the caller's handles): none inheritable, all owned.
  std::array<UniqueHandle, 3> owned;
  /// The parent's overlapped pipe ends, where piped.
  std::array<UniqueHandle, 3> parent;
  /// What the child's stdin/stdout/stderr is: owned[i], stdout's for a
  /// merged stderr, or nullptr (no such stream).
  std::array<HANDLE, 3> child{nullptr, nullptr, nullptr};
};

/// Builds the plan for `o`'s routes: the shared checks (stdio_plan.hpp) as
/// InvalidArgument, a borrowed handle that is not open as InvalidArgument,
/// a file that cannot be opened as SpawnError (stage redirect). On a throw
/// every handle made so far is closed and no file has been truncated.
StdioHandles open_stdio(const SpawnOptions& o, const std::string& program);

}  // namespace safeexec::detail::win
