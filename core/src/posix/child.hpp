// child.hpp - the plan a vfork-style child follows, and how it reports failure.
//
// Everything the child needs is built by the parent before clone(), in memory
// the child only reads - except `report`, the one field the child writes. The
// child then makes system calls and nothing else.
#pragma once

#include <cstddef>
#include <type_traits>

namespace safeexec::detail {

struct ChildContainment;  // child_containment.hpp
struct FdBorrow;          // fd_borrow.hpp

/// What a failed child leaves for the parent before it _exits. The child
/// shares the suspended parent's memory (CLONE_VM|CLONE_VFORK), so it writes
/// the report straight into the plan, as glibc's spawni (args->err) and folly
/// (childError) do: no pipe, so no descriptor a concurrent fork() elsewhere
/// in the host could inherit and keep open - the parent used to read such a
/// pipe until EOF, and waited as long as an unrelated forked copy lived.
struct ChildReport {
  /// 1 once the child failed; 0: it exec'd (or was killed first);
  /// kReportBorrowRefused (fd_borrow.hpp): its borrow step was refused.
  int reported;
  int stage;  ///< a safeexec::SpawnStage value
  int error;  ///< errno of the failing call
};
static_assert(std::is_trivially_copyable_v<ChildReport>);

/// One execve candidate: the path, and whether it came from an empty or
/// relative PATH entry (and so would be found relative to the child's cwd).
struct ExecCandidate {
  const char* path;
  bool relative_to_cwd;
};

struct ChildPlan {
  const ExecCandidate* exec_paths;  ///< candidates for execve, in order
  std::size_t exec_count;
  char* const* argv;  ///< NULL-terminated
  char* const* envp;  ///< NULL-terminated
  const char* cwd;    ///< nullptr: stay in the parent's directory
  /// fd to put on 0/1/2 (any number: the child sorts out overlaps), or -1 to inherit.
  int stdio_src[3];
  const int* keep_fds;  ///< descriptors (>= 3) passed on purpose
  std::size_t keep_count;
  /// Write end of a CLOEXEC error pipe, or -1. Only the ThreadSanitizer build
  /// (whose child is a real fork, sharing no memory) reports through a pipe.
  int report_fd;
  bool new_process_group;
  /// false (the default): signals the parent ignores stay ignored, as
  /// posix_spawn and CPython do; true: every signal goes back to SIG_DFL.
  bool reset_ignored_signals;
  /// close_range(CLOSE_RANGE_CLOEXEC) works here (kernel_features(), probed
  /// once in the parent); otherwise the child does not even try it.
  bool use_close_range;
  /// The last fallback marks every descriptor below this close-on-exec
  /// (RLIMIT_NOFILE's soft limit, read by the parent).
  unsigned fd_limit;
  /// cgroup, rlimits, credentials... (child_containment.hpp), or nullptr.
  ChildContainment* containment;
  /// Non-null: the child was made with CLONE_FILES and takes a private table
  /// with only what it needs (fd_borrow.hpp) before anything else.
  const FdBorrow* borrow;
  /// Written by the child on failure, read by the parent after clone returns.
  ChildReport report;
};
// The child runs on its own small stack and ends in execve or _exit: nothing
// it touches may need a destructor.
static_assert(std::is_trivially_destructible_v<ChildPlan>);

/// The clone() entry point; `arg` is a ChildPlan*. Never returns.
int child_main(void* arg);

}  // namespace safeexec::detail
