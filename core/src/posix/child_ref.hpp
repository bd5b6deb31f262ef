// child_ref.hpp - how we reach one child: its pidfd where the kernel lets us
// use one, its pid otherwise.
//
// Every wait, signal and exit check of the handle goes through this type, so
// the choice between the two is made here once (from kernel_features()), not
// at each call site. Using the pid is safe for as long as the child is
// unreaped: an unreaped child's pid cannot be recycled.
//
// Waiting never blocks inside waitid(): a host that ignores SIGCHLD makes a
// blocking waitid sleep until *every* child of the process has exited. We
// poll for the exit (pidfd readable, or a short backoff without one) and
// then reap with WNOHANG - and where the exit is seen but the reap is not
// possible yet (a ptrace tracer holds the zombie), back off, never spin.
#pragma once

#include <signal.h>
#include <sys/resource.h>
#include <sys/types.h>

#include <optional>

#include "safeexec/exit_status.hpp"
#include "safeexec/process.hpp"

namespace safeexec::detail {

/// What try_reap() found.
enum class ReapResult {
  running,    ///< still running
  reaped,     ///< exited and reaped by us: the status is known
  recovered,  ///< reaped by someone else, status recovered from the pidfd
  lost,       ///< reaped by someone else (SIGCHLD ignored, or a host reaper); status unknown
};

/// Where reap_within() stopped.
struct ReapWait {
  ReapResult result = ReapResult::running;
  ExitStatus status;  ///< set on `reaped` and `recovered`
  /// Still `running` at the end although the child's pidfd says it exited:
  /// its zombie is held (by a foreign ptrace tracer) - see unreapable.hpp.
  bool held = false;
};

class ChildRef {
 public:
  ChildRef() = default;
  /// Takes ownership of `pidfd` (may be -1).
  ChildRef(pid_t pid, int pidfd) noexcept : pid_(pid), pidfd_(pidfd) {}
  ChildRef(ChildRef&& other) noexcept;
  ChildRef& operator=(ChildRef&& other) noexcept;
  ChildRef(const ChildRef&) = delete;
  ChildRef& operator=(const ChildRef&) = delete;
  ~ChildRef();

  pid_t pid() const noexcept { return pid_; }
  int pidfd() const noexcept { return pidfd_; }
  explicit operator bool() const noexcept { return pid_ > 0; }

  /// Sends `sig` to the child alone: pidfd_send_signal when the kernel allows
  /// it, else kill(pid). 0 or -1 with errno.
  int signal(int sig) const noexcept;
  /// A descriptor that polls readable once the child has exited, or -1.
  int exit_fd() const noexcept { return pidfd_; }

  /// Reaps the child if it has exited (never blocks). On `reaped` and
  /// `recovered`, `*status` is set. -1 with errno on an unexpected failure
  /// of waitid (the child stays as it was). Closes the pidfd once the child
  /// is gone.
  /// With `usage`, a child reaped here leaves what it used there (the
  /// kernel's rusage of the reaping waitid); untouched otherwise.
  int try_reap(ReapResult* result, ExitStatus* status, struct rusage* usage = nullptr) noexcept;
  /// True once the child has exited (reaped or not), without reaping it.
  bool has_exited() const noexcept;
  /// Waits until the child has exited or `deadline` passes, without reaping.
  /// Returns true when it has exited. No deadline: waits as long as it takes.
  bool await_exit(std::optional<Deadline> deadline) const noexcept;

  /// Reaps the child once it can, waiting until `deadline` (nullopt: as long
  /// as it takes) and, once it has exited but cannot be reaped, at most
  /// `held_patience` more. Sleeps on the pidfd while the child runs; while
  /// it has exited but waitid() does not see it (a foreign tracer holds the
  /// zombie, so the pidfd stays readable) it backs off from 1 ms to 50 ms
  /// instead of polling again at once. -1 with errno when waitid fails.
  /// `usage` as for try_reap().
  int reap_within(std::optional<Deadline> deadline, Clock::duration held_patience, ReapWait* out,
                  struct rusage* usage = nullptr) noexcept;

  /// Forgets the child: closes the pidfd, pid -1.
  void clear() noexcept;

 private:
  pid_t pid_ = -1;
  int pidfd_ = -1;
};

}  // namespace safeexec::detail
