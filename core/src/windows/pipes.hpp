// pipes.hpp - the stdio pipes of a Windows child: a named pipe whose
// parent end is overlapped (so one thread can wait on stdin, stdout, stderr,
// the child and a deadline at once) and whose child end is a plain
// synchronous handle, as programs expect of their stdio. Neither end is
// inheritable when made (spawn.cpp flags the child end under its lock).
#pragma once

#include <windows.h>

#include "win_util.hpp"

namespace safeexec::detail::win {

struct PipePair {
  UniqueHandle parent;  ///< overlapped
  UniqueHandle child;
};

/// Makes one pipe: data flows parent -> child when `child_reads` (stdin),
/// else child -> parent. Returns 0 or the Win32 error; on error nothing is open.
DWORD make_pipe(bool child_reads, PipePair& out);

}  // namespace safeexec::detail::win
