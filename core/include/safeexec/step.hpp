// safeexec/step.hpp - the I/O pump driven from the caller's own event loop
// (epoll, asio, libuv on POSIX; a WaitForMultipleObjects loop on Windows):
// step() services whatever of the child's pipes is ready now, without
// blocking, and says what to wait for next.
//
//   safeexec::Streams io;  io.out.on_line(...);
//   for (;;) {
//     safeexec::StepResult r = safeexec::step(child, io);
//     if (r.done) break;                      // every pipe at EOF
//     wait for r.wait_for (until r.wake_at), then loop
//   }
//   child.wait();
//
// What is waited on is platform-typed, one header for both: a WaitFd (a
// descriptor and the readiness wanted: epoll/poll) on POSIX, a WaitHandle
// (an event HANDLE: WaitForMultipleObjects, RegisterWaitForSingleObject)
// on Windows, where step() keeps an overlapped read or write in flight on
// each open pipe and the event is signalled when it completes. `WaitItem`
// names whichever the platform has.
//
// The same sinks, source, capture, cap and masking rules as communicate()
// hold; the handle keeps the state between steps (input offset, unfinished
// lines, what was captured, on Windows the operations in flight), so a step
// may also be followed by communicate() to finish blocking. A callback's
// exception kills and reaps the child and propagates; past `deadline`
// step() throws TimeoutError (the child is left as it is, as communicate()
// does). Input (bytes or a source) for a stdin that is not a pipe of the
// handle is refused with InvalidArgument on the first step. After
// Process::cancel() the next step() stops the child as communicate() does
// and throws CancelledError (the cancel does not wake your loop: it is seen
// at the next step).
#pragma once

#include <cstddef>
#include <optional>
#include <string_view>
#include <vector>

#include "safeexec/process.hpp"
#include "safeexec/stream.hpp"

namespace safeexec {

#ifdef _WIN32
/// One object to wait on (Windows): the event of the overlapped operation
/// step() left in flight on one of the child's pipes. It is a HANDLE (a
/// `void*`) owned by the Process: wait on it, never close or reset it. It
/// stays signalled until the next step() has serviced it (level-like).
struct WaitHandle {
  void* handle = nullptr;
  bool readable = false;  ///< a read of stdout/stderr: signalled when bytes or EOF came
  bool writable = false;  ///< a write to stdin: signalled when the pipe took it
};
using WaitItem = WaitHandle;
#else
/// One descriptor to watch: the parent's end of a pipe of the child.
struct WaitFd {
  int fd = -1;
  bool readable = false;  ///< wait for input (EPOLLIN / POLLIN): stdout, stderr
  bool writable = false;  ///< wait for room (EPOLLOUT / POLLOUT): stdin
};
using WaitItem = WaitFd;
#endif

struct StepResult {
  /// Every pipe reached EOF (or was closed): nothing more to wait for; reap
  /// the child with wait(). `output` then holds what was captured.
  bool done = false;
  /// What to wait for before the next step (empty when done). An item may
  /// leave the set from one step to the next (its pipe closed): watch
  /// exactly these.
  std::vector<WaitItem> wait_for;
  /// The deadline given to step(): call it again by then at the latest.
  std::optional<Deadline> wake_at;
  Output output;
};

/// One non-blocking pass of the pump over `p`'s pipes. Pass the same input
/// on every step (or none after the first); InvalidArgument otherwise.
StepResult step(Process& p, const Streams& streams, std::string_view input = {},
                std::optional<Deadline> deadline = std::nullopt,
                std::size_t max_output_bytes = static_cast<std::size_t>(-1));

}  // namespace safeexec
