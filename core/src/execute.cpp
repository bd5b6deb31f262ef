// execute.cpp - execute() and execute_async(): the seed's execute, done right.
#include <algorithm>
#include <chrono>
#include <string>

#include "log_internal.hpp"
#include "process_access.hpp"
#include "safeexec/blocking.hpp"
#include "safeexec/errors.hpp"
#include "safeexec/execute.hpp"
#include "safeexec/process.hpp"
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

/// Kills the child's group after a timeout or an overflow, bounded by
/// kill_grace (plus the moment SIGKILL takes); describes how it ended.
std::string stop_child(Process& child, const ExecuteOptions& o) {
  const std::optional<ExitStatus> st =
      detail::ProcessAccess::terminate_bounded(child, o.kill_grace());
  if (st) return "was killed (" + st->str() + ")";
  // It could not be signalled (EPERM: it changed its uid). We waited the
  // grace already: the handle's destroy hands it to a background reaper at
  // once instead of waiting again.
  detail::ProcessAccess::set_destroy_wait(child, std::chrono::milliseconds(0));
  return "could not be killed (no permission to signal it) and was left running";
}

}  // namespace

ExecuteResult execute(std::vector<std::string> argv, const ExecuteOptions& options) {
  const Clock::time_point start = Clock::now();
  validate_times(options);
  if (options.run_as_root()) {
    if (options.root_helper().empty()) {
      throw InvalidArgument("run_as_root is set but root_helper is empty");
    }
    argv.insert(argv.begin(), options.root_helper().begin(), options.root_helper().end());
  }
  const std::string cmd = describe_argv(argv, options.secrets());
  if (detail::log_enabled(LogLevel::debug)) detail::log(LogLevel::debug, "running " + cmd);

  // The caller's spawn options as they are; execute() owns the stdio (three
  // pipes), the process group and the destroy bound.
  SpawnOptions spawn = options.spawn();
  spawn.all_pipes().new_process_group(true).destroy_wait(
      std::min(options.kill_grace(), std::chrono::milliseconds(60000)) +
      std::chrono::milliseconds(1000));
  Process child = create_process(std::move(argv), spawn);

  const std::optional<Deadline> deadline =
      options.timeout()
          ? std::optional<Deadline>(saturating_deadline(start, clamp_to_clock(*options.timeout())))
          : std::nullopt;
  detail::PumpRequest req;
  req.input = options.process_input();
  req.deadline = deadline;
  req.max_output_bytes = options.max_output_bytes();
  req.linger_after_exit = clamp_to_clock(options.linger());
  Output output;
  const detail::PumpResult pumped = detail::ProcessAccess::pump(child, req, output);

  const auto timed_out = [&](const std::string& how) {
    TimeoutError e("command timed out after " + std::to_string(options.timeout()->count()) +
                       " ms and " + how + ": " + cmd,
                   *options.timeout(), std::move(output.out), std::move(output.err));
    detail::log(LogLevel::error, e.what());
    return e;
  };

  if (pumped.end == detail::PumpEnd::deadline) throw timed_out(stop_child(child, options));
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
    std::string out_x = detail::redacted_excerpt(output.out, options.excerpt_bytes(),
                                                 options.secrets(), options.process_input());
    std::string err_x = detail::redacted_excerpt(output.err, options.excerpt_bytes(),
                                                 options.secrets(), options.process_input());
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
  return result;
}

std::future<ExecuteResult> execute_async(std::vector<std::string> argv, ExecuteOptions options) {
  return run_blocking(
      [](std::vector<std::string> a, const ExecuteOptions& o) { return execute(std::move(a), o); },
      std::move(argv), std::move(options));
}

}  // namespace safeexec
