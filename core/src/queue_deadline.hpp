// queue_deadline.hpp - a timer for runs that wait in a queue: at its
// deadline, a run no thread has taken yet is failed there and then, not when
// a worker finally gets to it (execute_async.cpp). One thread, started on
// first use, sleeping until the earliest deadline it holds.
#pragma once

#include <functional>
#include <memory>

#include "safeexec/process.hpp"

namespace safeexec::detail {

/// Something a queue holds, which the timer may fail at its deadline.
class Expirable {
 public:
  virtual ~Expirable() = default;
  /// Called on the timer's thread at the deadline; must not block. Does
  /// nothing when the run was taken by a worker meanwhile.
  virtual void expire() noexcept = 0;
};

/// Calls `what->expire()` at `at`, unless `what` is gone by then (the timer
/// holds it weakly: a run that finished is not kept alive for its
/// deadline). Never throws: without a timer thread (none could be started)
/// the run fails at its deadline when a worker takes it, as before.
void expire_at(Deadline at, std::weak_ptr<Expirable> what) noexcept;

}  // namespace safeexec::detail
