// process_access.hpp - the library-internal interface between the portable
// code (execute.cpp) and a platform's Process backend (core/src/posix/,
// core/src/windows/): create_process() fills a handle, execute() drives the
// I/O loop with options the public communicate() does not offer.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "safeexec/errors.hpp"
#include "safeexec/process.hpp"

namespace safeexec::detail {

class CancelState;
class PumpIo;

/// How the I/O loop ended.
enum class PumpEnd {
  eof,           ///< every pipe reached EOF
  lingered,      ///< the child exited; its pipes stayed open past the linger time
                 ///< (or past the deadline): they were closed unread
  deadline,      ///< the caller's deadline passed while the child ran
  output_limit,  ///< a stream passed max_output_bytes
  pending,       ///< one_pass: what was ready is serviced, pipes are still open
  cancelled,     ///< the handle's CancelState fired (Process::cancel(), a CancelToken)
};

/// How await_exit_or_cancel() ended.
enum class ExitWait { exited, deadline, cancelled };

struct PumpRequest {
  std::optional<Deadline> deadline;
  std::size_t max_output_bytes = static_cast<std::size_t>(-1);
  /// When set: once the child has exited, read its pipes for at most this
  /// long (a background job may hold them open forever). Ending so is not a
  /// timeout, even when the deadline comes first: the command did finish.
  std::optional<Clock::duration> linger_after_exit;
  /// Service what is ready now, without waiting, and return (POSIX; the
  /// step API, Process::step()): pending while a pipe is open, eof after.
  bool one_pass = false;
};

struct PumpResult {
  PumpEnd end = PumpEnd::eof;
  const char* overflowed_stream = nullptr;  ///< "stdout"/"stderr" on output_limit
};

/// The backend's end of a handle: kill what is left of the child, reap it
/// within destroy_wait (or hand it to a background reaper), close every
/// descriptor or handle. After this the state owns nothing. Never throws.
void destroy_state(ProcessState& s) noexcept;

/// communicate() or step() met a cancel (PumpEnd::cancelled or
/// ExitWait::cancelled): the child is stopped as execute() stops one on a
/// timeout (SIGTERM to its group, 1 s, SIGKILL, reaped), the handle forgets
/// the unfinished call, and this is the error to throw, with `output`.
CancelledError stop_cancelled(Process& p, const char* who, Output& output);

/// The backend's part of Process::detach(): stop owning the child without
/// killing it (POSIX: the background reaper takes it; Windows: the job
/// stops killing on close) and close everything; returns its pid. Throws
/// (and changes nothing) when the child cannot be given up.
pid_t release_child(ProcessState& s);

struct ProcessAccess {
  static Process make(std::unique_ptr<ProcessState> state);
  static ProcessState& state(Process& p) noexcept { return *p.state_; }
  static bool holds_state(const Process& p) noexcept { return p.state_ != nullptr; }
  /// How long the handle's destructor waits for a SIGKILLed child.
  static void set_destroy_wait(Process& p, std::chrono::milliseconds d) noexcept;
  /// The one poll loop behind communicate() and execute(). What it writes
  /// and where what it reads goes is `io`'s business (stream_delivery.hpp):
  /// the input continues at the handle's saved offset.
  static PumpResult pump(Process& p, const PumpRequest& request, PumpIo& io);
  /// After a lingered end: SIGKILL what is left of the child's process group
  /// (the leader has exited but is unreaped, so the group id is still ours).
  static void kill_leftover_group(Process& p) noexcept;
  /// terminate() that never throws: SIGTERM to the group, wait `grace`,
  /// SIGKILL, wait briefly; reaps when the child has exited. nullopt when it
  /// could not be signalled and is still running (the handle keeps it).
  static std::optional<ExitStatus> terminate_bounded(Process& p,
                                                     std::chrono::milliseconds grace) noexcept;
  /// When terminate_bounded() gave nullopt for a child that had exited but
  /// could not be reaped (a foreign ptrace tracer holds it): what held it
  /// ("exited, not yet reapable: traced by pid N"); "" otherwise.
  static std::string unreapable(const Process& p);

  /// What cancels the handle's pump and waits (cancel_state.hpp): its own
  /// state (Process::cancel()), a caller's token (execute()), or nothing.
  static void set_cancel(Process& p, std::shared_ptr<CancelState> c) noexcept;
  /// Waits, without reaping, until the child has exited, `deadline` passes
  /// or the handle is cancelled. Without a CancelState: exited at once (the
  /// caller's wait_until() does the waiting). Throws IoError.
  static ExitWait await_exit_or_cancel(Process& p, std::optional<Deadline> deadline);
};

}  // namespace safeexec::detail
