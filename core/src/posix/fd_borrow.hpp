// fd_borrow.hpp - a direct spawn whose cost does not grow with the caller's
// descriptor table (issue 20, "the borrowed table").
//
// A child made with CLONE_FILES shares the caller's table instead of
// copying it. Its first step gives it a private table holding only 0-2
// (close_range(3, ~0U, CLOSE_RANGE_UNSHARE): the kernel copies the entries
// below 3 and nothing else), then takes each descriptor it needs (stdio
// sources and keep fds, on their own numbers) from the spawning thread with
// pidfd_getfd(2). Neither clone() nor execve() then touches the caller's
// other descriptors: 10 000 open cost what 10 do, with no server hop.
//
// pidfd_getfd is a ptrace-mode access to the caller (same credentials, a
// dumpable caller, and a Yama or LSM policy that lets a child reach its
// parent). Where the kernel lacks it the parent's probe says so once; where a
// policy refuses it the child reports that before it did anything else, and
// the spawn is made again by copying (spawn_launch.cpp), so a refusal costs
// time, never a spawn.
#pragma once

#include <fcntl.h>
#include <sys/syscall.h>
#include <sys/types.h>

#include <cstddef>
#include <vector>

#include "child.hpp"

// Both halves need these; older headers lack them.
#ifndef PIDFD_THREAD
#define PIDFD_THREAD O_EXCL  // Linux 6.9: a pidfd for one thread, not its group
#endif
#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd 438
#endif

namespace safeexec::detail {

/// What the child needs to borrow: read-only for the child (built by the
/// parent before clone, like the rest of the plan).
struct FdBorrow {
  pid_t caller_tid;  ///< the spawning thread: its table is the one shared
  int pidfd_floor;   ///< the child's pidfd sits at or above this (> every source)
  const int* fds;    ///< the caller's descriptors >= 3 the child needs
  std::size_t count;
};

/// ChildReport.reported when the child's borrow step was refused: it did
/// nothing else before it exited, and the spawn is made again by copying.
constexpr int kReportBorrowRefused = 2;

/// The parent's half: whether this spawn borrows (the kernel can, no
/// refusal is remembered, the caller is dumpable with one set of ids, the
/// plan has no descriptor but its stdio sources and keep fds), and the
/// borrow it points plan.borrow at. One per spawn, alive across the clone.
class BorrowPlan {
 public:
  bool prepare(ChildPlan& plan, int cgroup_dir_fd);
  const FdBorrow* get() const noexcept { return &borrow_; }

 private:
  std::vector<int> fds_;
  FdBorrow borrow_{};
};

/// Remembers a refusal the child reported: ENOSYS and EINVAL (no such
/// call or flag), EPERM and EACCES (a seccomp filter or a ptrace policy)
/// are kept for this process; anything else (EMFILE, ENOMEM, EBADF) was
/// about this spawn only, and the next one borrows again.
void note_borrow_refused(int error) noexcept;

/// Counts a spawn that borrowed (for the tests' hooks).
void note_borrowed() noexcept;

/// The child's half (child.cpp, step 0): false with errno set if any step
/// failed. `stdio` is the child's own copy of plan.stdio_src: a source above
/// 2 is rewritten to the number its borrowed copy got. Only raw system
/// calls; writes no memory but its own stack.
bool borrow_descriptors(const FdBorrow& borrow, int (&stdio)[3]) noexcept;

}  // namespace safeexec::detail
