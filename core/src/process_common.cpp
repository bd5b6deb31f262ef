// process_common.cpp - the half of the Process handle that is the same on
// every platform: its life cycle (the backend's destroy_state() does the
// killing and reaping), the accessors of the state both backends share,
// and communicate(), written once on top of the
// backend's pump (process_access.hpp) and the public wait calls. Each
// backend's process_state.hpp is found through its include directory.
#include <algorithm>
#include <string>
#include <utility>

#include "process_access.hpp"
#include "process_state.hpp"
#include "safeexec/errors.hpp"
#include "safeexec/process.hpp"
#include "stream_delivery.hpp"

namespace safeexec {
// Only ProcessAccess::make() makes one, and fills state_ itself.
Process::Process() = default;

Process::Process(Process&& other) noexcept = default;

Process& Process::operator=(Process&& other) noexcept {
  if (this != &other) {
    if (state_) detail::destroy_state(*state_);
    state_ = std::move(other.state_);
    detached_ = other.detached_;
  }
  return *this;
}

pid_t Process::detach() {
  if (!state_) {
    refuse_if_detached("detach");
    return -1;
  }
  const pid_t pid = detail::release_child(*state_);
  state_.reset();
  detached_ = true;
  return pid;
}

void Process::refuse_if_detached(const char* method) const {
  if (detached_) {
    throw DetachedError(std::string("Process::") + method +
                        ": the child was detached; this handle owns no child any more");
  }
}

Process::~Process() {
  if (state_) detail::destroy_state(*state_);
}

int Process::stdin_fd() const noexcept {
  return state_ ? state_->stdin_fd : -1;
}
int Process::stdout_fd() const noexcept {
  return state_ ? state_->stdout_fd : -1;
}
int Process::stderr_fd() const noexcept {
  return state_ ? state_->stderr_fd : -1;
}
bool Process::leads_process_group() const noexcept {
  return state_ && state_->own_group;
}
ExitStatus Process::status() const noexcept {
  return state_ ? state_->status : ExitStatus();
}

Output Process::communicate(std::string_view input, std::optional<Deadline> deadline,
                            std::size_t max_output_bytes) {
  return communicate(Streams{}, input, deadline, max_output_bytes);
}

Output Process::communicate(const Streams& streams, std::string_view input,
                            std::optional<Deadline> deadline, std::size_t max_output_bytes) {
  // Input (bytes, or a source) that cannot reach the child is refused, never
  // dropped (issue 18 item 9): a moved-from handle, a stdin that is not a pipe of this handle
  // (stdin_null(), inherited), or one closed already (close_stdin(), or an
  // earlier communicate() that delivered its input). Checked before anything
  // is read, so the refusal leaves the handle as it was.
  const auto undeliverable = [&](const char* why) {
    return InvalidArgument(std::string("communicate: ") + std::to_string(input.size()) +
                           " bytes of input cannot be delivered: " + why);
  };
  if (!state_) {
    refuse_if_detached("communicate");
    if (!input.empty()) throw undeliverable("this handle holds no child (moved from)");
    return {};
  }
  detail::validate_streams(streams);
  detail::ProcessState& s = *state_;
  if (!s.pump.started) {
    detail::refuse_undeliverable_input("communicate", input.size(), bool(streams.in), s.stdin_fd);
  }
  const Clock::time_point start = Clock::now();
  // Going on after a timeout: the input of the first call continues from
  // where it stopped, and what was read is kept.
  if (s.pump.started) {
    if (!input.empty() && input != s.pump.input) {
      throw InvalidArgument(
          "communicate: a previous call timed out with other input; pass the same input or "
          "none to continue it");
    }
    input = s.pump.input;
  } else {
    s.pump.input_offset = 0;
  }
  Output output = std::move(s.pump.collected);
  s.pump.collected = Output();
  detail::PumpRequest req;
  req.deadline = deadline;
  req.max_output_bytes = max_output_bytes;

  // A timeout keeps the input and what was read, so that a later call can
  // continue, and hands the partial output to the caller in the error.
  const auto timed_out = [&](const char* what) -> TimeoutError {
    const auto given = deadline ? std::chrono::ceil<std::chrono::milliseconds>(*deadline - start)
                                : std::chrono::milliseconds(0);
    if (!s.pump.started) {
      s.pump.input.assign(input.data(), input.size());
      s.pump.started = true;
    }
    s.pump.collected = output;
    return TimeoutError(std::string("communicate: ") + what, std::max(given, decltype(given)(0)),
                        std::move(output.out), std::move(output.err));
  };

  const auto cancelled = [&] { return detail::stop_cancelled(*this, "communicate", output); };
  // The wake object a cancel fires lives as long as this call (F05: a handle
  // holds no descriptor between calls; the model property counts them).
  struct WakeRelease {
    const std::shared_ptr<detail::CancelState>& c;
    ~WakeRelease() { detail::CancelState::release_if_unshared(c); }
  } const release_wake{s.cancel};

  detail::PumpResult r;
  {
    detail::PumpIo io(streams, output, s.pump, input, max_output_bytes, 0);
    // A caller's exception: the child is killed at once (communicate() has
    // no grace to give) and reaped before it goes on.
    r = detail::pump_or_stop(*this, req, io, [this] {
      (void)detail::ProcessAccess::terminate_bounded(*this, std::chrono::milliseconds(0));
    });
  }
  switch (r.end) {
    case detail::PumpEnd::deadline:
      throw timed_out("deadline passed before the child finished");
    case detail::PumpEnd::output_limit:
      s.pump = detail::PumpState();
      throw OutputLimitError(std::string("communicate: child wrote more than ") +
                                 std::to_string(max_output_bytes) + " bytes on " +
                                 r.overflowed_stream,
                             r.overflowed_stream, max_output_bytes);
    case detail::PumpEnd::cancelled:
      throw cancelled();
    case detail::PumpEnd::eof:
    case detail::PumpEnd::lingered:
    case detail::PumpEnd::pending:  // only one_pass gives it
      break;
  }
  // The pipes are done; the child may still run, and a cancel still stops it.
  if (detail::ProcessAccess::await_exit_or_cancel(*this, deadline) == detail::ExitWait::cancelled) {
    throw cancelled();
  }
  if (deadline) {
    if (!wait_until(*deadline)) throw timed_out("deadline passed before the child exited");
  } else {
    (void)wait();
  }
  s.pump = detail::PumpState();
  return output;
}

namespace detail {

Process ProcessAccess::make(std::unique_ptr<ProcessState> state) {
  Process p;
  p.state_ = std::move(state);
  return p;
}

void ProcessAccess::set_destroy_wait(Process& p, std::chrono::milliseconds d) noexcept {
  p.state_->destroy_wait = d;
}

std::string ProcessAccess::unreapable(const Process& p) {
  return p.state_ ? p.state_->unreapable : std::string();
}

}  // namespace detail
}  // namespace safeexec
