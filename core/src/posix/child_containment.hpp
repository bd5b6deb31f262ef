// child_containment.hpp - the containment steps of a vfork-style child, and
// the parent's preparation of them (issue 19).
//
// The parent validates the options, makes the cgroup leaf and lays every
// value out in a ChildContainment (plain data, arrays it owns); the child
// only reads it and makes system calls (apply_containment).
#pragma once

#include <sys/resource.h>
#include <sys/types.h>

#include <cstddef>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "safeexec/containment.hpp"
#include "safeexec/errors.hpp"

namespace safeexec::detail {

class CgroupLeaf;

struct ChildRlimit {
  int resource;
  rlimit64 value;
};

/// What the child does, in this order: join the cgroup (only where clone3
/// could not place it), setsid, rlimits, umask, groups -> gid -> uid, the
/// parent-death signal (after the uid change, which clears it), no_new_privs.
struct ChildContainment {
  int cgroup_procs_fd;  ///< the leaf's cgroup.procs, or -1
  bool join_cgroup;     ///< set by clone_child when the child must write itself there
  bool setsid;
  const ChildRlimit* rlimits;
  std::size_t rlimit_count;
  int umask;  ///< -1: leave it
  bool set_credentials;
  const gid_t* groups;
  std::size_t group_count;
  gid_t gid;
  uid_t uid;
  int pdeath_signal;  ///< 0: none
  pid_t parent_pid;   ///< getpid() of the parent, recorded before clone
  bool no_new_privs;
};
static_assert(std::is_trivially_destructible_v<ChildContainment>);

struct ContainmentFailure {
  SpawnStage stage;
  int error;  ///< 0: every step succeeded
};

/// The child's steps. Async-signal-safe: raw system calls only.
ContainmentFailure apply_containment(const ChildContainment& c);

/// The parent's side: validated values, the arrays the plan points into,
/// and the cgroup leaf. Lives until clone returned.
class PreparedContainment {
 public:
  /// Throws InvalidArgument (a value that cannot mean anything),
  /// ContainmentError or SpawnError(cgroup) (the leaf); nothing is left then.
  PreparedContainment(const Containment& c, const std::string& program);
  PreparedContainment(const PreparedContainment&) = delete;
  PreparedContainment& operator=(const PreparedContainment&) = delete;
  ~PreparedContainment();

  /// The child's part, or nullptr when there is nothing to do.
  ChildContainment* child_plan() noexcept { return active_ ? &plan_ : nullptr; }
  /// The leaf's directory for CLONE_INTO_CGROUP, or -1.
  int cgroup_dir_fd() const noexcept;
  /// The leaf, for the Process handle (nullptr without one).
  std::unique_ptr<CgroupLeaf> take_leaf() noexcept;

 private:
  ChildContainment plan_{};
  std::vector<ChildRlimit> rlimits_;
  std::vector<gid_t> groups_;
  std::unique_ptr<CgroupLeaf> leaf_;
  bool active_ = false;
};

}  // namespace safeexec::detail
