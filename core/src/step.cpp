// step.cpp - step(): one non-blocking pass of the pump for a caller's event
// loop (safeexec/step.hpp), on both platforms. The pass itself is the
// backend's pump (one_pass); this file keeps what lasts between passes on
// the handle, and the backend's step_wait_set() tells the caller what to
// wait for.
#include "safeexec/step.hpp"

#include <chrono>
#include <string>

#include "process_access.hpp"
#include "process_state.hpp"
#include "safeexec/errors.hpp"
#include "step_waits.hpp"
#include "stream_delivery.hpp"

namespace safeexec {

StepResult step(Process& p, const Streams& streams, std::string_view input,
                std::optional<Deadline> deadline, std::size_t max_output_bytes) {
  detail::validate_streams(streams);
  if (!detail::ProcessAccess::holds_state(p)) {  // moved from: nothing to pump, as communicate()
    detail::refuse_undeliverable_input("step", input.size(), bool(streams.in), -1);
    StepResult none;
    none.done = true;
    return none;
  }
  detail::ProcessState& s = detail::ProcessAccess::state(p);
  // The input must outlive this call: the handle keeps it from the first
  // step on (a source is the way to stream a large one).
  if (s.pump.started) {
    if (!input.empty() && input != s.pump.input) {
      throw InvalidArgument("step: pass the same input on every step, or none after the first");
    }
  } else {
    detail::refuse_undeliverable_input("step", input.size(), bool(streams.in), s.stdin_fd);
    s.pump.input.assign(input.data(), input.size());
    s.pump.input_offset = 0;
    s.pump.started = true;
  }
  if (deadline && Clock::now() >= *deadline) {
    throw TimeoutError("step: deadline passed before the child finished",
                       std::chrono::milliseconds(0), s.pump.collected.out, s.pump.collected.err);
  }
  detail::PumpRequest req;
  req.max_output_bytes = max_output_bytes;
  req.one_pass = true;
  Output output = std::move(s.pump.collected);
  detail::PumpResult r;
  {
    detail::PumpIo io(streams, output, s.pump, s.pump.input, max_output_bytes, 0);
    r = detail::pump_or_stop(p, req, io, [&p] {
      (void)detail::ProcessAccess::terminate_bounded(p, std::chrono::milliseconds(0));
    });
  }
  if (r.end == detail::PumpEnd::output_limit) {
    s.pump = detail::PumpState();
    throw OutputLimitError(std::string("step: child wrote more than ") +
                               std::to_string(max_output_bytes) + " bytes on " +
                               r.overflowed_stream,
                           r.overflowed_stream, max_output_bytes);
  }
  if (r.end == detail::PumpEnd::cancelled) throw detail::stop_cancelled(p, "step", output);
  StepResult out;
  out.wake_at = deadline;
  // The pass may have closed the last pipe: done now, not after one more
  // wait on nothing.
  const bool open = s.stdin_fd >= 0 || s.stdout_fd >= 0 || s.stderr_fd >= 0;
  if (r.end != detail::PumpEnd::pending || !open) {
    out.done = true;
    out.output = std::move(output);
    s.pump = detail::PumpState();
    return out;
  }
  s.pump.collected = std::move(output);
  out.wait_for = detail::step_wait_set(s);
  return out;
}

}  // namespace safeexec
