// safeexec/execute.hpp - run a command to completion: the seed's execute().
//
//   using namespace std::chrono_literals;
//   auto r = safeexec::execute({"ip", "link", "show"},
//       safeexec::ExecuteOptions{}.timeout(10s).extra_ok_codes({1}));
//   std::cout << r.out;
//
// execute() starts argv (no shell: F11) in a new process group with all three
// stdio pipes, writes process_input to stdin while reading stdout and stderr
// in one poll loop (no deadlock on full pipes, F09/F14), reaps the child and
// closes every descriptor on every path (F05). On a non-accepted exit it
// throws ProcessExecutionError whose message holds the masked argv, the exit
// status and bounded excerpts of stdout/stderr - never process_input (F13):
// an echo of it in the child's output is masked as "***" in the excerpts
// (see excerpt() for what is recognised), as are the secrets.
// On timeout, or when a stream passes max_output_bytes, it sends SIGTERM to the
// process group, waits kill_grace, sends SIGKILL, reaps, and throws
// TimeoutError / OutputLimitError: it returns within timeout + kill_grace.
//
// Cancel: ExecuteOptions::cancel(token) - CancelSource::cancel() from any
// thread stops the run as a timeout does and throws CancelledError.
//
// Thread safety: execute() may be called from any number of threads at once
// (F03); each call owns its pipes and child. execute_async() runs it on the
// blocking-call pool, or on the caller's executor, and returns a future
// (F14); the time it waits there counts against its timeout.
#pragma once

#include <chrono>
#include <functional>
#include <future>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "safeexec/cancel.hpp"
#include "safeexec/env.hpp"
#include "safeexec/exit_status.hpp"
#include "safeexec/process.hpp"
#include "safeexec/stream.hpp"

namespace safeexec {

/// How execute() runs a command. Chainable setters; getters of the same name.
class ExecuteOptions {
 public:
  /// Bytes written to the child's stdin (may hold NUL; any size).
  ExecuteOptions& process_input(std::string bytes) {
    input_ = std::move(bytes);
    return *this;
  }
  /// How the child is started: environment, working directory, signals,
  /// keep_fd, stdio routes - every SpawnOptions field, written once there
  /// and passed through as it is, except what execute() decides itself: the
  /// child always leads a new process group (a timeout kills the group), and
  /// destroy_wait follows kill_grace. A stream with no route chosen is a pipe
  /// (stdin carries process_input, stdout/stderr are captured); a routed one
  /// is not captured (its result string stays empty, max_output_bytes and
  /// the excerpts see nothing of it), and stderr to_stdout() is captured in
  /// `out`, in the order the child wrote. process_input with stdin routed
  /// elsewhere than a pipe is InvalidArgument.
  ///
  ///   safeexec::ExecuteOptions{}.timeout(5s).spawn(
  ///       safeexec::SpawnOptions{}.cwd("/srv").addl_env({{"LANG", "C"}})
  ///           .stdout_to(safeexec::StdioRoute::file("/var/log/job.log")))
  ExecuteOptions& spawn(SpawnOptions s) {
    spawn_ = std::move(s);
    return *this;
  }
  /// Throw ProcessExecutionError on an exit code other than 0 and extra_ok_codes (default true).
  ExecuteOptions& check_exit_code(bool on) {
    check_ = on;
    return *this;
  }
  ExecuteOptions& extra_ok_codes(std::set<int> codes) {
    ok_codes_ = std::move(codes);
    return *this;
  }
  /// Keep stderr in the result (default true; when false, stderr is still
  /// read and used for the error excerpt but ExecuteResult::err stays empty).
  ExecuteOptions& return_stderr(bool on) {
    return_stderr_ = on;
    return *this;
  }
  /// Log a failed command at error level (default true) rather than debug.
  ExecuteOptions& log_fail_as_error(bool on) {
    log_fail_as_error_ = on;
    return *this;
  }
  /// argv prefix used when run_as_root is set (e.g. {"sudo", "-n"}).
  ExecuteOptions& root_helper(std::vector<std::string> prefix) {
    root_helper_ = std::move(prefix);
    return *this;
  }
  ExecuteOptions& run_as_root(bool on) {
    run_as_root_ = on;
    return *this;
  }
  /// Total time allowed for the run (default: none). Must be positive
  /// (InvalidArgument otherwise); a value too large to add to the clock, such
  /// as milliseconds::max(), saturates to "no deadline".
  ExecuteOptions& timeout(std::chrono::milliseconds t) {
    timeout_ = t;
    return *this;
  }
  /// Time between SIGTERM and SIGKILL on timeout or output overflow (default
  /// 1 s). 0 means SIGKILL right after SIGTERM; negative is InvalidArgument.
  ExecuteOptions& kill_grace(std::chrono::milliseconds g) {
    kill_grace_ = g;
    return *this;
  }
  /// After the command has exited, how long to go on reading its pipes while
  /// something it started (a background job: `sh -c 'daemon & echo done'`)
  /// still holds them (default 200 ms; Go's Cmd.WaitDelay). Past it the pipes
  /// are closed, what is left of the command's process group is killed, and
  /// the result is returned with output_cut set: a command that exited is
  /// never reported as a timeout, even when its pipes outlive the deadline.
  ExecuteOptions& linger(std::chrono::milliseconds l) {
    linger_ = l;
    return *this;
  }
  /// Cap per stream (default: none). Past it the child is killed (OutputLimitError).
  /// A stream that passes 1 MiB reserves address space up to the cap at once (no
  /// copies while it grows; untouched pages cost no memory), and a result well
  /// below its reservation is shrunk to fit before it is returned.
  ExecuteOptions& max_output_bytes(std::size_t n) {
    max_output_ = n;
    return *this;
  }
  /// Strings masked as "***" wherever they appear in argv and in the
  /// stdout/stderr excerpts, in messages and logs. Every occurrence of every
  /// secret is found first and overlapping or nested ones are masked as one
  /// range, so {"pass", "password123"} leaves nothing of either.
  ExecuteOptions& secrets(std::vector<std::string> s) {
    secrets_ = std::move(s);
    return *this;
  }
  /// Longest stdout/stderr excerpt in messages and logs (default 1024 bytes).
  ExecuteOptions& excerpt_bytes(std::size_t n) {
    excerpt_bytes_ = n;
    return *this;
  }

