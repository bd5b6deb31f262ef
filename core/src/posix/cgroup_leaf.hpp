// cgroup_leaf.hpp - one cgroup v2 leaf made for one command (issue 19).
//
// Made by the parent before the child exists (limits written then, so the
// child never runs unlimited), handed to the Process handle, and removed by
// the handle's destructor once it is empty. Only cgroup v2 is used: a parent
// that is not on a cgroup2 file system (statfs) is refused, so no v1
// hierarchy is ever written to.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>

#include "safeexec/containment.hpp"
#include "safeexec/process.hpp"

namespace safeexec::detail {

class CgroupLeaf {
 public:
  /// Makes the leaf under options.parent() (or the caller's own v2 cgroup)
  /// and writes its limits. Throws ContainmentError (a controller is not
  /// enabled, no cgroup2 mount, the parent is not a v2 cgroup) or
  /// SpawnError(SpawnStage::cgroup) (mkdir or a limit write failed); nothing
  /// is left behind then.
  static std::unique_ptr<CgroupLeaf> create(const CgroupOptions& options,
                                            const std::string& program);
  CgroupLeaf(const CgroupLeaf&) = delete;
  CgroupLeaf& operator=(const CgroupLeaf&) = delete;
  /// Kills what is left, waits (remove_wait) for the leaf to empty, removes
  /// it; logs once when it cannot.
  ~CgroupLeaf();

  const std::string& path() const noexcept { return path_; }
  /// The leaf's directory (for clone3's CLONE_INTO_CGROUP), close-on-exec.
  int dir_fd() const noexcept { return dir_fd_; }
  /// Its cgroup.procs, open for writing, close-on-exec: the child writes
  /// itself there where clone3 cannot place it.
  int procs_fd() const noexcept { return procs_fd_; }

  /// Sends `sig` to every process in the leaf. SIGKILL goes through
  /// cgroup.kill; where that file is missing or refused (before 5.14), and
  /// for every other signal, the leaf is frozen, each member listed in
  /// cgroup.procs is signalled, and the leaf is thawed: a frozen process can
  /// neither fork nor exit, so the list is complete and no pid in it can be
  /// recycled before it is signalled. 0, or -1 with errno.
  int signal_all(int sig) noexcept;
  /// True while any process (running, not reaped zombies) is in the leaf.
  bool populated() const noexcept;
  /// Waits until the leaf is empty or `deadline` passes.
  bool wait_empty(Deadline deadline) const noexcept;
  /// cpu.stat, memory.peak, memory.events as far as they exist.
  CgroupUsage usage() const;

 private:
  CgroupLeaf() = default;
  int freeze_and_signal(int sig) noexcept;

  std::string path_;
  int dir_fd_ = -1;
  int procs_fd_ = -1;
  std::chrono::milliseconds remove_wait_{2000};
};

/// The cgroup2 mount point from /proc/self/mountinfo; empty when there is none.
std::string cgroup2_mount();
/// The caller's own v2 cgroup as a directory ("<mount><path>"); empty when
/// unknown.
std::string own_cgroup2_dir();

}  // namespace safeexec::detail
