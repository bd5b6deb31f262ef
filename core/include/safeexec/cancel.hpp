// safeexec/cancel.hpp - stopping a running execute() from another thread.
//
//   safeexec::CancelSource stop;
//   auto run = safeexec::execute_async({"make", "-j4"},
//       safeexec::ExecuteOptions{}.timeout(10min).cancel(stop.token()));
//   ...                      // on another thread, at any time:
//   stop.cancel();           // run.get() throws CancelledError promptly
//
// A CancelSource owns one cancellation flag; its tokens observe it. cancel()
// is thread-safe, idempotent and never blocks: it sets the flag and wakes
// every pump waiting on it (an eventfd on Linux, a manual-reset event on
// Windows, created the first time a run waits on the source and never reset,
// so one source may stop any number of runs at once). A cancelled source
// stays cancelled: a run given its token afterwards throws CancelledError
// before it starts anything. The kernel object is closed when the source
// and its last token are gone. A Process handle has the same on itself:
// Process::cancel() (process.hpp).
#pragma once

#include <memory>
#include <utility>

namespace safeexec {

namespace detail {
class CancelState;
}  // namespace detail

/// Observes a CancelSource. A default-constructed token never fires.
class CancelToken {
 public:
  CancelToken() noexcept = default;
  /// True once the source was cancelled.
  bool cancelled() const noexcept;
  /// False for a default-constructed token (nothing can cancel it).
  explicit operator bool() const noexcept { return state_ != nullptr; }

 private:
  friend class CancelSource;
  friend struct CancelAccess;
  explicit CancelToken(std::shared_ptr<detail::CancelState> s) noexcept : state_(std::move(s)) {}
  std::shared_ptr<detail::CancelState> state_;
};

/// Owns a cancellation flag. Copies share it.
class CancelSource {
 public:
  /// Allocates the flag (throws std::bad_alloc only); no kernel object yet.
  CancelSource();
  /// Sets the flag and wakes every run waiting on it. Thread-safe,
  /// idempotent, never throws, never blocks.
  void cancel() noexcept;
  bool cancelled() const noexcept;
  CancelToken token() const noexcept { return CancelToken(state_); }

 private:
  std::shared_ptr<detail::CancelState> state_;
};

/// The library's access to a token's state (not for callers).
struct CancelAccess {
  static const std::shared_ptr<detail::CancelState>& state(const CancelToken& t) noexcept {
    return t.state_;
  }
};

}  // namespace safeexec