  /// Sinks for stdout/stderr and a stdin source (stream.hpp), run on the
  /// calling thread while the child runs. A stream a sink does not capture
  /// stays empty in the result; its error excerpt comes from the last
  /// excerpt_bytes (plus the longest secret) the pump keeps. The source's
  /// bytes follow process_input, and are not masked in excerpts.
  ExecuteOptions& streams(Streams s) {
    streams_ = std::move(s);
    return *this;
  }
  const Streams& streams() const noexcept { return streams_; }

  /// A token whose source may stop the run from another thread
  /// (cancel.hpp): the child's group gets SIGTERM, kill_grace, SIGKILL, is
  /// reaped, and execute() throws CancelledError with the output so far -
  /// within kill_grace (plus the moment SIGKILL takes) of the cancel. A
  /// token cancelled already: CancelledError before anything starts.
  ExecuteOptions& cancel(CancelToken token) {
    cancel_ = std::move(token);
    return *this;
  }
  const CancelToken& cancel() const noexcept { return cancel_; }

  const std::string& process_input() const noexcept { return input_; }
  const SpawnOptions& spawn() const noexcept { return spawn_; }
  bool check_exit_code() const noexcept { return check_; }
  const std::set<int>& extra_ok_codes() const noexcept { return ok_codes_; }
  bool return_stderr() const noexcept { return return_stderr_; }
  bool log_fail_as_error() const noexcept { return log_fail_as_error_; }
  const std::vector<std::string>& root_helper() const noexcept { return root_helper_; }
  bool run_as_root() const noexcept { return run_as_root_; }
  std::optional<std::chrono::milliseconds> timeout() const noexcept { return timeout_; }
  std::chrono::milliseconds kill_grace() const noexcept { return kill_grace_; }
  std::chrono::milliseconds linger() const noexcept { return linger_; }
  std::size_t max_output_bytes() const noexcept { return max_output_; }
  const std::vector<std::string>& secrets() const noexcept { return secrets_; }
  std::size_t excerpt_bytes() const noexcept { return excerpt_bytes_; }

