// cancel_state.hpp - the flag behind CancelSource, CancelToken and
// Process::cancel() (safeexec/cancel.hpp), and the kernel object that wakes
// a pump waiting on it: an eventfd (POSIX) or a manual-reset event (Windows),
// made the first time a pump asks for it and never reset, so that any number
// of pumps waiting on one source all wake.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>

namespace safeexec::detail {

/// An eventfd or a HANDLE, as an integer; kNoWake when none.
using WakeHandle = std::intptr_t;
constexpr WakeHandle kNoWake = -1;

// The backend's part (posix/cancel_wait.cpp, windows/cancel_wait.cpp).
/// A new wake object, close-on-exec / not inheritable; throws IoError.
WakeHandle make_wake();
/// Makes `w` readable / signalled for good.
void fire_wake(WakeHandle w) noexcept;
void close_wake(WakeHandle w) noexcept;

class CancelState {
 public:
  CancelState() = default;
  CancelState(const CancelState&) = delete;
  CancelState& operator=(const CancelState&) = delete;
  ~CancelState() {
    if (wake_ != kNoWake) close_wake(wake_);
  }

  /// Sets the flag and fires the wake object if one was made. Idempotent.
  void cancel() noexcept {
    if (cancelled_.exchange(true, std::memory_order_acq_rel)) return;
    const std::lock_guard<std::mutex> lock(mutex_);
    if (wake_ != kNoWake) fire_wake(wake_);
  }
  bool cancelled() const noexcept { return cancelled_.load(std::memory_order_acquire); }
  /// The object to wait on, made on first use (fired at once when the flag
  /// is already set: under the mutex, so a concurrent cancel() either sees
  /// the object or is seen here). Throws IoError when it cannot be made.
  WakeHandle wake() {
    const std::lock_guard<std::mutex> lock(mutex_);
    if (wake_ == kNoWake) {
      wake_ = make_wake();
      if (cancelled()) fire_wake(wake_);
    }
    return wake_;
  }

  /// Closes the wake object when `self` is the state's only owner (a
  /// handle's own, not a source's that other runs share): a handle holds no
  /// descriptor between pumps; the next pump's wake() makes a new one. Under
  /// the mutex, so a concurrent cancel() fires either the old object or none.
  static void release_if_unshared(const std::shared_ptr<CancelState>& self) noexcept {
    if (!self || self.use_count() != 1) return;
    const std::lock_guard<std::mutex> lock(self->mutex_);
    if (self->wake_ != kNoWake) {
      close_wake(self->wake_);
      self->wake_ = kNoWake;
    }
  }

 private:
  std::atomic<bool> cancelled_{false};
  std::mutex mutex_;
  WakeHandle wake_ = kNoWake;
};

}  // namespace safeexec::detail
