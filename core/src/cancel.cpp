// cancel.cpp - CancelSource and CancelToken (safeexec/cancel.hpp), thin
// handles on a shared CancelState, and Process::cancel(), which fires the
// handle's own. The wake objects are the backend's (cancel_wait.cpp).
#include "safeexec/cancel.hpp"

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "cancel_state.hpp"
#include "process_access.hpp"
#include "process_state.hpp"
#include "safeexec/errors.hpp"
#include "safeexec/process.hpp"

namespace safeexec {

bool CancelToken::cancelled() const noexcept {
  return state_ && state_->cancelled();
}

CancelSource::CancelSource() : state_(std::make_shared<detail::CancelState>()) {}

void CancelSource::cancel() noexcept {
  if (state_) state_->cancel();  // a moved-from source has nothing to cancel
}

bool CancelSource::cancelled() const noexcept {
  return state_ && state_->cancelled();
}

// Reads state_ and state_->cancel, which no other method changes while the
// handle lives (execute() sets it before anyone else can see the handle).
void Process::cancel() noexcept {
  if (state_ && state_->cancel) state_->cancel->cancel();
}

namespace detail {
void ProcessAccess::set_cancel(Process& p, std::shared_ptr<CancelState> c) noexcept {
  p.state_->cancel = std::move(c);
}

CancelledError stop_cancelled(Process& p, const char* who, Output& output) {
  const std::optional<ExitStatus> st = ProcessAccess::terminate_bounded(p, std::chrono::seconds(1));
  ProcessAccess::state(p).pump = PumpState();
  return CancelledError(std::string(who) + ": cancelled; the child " +
                            (st ? "ended (" + st->str() + ")" : "could not be stopped"),
                        std::move(output.out), std::move(output.err));
}
}  // namespace detail

}  // namespace safeexec