 private:
  std::string input_;
  SpawnOptions spawn_;
  bool check_ = true;
  std::set<int> ok_codes_;
  bool return_stderr_ = true;
  bool log_fail_as_error_ = true;
  std::vector<std::string> root_helper_;
  bool run_as_root_ = false;
  std::optional<std::chrono::milliseconds> timeout_;
  std::chrono::milliseconds kill_grace_{1000};
  std::chrono::milliseconds linger_{200};
  std::size_t max_output_ = static_cast<std::size_t>(-1);
  std::vector<std::string> secrets_;
  std::size_t excerpt_bytes_ = 1024;
  Streams streams_;
  CancelToken cancel_;
};

/// What execute() returns.
struct ExecuteResult {
  ExitStatus status;
  std::string out;  ///< the child's whole stdout
  std::string err;  ///< the child's whole stderr (empty when return_stderr is false)
  std::chrono::nanoseconds duration{0};  ///< from the start of the run to its end
  /// How long execute_async() waited for a thread before the run started
  /// (counted in its timeout); about 0 for execute().
  std::chrono::nanoseconds queued{0};
  /// The command exited but something it started kept stdout/stderr open
  /// past linger(): the pipes were closed there, so output written after
  /// that was not read (see ExecuteOptions::linger).
  bool output_cut = false;
  /// What the command's cgroup leaf used (SpawnOptions::containment() with a
  /// cgroup), read once the command exited; nullopt without a leaf.
  std::optional<CgroupUsage> cgroup_usage;
  /// What the child itself used (Process::resource_usage()).
  std::optional<ResourceUsage> usage;
  int exit_code() const noexcept { return status.exit_code(); }
};

/// Runs argv to completion. Throws InvalidArgument, SpawnError,
/// ProcessExecutionError, TimeoutError, OutputLimitError or IoError; on every
/// path the child is reaped and no descriptor is left open.
ExecuteResult execute(std::vector<std::string> argv, const ExecuteOptions& options = {});

/// execute() on the blocking-call pool (see blocking.hpp): the caller's thread
/// never blocks. The future rethrows whatever execute() threw, with its type.
///
/// The timeout counts from this call, not from when a worker takes the run:
/// time spent queued is part of it (ExecuteResult::queued says how much),
/// and a run still queued at its deadline fails with TimeoutError without
/// starting anything. So a command with timeout T fails by T + kill_grace
/// after the call, however busy the pool.
///
/// The pool's bound: it has hardware_concurrency() workers (at least 2, at
/// most 16; blocking_pool_size() tells), each running one command to its
/// end. Past that, runs wait in one unbounded first-in-first-out queue:
/// long commands that hold every worker delay every later run - to its
/// deadline at most, when it has a timeout; without one, for as long as
/// they run. Give each run a timeout, or run long commands on an executor
/// of your own (below) so they cannot occupy the pool.
std::future<ExecuteResult> execute_async(std::vector<std::string> argv,
                                         ExecuteOptions options = {});

/// Runs (or queues) the task it is given, on a thread of its choosing.
using Executor = std::function<void(std::function<void()>)>;

/// execute() on the caller's executor: `executor` is called once, on this
/// thread, with a task to run exactly once (inline in the call is fine).
/// The same deadline rule as above: the time until the task runs counts
/// against the timeout. A task destroyed without being run fails the future
/// with std::future_error (broken_promise); an exception from `executor`
/// itself propagates from this call. An empty executor is InvalidArgument.
///
///   asio::thread_pool io(4);
///   auto f = safeexec::execute_async({"tar", "xf", path}, opts,
///       [&io](std::function<void()> task) { asio::post(io, std::move(task)); });
std::future<ExecuteResult> execute_async(std::vector<std::string> argv, ExecuteOptions options,
                                         const Executor& executor);

/// argv joined for messages and logs, one shell word per argument as
/// Python's shlex.join writes them: bare when made only of
/// [A-Za-z0-9_@%+=:,./-], else '...' (a ' inside as '"'"'), else - when the
/// argument holds a control byte or a byte >= 0x80 - $'...' with \\, \',
/// \n, \t, \r and \xNN. So the text holds no raw control byte (no forged
/// log line, no terminal escape) and two different argv never give the same
/// text (`{"a' 'b"}` is `'a'"'"' '"'"'b'`, `{"a", "b"}` is `a b`). Before
/// quoting, every occurrence of every non-empty `secrets` entry is masked as
/// "***" (overlapping and nested ones as one range). Public so that callers
/// log commands the same way.
std::string describe_argv(const std::vector<std::string>& argv,
                          const std::vector<std::string>& secrets = {});

/// At most `limit` bytes of `data` for a message: a backslash as \\, newline,
/// tab and CR as \n, \t, \r, any other control byte or byte >= 0x80 as
/// \xNN, with "...[N more bytes]" when cut. Holds no raw control byte.
/// execute()'s own excerpts also mask its secrets and every copy of its
/// process_input (of 4 bytes or more: a shorter input would mask every copy
/// of a common byte) that the child echoed: those are found in the raw
/// output before it is cut, so a copy cut by the limit is masked too. A copy
/// the child changed (re-encoded, split, partly echoed) is not recognised:
/// declare such data in secrets() as well, or keep excerpt_bytes(0).
std::string excerpt(std::string_view data, std::size_t limit);

}  // namespace safeexec
