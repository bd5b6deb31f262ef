// execute.cpp - execute() and execute_async(): the seed's execute, done right.
#include <algorithm>
#include <chrono>
#include <string>

#include "execute_internal.hpp"
#include "log_internal.hpp"
#include "process_access.hpp"
#include "process_state.hpp"
#include "safeexec/cancel.hpp"
#include "safeexec/errors.hpp"
#include "safeexec/execute.hpp"
#include "safeexec/process.hpp"
#include "stdio_plan.hpp"
#include "stream_delivery.hpp"
#include "text_internal.hpp"

namespace safeexec {
namespace {

bool accepted(const ExitStatus& st, const ExecuteOptions& o) {
  if (!o.check_exit_code()) return true;
  if (st.kind() != ExitStatus::Kind::exited) return false;
  return st.exit_code() == 0 || o.extra_ok_codes().count(st.exit_code()) != 0;
}

}  // namespace

namespace {

/// Refuses durations that cannot mean anything (F-beyond 3): a zero or
/// negative timeout, a negative grace. Huge values saturate later.
void validate_times(const ExecuteOptions& o) {
  if (o.timeout() && o.timeout()->count() <= 0) {
    throw InvalidArgument("timeout must be positive (got " + std::to_string(o.timeout()->count()) +
                          " ms); leave it unset for no timeout");
  }
  if (o.linger().count() < 0) {
    throw InvalidArgument("linger must not be negative (got " + std::to_string(o.linger().count()) +
                          " ms)");
  }
  if (o.kill_grace().count() < 0) {
    throw InvalidArgument("kill_grace must not be negative (got " +
                          std::to_string(o.kill_grace().count()) + " ms)");
  }
}

/// The caller's spawn options as they are, with what execute() decides: a
/// pipe for each stream the caller routed nowhere (stdin carries
/// process_input, stdout and stderr are captured), its own process group,
/// and a destroy bound that follows kill_grace.
SpawnOptions spawn_options_for(const ExecuteOptions& o, bool has_input) {
  SpawnOptions spawn = o.spawn();
  if (!spawn.stdin_route()) spawn.stdin_pipe();
  if (!spawn.stdout_route()) spawn.stdout_pipe();
  if (!spawn.stderr_route()) spawn.stderr_pipe();
  if (has_input && spawn.stdin_route()->kind() != StdioRoute::Kind::pipe) {
    throw InvalidArgument("input for the child is given, but stdin comes from " +
                          detail::describe_route(*spawn.stdin_route()) +
                          ": the input would go nowhere");
  }
  spawn.new_process_group(true).destroy_wait(
      std::min(o.kill_grace(), std::chrono::milliseconds(60000)) + std::chrono::milliseconds(1000));
  return spawn;
}

/// A run whose token was cancelled, or whose deadline passed while it was
/// queued (execute_async()), ends before anything is started.
void refuse_before_start(const ExecuteOptions& o, const std::optional<Deadline>& deadline,
                         Clock::time_point submitted, Clock::time_point start,
                         const std::string& cmd) {
  if (o.cancel().cancelled()) {
    CancelledError e("command was cancelled before it started: " + cmd);
    detail::log(LogLevel::error, e.what());
    throw e;
  }
  if (deadline && start >= *deadline) {
    const auto queued = std::chrono::duration_cast<std::chrono::milliseconds>(start - submitted);
    TimeoutError e("command timed out after " + std::to_string(o.timeout()->count()) +
                       " ms while queued (" + std::to_string(queued.count()) +
                       " ms) and was never started: " + cmd,
                   *o.timeout());
    detail::log(LogLevel::error, e.what());
    throw e;
  }
}

/// Kills the child's group after a timeout or an overflow, bounded by
/// kill_grace (plus the moment SIGKILL takes); describes how it ended.
std::string stop_child(Process& child, const ExecuteOptions& o) {
  const std::optional<ExitStatus> st =
      detail::ProcessAccess::terminate_bounded(child, o.kill_grace());
  if (st) return "was killed (" + st->str() + ")";
  // It could not be signalled (EPERM: it changed its uid), or it died and a
  // foreign ptrace tracer holds its zombie. We waited the grace already: the
  // handle's destroy hands it to a background reaper at once instead of
  // waiting again.
  detail::ProcessAccess::set_destroy_wait(child, std::chrono::milliseconds(0));
  const std::string held = detail::ProcessAccess::unreapable(child);
  if (!held.empty()) {
    return "was killed, but it " + held + " (a background thread reaps it once it can)";
  }
  return "could not be killed (no permission to signal it) and was left running";
}

/// Bytes of an uncaptured stream kept for its excerpt: what an excerpt
/// shows, and what a secret cut at its start needs to be recognised (a
/// margin capped: an input of MiBs is not kept in full; its excerpt is then
/// withheld).
std::size_t excerpt_tail_bytes(const ExecuteOptions& o) {
  constexpr std::size_t kMaxMargin = std::size_t{64} * 1024;
  if (o.excerpt_bytes() == 0) return 0;
  return o.excerpt_bytes() +
         std::min(kMaxMargin, detail::tail_margin(o.secrets(), o.process_input()));
}

/// A stream's excerpt for the error message: from what was captured, or
/// from the tail the pump kept when a sink took the bytes instead.
std::string stream_excerpt(const StreamSink& sink, const std::string& captured,
                           const detail::StreamCarry& kept, const ExecuteOptions& o) {
  if (sink.captures()) {
    return detail::redacted_excerpt(captured, o.excerpt_bytes(), o.secrets(), o.process_input());
  }
  return detail::redacted_tail_excerpt(kept.tail, kept.seen, o.excerpt_bytes(), o.secrets(),
                                       o.process_input());
}

}  // namespace

namespace detail {

ExecuteResult execute_submitted(Clock::time_point submitted, std::vector<std::string> argv,
                                const ExecuteOptions& options) {
  const Clock::time_point start = Clock::now();
  validate_times(options);
  detail::validate_streams(options.streams());
  if (options.run_as_root()) {
    if (options.root_helper().empty()) {
      throw InvalidArgument("run_as_root is set but root_helper is empty");
    }
    argv.insert(argv.begin(), options.root_helper().begin(), options.root_helper().end());
  }
  const std::string cmd = describe_argv(argv, options.secrets());
  if (detail::log_enabled(LogLevel::debug)) detail::log(LogLevel::debug, "running " + cmd);

  // The deadline counts from the submission (execute_async(): the time
  // queued is part of the timeout), so a run queued past it never starts.
  const std::optional<Deadline> deadline = options.timeout()
                                               ? std::optional<Deadline>(saturating_deadline(
                                                     submitted, clamp_to_clock(*options.timeout())))
                                               : std::nullopt;
  refuse_before_start(options, deadline, submitted, start, cmd);

  // The caller's bytes or a source for stdin (a routed stdin cannot take them).
  const bool has_input = !options.process_input().empty() || bool(options.streams().in);
  Process child = create_process(std::move(argv), spawn_options_for(options, has_input));
  // The caller's token cancels this run (no token: nothing can, so no wake fd).
  ProcessAccess::set_cancel(child, CancelAccess::state(options.cancel()));
  detail::PumpRequest req;
  req.deadline = deadline;
  req.max_output_bytes = options.max_output_bytes();
  req.linger_after_exit = clamp_to_clock(options.linger());
  Output output;
  detail::PumpResult pumped;
  {
    detail::PumpIo io(options.streams(), output, detail::ProcessAccess::state(child).pump,
                      options.process_input(), options.max_output_bytes(),
                      excerpt_tail_bytes(options));
    // A caller's exception stops the child as a timeout does, then goes on.
    pumped = detail::pump_or_stop(child, req, io, [&] { (void)stop_child(child, options); });
  }

  const auto timed_out = [&](const std::string& how) {
    TimeoutError e("command timed out after " + std::to_string(options.timeout()->count()) +
                       " ms and " + how + ": " + cmd,
                   *options.timeout(), std::move(output.out), std::move(output.err));
    detail::log(LogLevel::error, e.what());
    return e;
  };

  const auto cancelled = [&](const std::string& how) {
    CancelledError e("command was cancelled and " + how + ": " + cmd, std::move(output.out),
                     std::move(output.err));
    detail::log(LogLevel::error, e.what());
    return e;
  };

  if (pumped.end == detail::PumpEnd::deadline) throw timed_out(stop_child(child, options));
  if (pumped.end == detail::PumpEnd::cancelled) throw cancelled(stop_child(child, options));
  if (pumped.end == detail::PumpEnd::output_limit) {
    OutputLimitError e("command wrote more than " + std::to_string(options.max_output_bytes()) +
                           " bytes on " + pumped.overflowed_stream + " and " +
                           stop_child(child, options) + ": " + cmd,
                       pumped.overflowed_stream, options.max_output_bytes());
    detail::log(LogLevel::error, e.what());
    throw e;
  }
  const bool output_cut = pumped.end == detail::PumpEnd::lingered;
  if (output_cut) {
    // The command has exited; what is left of its group only holds our pipes.
    detail::ProcessAccess::kill_leftover_group(child);
  }

  // The pipes are done; the child may still run, and a cancel still stops it.
  if (ProcessAccess::await_exit_or_cancel(child, deadline) == ExitWait::cancelled) {
    throw cancelled(stop_child(child, options));
  }
  ExitStatus st;
  if (deadline && !output_cut) {
    const std::optional<ExitStatus> done = child.wait_until(*deadline);
    if (!done) throw timed_out(stop_child(child, options));
    st = *done;
  } else {
    st = child.wait();  // lingered: the leader has exited already
  }

  if (!accepted(st, options)) {
    // Secrets and process_input (echoed by the child) are masked in the
    // excerpts; the message is logged and shown to users (F13, item 15).
    const detail::PumpState& kept = detail::ProcessAccess::state(child).pump;
    std::string out_x = stream_excerpt(options.streams().out, output.out, kept.out_stream, options);
    std::string err_x = stream_excerpt(options.streams().err, output.err, kept.err_stream, options);
    const std::string msg = detail::failure_message(cmd, st, out_x, err_x);
    detail::log(options.log_fail_as_error() ? LogLevel::error : LogLevel::debug, msg);
    throw ProcessExecutionError(msg, st, std::move(out_x), std::move(err_x));
  }

  ExecuteResult result;
  result.status = st;
  result.out = std::move(output.out);
  if (options.return_stderr()) result.err = std::move(output.err);
  result.output_cut = output_cut;
  result.cgroup_usage = child.cgroup_usage();
  result.usage = child.resource_usage();
  result.duration = Clock::now() - start;
  result.queued = start - submitted;
  return result;
}

}  // namespace detail

ExecuteResult execute(std::vector<std::string> argv, const ExecuteOptions& options) {
  return detail::execute_submitted(Clock::now(), std::move(argv), options);
}

}  // namespace safeexec
