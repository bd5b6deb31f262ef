// safeexec/testing/fault_injection.hpp - TEST ONLY: make a system call fail.
//
// Only the `safeexec::testing` library (built from the same sources with
// SAFEEXEC_FAULT_INJECTION=1) implements these; the installed `safeexec`
// library has no seam at all: each wrapper is an inline direct system call.
// The seam is process-wide and meant for single-threaded tests.
#pragma once

namespace safeexec::testing {

/// The system calls the seam can fail.
enum class Call {
  pipe2,
  clone,
  pidfd_open,
  poll,
  read,
  write,
  waitid,
  close_range,
  open,
  signal,         ///< pidfd_send_signal and kill() on a child or its group
  thread_create,  ///< starting a worker thread of the pool
  environ_read,   ///< a read of environ (counted only: a fault there is ignored)
  cgroup_kill,    ///< the write to a leaf's cgroup.kill (as on a kernel before 5.14)
  clone3,         ///< clone3 with CLONE_INTO_CGROUP (as on a kernel before 5.7)
  cgroup_freeze,  ///< the write of "1" to a leaf's cgroup.freeze (counts freeze-path kills)
  cgroup_join,    ///< the child's write of itself to cgroup.procs (counts that placement)
  count_          ///< not a call
};

/// Makes call number `nth` (1 = the next one) of `call` fail with `error`,
/// and the `times - 1` calls after it too.
void inject_fault(Call call, unsigned nth, int error, unsigned times = 1);
/// Removes every pending fault and zeroes the counters.
void clear_faults() noexcept;
/// How many times `call` went through the seam since the last clear_faults().
unsigned call_count(Call call) noexcept;
/// How many injected faults have fired since the last clear_faults().
unsigned faults_fired() noexcept;

#ifndef _WIN32
/// Kernel features the library probes once (see core/src/posix/kernel_features.hpp).
/// Linux only: the Windows backend probes nothing.
/// Bits for disable_kernel_features(): a disabled feature reads as absent, as
/// on an older kernel or under a seccomp filter, so the fallback path runs.
enum class KernelFeature : unsigned {
  pidfd_open = 1U << 0,
  pidfd_send_signal = 1U << 1,
  waitid_pidfd = 1U << 2,
  close_range = 1U << 3,
  pidfd_info_exit = 1U << 4,
  all = 0x1fU,
};
/// Disables the features in `mask` (a KernelFeature bit-or); 0 restores all.
void disable_kernel_features(unsigned mask) noexcept;

/// Background reaper threads still running: a child that outlived its
/// handle's bounded destroy (on a loaded machine a SIGKILLed child can take
/// longer than destroy_wait to be reaped) is reaped by one of them, which
/// holds the child's pidfd until then. A leak check waits for zero first.
unsigned background_reapers() noexcept;

/// Points of a spawn where a test may open a window a race needs: the
/// process there sleeps (a raw nanosleep, async-signal-safe in the child).
enum class Pause : unsigned {
  child_before_parent_death_signal,  ///< the child, just before PR_SET_PDEATHSIG
  parent_after_exec,                 ///< the parent, once clone returned (the child exec'd)
  count_                             ///< not a pause
};
/// Every later spawn sleeps `ms` at `where` (0: no pause); clear_faults() resets.
void set_pause(Pause where, unsigned ms) noexcept;
#endif

}  // namespace safeexec::testing
