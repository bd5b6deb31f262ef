// execute.cpp - execute() and execute_async(): the seed's execute, done right.
#include <chrono>
#include <string>

#include "log_internal.hpp"
#include "process_access.hpp"
#include "safeexec/blocking.hpp"
#include "safeexec/errors.hpp"
#include "safeexec/execute.hpp"
#include "safeexec/process.hpp"

namespace safeexec {
namespace {

bool accepted(const ExitStatus& st, const ExecuteOptions& o) {
  if (!o.check_exit_code()) return true;
  if (st.kind() != ExitStatus::Kind::exited) return false;
  return st.exit_code() == 0 || o.extra_ok_codes().count(st.exit_code()) != 0;
}

// Never process_input: the message is logged and shown to users (F13).
std::string failure_message(const std::string& cmd, const ExitStatus& st, const Output& out,
                            std::size_t limit) {
  return "command failed: " + cmd + "\nstatus: " + st.str() +
         "\nstdout: " + excerpt(out.out, limit) + "\nstderr: " + excerpt(out.err, limit);
}

}  // namespace

ExecuteResult execute(std::vector<std::string> argv, const ExecuteOptions& options) {
  const Clock::time_point start = Clock::now();
  if (options.run_as_root()) {
    if (options.root_helper().empty()) {
      throw InvalidArgument("run_as_root is set but root_helper is empty");
    }
    argv.insert(argv.begin(), options.root_helper().begin(), options.root_helper().end());
  }
  const std::string cmd = describe_argv(argv, options.secrets());
  if (detail::log_enabled(LogLevel::debug)) detail::log(LogLevel::debug, "running " + cmd);

  SpawnOptions spawn;
  spawn.all_pipes()
      .new_process_group(true)
      .addl_env(options.addl_env())
      .env_policy(options.env_policy())
      .cwd(options.cwd())
      .reset_ignored_signals(options.reset_ignored_signals());
  Process child = create_process(std::move(argv), spawn);

  const std::optional<Deadline> deadline =
      options.timeout() ? std::optional<Deadline>(start + *options.timeout()) : std::nullopt;
  detail::PumpRequest req;
  req.input = options.process_input();
  req.deadline = deadline;
  req.max_output_bytes = options.max_output_bytes();
  req.linger_after_exit = options.kill_grace();
  Output output;
  const detail::PumpResult pumped = detail::ProcessAccess::pump(child, req, output);

  if (pumped.end == detail::PumpEnd::deadline || pumped.end == detail::PumpEnd::output_limit) {
    // Kill the whole group (grandchildren too), reap, then report.
    const ExitStatus st = child.terminate(options.kill_grace());
    if (pumped.end == detail::PumpEnd::deadline) {
      TimeoutError e("command timed out after " + std::to_string(options.timeout()->count()) +
                         " ms and was killed (" + st.str() + "): " + cmd,
                     *options.timeout());
      detail::log(LogLevel::error, e.what());
      throw e;
    }
    OutputLimitError e("command wrote more than " + std::to_string(options.max_output_bytes()) +
                           " bytes on " + pumped.overflowed_stream + " and was killed (" +
                           st.str() + "): " + cmd,
                       pumped.overflowed_stream, options.max_output_bytes());
    detail::log(LogLevel::error, e.what());
    throw e;
  }

  ExitStatus st;
  if (deadline) {
    const std::optional<ExitStatus> done = child.wait_until(*deadline);
    if (!done) {
      const ExitStatus killed = child.terminate(options.kill_grace());
      TimeoutError e("command timed out after " + std::to_string(options.timeout()->count()) +
                         " ms and was killed (" + killed.str() + "): " + cmd,
                     *options.timeout());
      detail::log(LogLevel::error, e.what());
      throw e;
    }
    st = *done;
  } else {
    st = child.wait();
  }

  if (!accepted(st, options)) {
    const std::string msg = failure_message(cmd, st, output, options.excerpt_bytes());
    detail::log(options.log_fail_as_error() ? LogLevel::error : LogLevel::debug, msg);
    throw ProcessExecutionError(msg, st, excerpt(output.out, options.excerpt_bytes()),
                                excerpt(output.err, options.excerpt_bytes()));
  }

  ExecuteResult result;
  result.status = st;
  result.out = std::move(output.out);
  if (options.return_stderr()) result.err = std::move(output.err);
  result.duration = Clock::now() - start;
  return result;
}

std::future<ExecuteResult> execute_async(std::vector<std::string> argv, ExecuteOptions options) {
  return run_blocking(
      [](std::vector<std::string> a, const ExecuteOptions& o) { return execute(std::move(a), o); },
      std::move(argv), std::move(options));
}

}  // namespace safeexec
