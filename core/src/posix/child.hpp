// child.hpp - the plan a vfork-style child follows, and how it reports failure.
//
// Everything the child needs is built by the parent before clone(), in memory
// the child only reads. The child then makes system calls and nothing else.
#pragma once

#include <cstddef>
#include <type_traits>

namespace safeexec::detail {

struct ChildPlan {
  const char* const* exec_paths;  ///< candidate paths for execve, NULL-terminated
  char* const* argv;              ///< NULL-terminated
  char* const* envp;              ///< NULL-terminated
  const char* cwd;                ///< nullptr: stay in the parent's directory
  int stdio_src[3];               ///< fd to put on 0/1/2 (always >= 3), or -1 to inherit
  const int* keep_fds;            ///< descriptors (>= 3) passed on purpose
  std::size_t keep_count;
  int report_fd;  ///< write end of the CLOEXEC error pipe
  bool new_process_group;
};
// The child runs on a borrowed stack and ends in execve or _exit: nothing it
// touches may need a destructor.
static_assert(std::is_trivially_destructible_v<ChildPlan>);

/// What a failed child writes to report_fd before it _exits.
struct ChildReport {
  int stage;  ///< a safeexec::SpawnStage value
  int error;  ///< errno of the failing call
};
static_assert(std::is_trivially_copyable_v<ChildReport>);

/// The clone() entry point; `arg` is a ChildPlan*. Never returns.
int child_main(void* arg);

}  // namespace safeexec::detail
