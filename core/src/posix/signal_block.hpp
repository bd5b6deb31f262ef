// signal_block.hpp - every signal blocked around a CLONE_VM clone.
#pragma once

#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdint>

namespace safeexec::detail {

/// Blocks every signal of this thread, 1 to 64 - libc's own 32 and 33 too,
/// which sigfillset() + pthread_sigmask() silently leave open (glibc's
/// __libc_signal_block_all does the same raw call). A handler running in the
/// CLONE_VM child before it reset dispositions would run on our memory.
/// Restores the previous mask on destruction.
class AllSignalsBlocked {
 public:
  AllSignalsBlocked() noexcept {
    const std::uint64_t all = ~std::uint64_t{0};
    // Cannot fail with a valid `how` and readable/writable sets.
    (void)::syscall(SYS_rt_sigprocmask, SIG_BLOCK, &all, &old_, sizeof all);
  }
  AllSignalsBlocked(const AllSignalsBlocked&) = delete;
  AllSignalsBlocked& operator=(const AllSignalsBlocked&) = delete;
  ~AllSignalsBlocked() {
    (void)::syscall(SYS_rt_sigprocmask, SIG_SETMASK, &old_, nullptr, sizeof old_);
  }

 private:
  std::uint64_t old_ = 0;
};

}  // namespace safeexec::detail
