// containment_seams.hpp - the calls of the containment paths that tests may
// fail, count or pause (issue 19): which cgroup placement and which kill
// path ran is otherwise invisible from outside, and the races the child
// closes (a parent dying before PR_SET_PDEATHSIG, limits applied after
// execve) need a window wider than a test can hit by chance.
//
// As in sys.hpp: in the installed library each is the bare system call (a
// pause is nothing at all); only the `safeexec_testing` build asks the fault
// table, which is lock-free and so safe in the vfork-style child.
#pragma once

#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "sys.hpp"

#if defined(SAFEEXEC_FAULT_INJECTION) && SAFEEXEC_FAULT_INJECTION
namespace safeexec::testing::detail {
unsigned pause_ms(Pause where) noexcept;
}  // namespace safeexec::testing::detail
#endif

namespace safeexec::sys {

/// The child writes itself ("0") into its leaf's cgroup.procs: the placement
/// where clone3 could not. 0, or -1 with errno. Child code: raw syscall only.
inline int join_cgroup_procs(int procs_fd) noexcept {
  SAFEEXEC_SEAM(cgroup_join);
  return ::syscall(SYS_write, procs_fd, "0", 1) == 1 ? 0 : -1;
}

/// Sleeps where a test asked (testing::set_pause); nothing in the installed
/// library. Async-signal-safe: one raw nanosleep, a signal cutting it short
/// is fine (the window only has to be wide, not exact).
inline void test_pause([[maybe_unused]] safeexec::testing::Pause where) noexcept {
#if defined(SAFEEXEC_FAULT_INJECTION) && SAFEEXEC_FAULT_INJECTION
  const unsigned ms = safeexec::testing::detail::pause_ms(where);
  if (ms == 0) return;
  const timespec ts{static_cast<time_t>(ms / 1000), static_cast<long>(ms % 1000) * 1000000L};
  (void)::syscall(SYS_nanosleep, &ts, nullptr);
#endif
}

}  // namespace safeexec::sys
