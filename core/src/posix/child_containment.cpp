// child_containment.cpp - the child's containment steps (see child.cpp for
// the rules: raw system calls only, nothing allocated, nothing locked).
#include "child_containment.hpp"

#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

#include "child_code.hpp"
#include "containment_seams.hpp"

namespace safeexec::detail {

SAFEEXEC_CHILD_CODE ContainmentFailure apply_containment(const ChildContainment& c) {
  // Into the leaf first, while every privilege is still held: writing "0"
  // moves the writer itself. Only where clone3 did not place us already.
  if (c.join_cgroup && sys::join_cgroup_procs(c.cgroup_procs_fd) != 0) {
    return {SpawnStage::cgroup, errno};
  }
  if (c.setsid && ::syscall(SYS_setsid) < 0) return {SpawnStage::session, errno};
  for (std::size_t i = 0; i < c.rlimit_count; ++i) {
    if (::syscall(SYS_prlimit64, 0, c.rlimits[i].resource, &c.rlimits[i].value, nullptr) != 0) {
      return {SpawnStage::rlimit, errno};
    }
  }
  if (c.umask >= 0) (void)::syscall(SYS_umask, c.umask);  // cannot fail
  if (c.set_credentials) {
    // Groups, then gid, then uid: once the uid is dropped, the process may
    // no longer change its groups or gid, and would keep root's groups.
    // Raw calls change this thread only; the child has no other thread.
    if (::syscall(SYS_setgroups, c.group_count, c.groups) != 0) {
      return {SpawnStage::credentials, errno};
    }
    if (::syscall(SYS_setresgid, c.gid, c.gid, c.gid) != 0) return {SpawnStage::credentials, errno};
    if (::syscall(SYS_setresuid, c.uid, c.uid, c.uid) != 0) return {SpawnStage::credentials, errno};
  }
  if (c.pdeath_signal != 0) {
    sys::test_pause(testing::Pause::child_before_parent_death_signal);
    // After the credential change, which clears the setting (commit_creds).
    if (::syscall(SYS_prctl, PR_SET_PDEATHSIG, c.pdeath_signal, 0, 0, 0) != 0) {
      return {SpawnStage::parent_death, errno};
    }
    // The race: a parent that died before the prctl above sent nothing, and
    // the child was reparented. Then it must not run at all.
    if (::syscall(SYS_getppid) != c.parent_pid) return {SpawnStage::parent_death, ESRCH};
  }
  if (c.no_new_privs && ::syscall(SYS_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
    return {SpawnStage::no_new_privs, errno};
  }
  return {SpawnStage::exec, 0};
}

}  // namespace safeexec::detail
