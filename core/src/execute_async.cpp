// execute_async.cpp - execute() off the caller's thread: on the blocking-call
// pool (blocking.hpp) or on an executor of the caller's. Either way the
// deadline is fixed when the call is made, so the time a run waits for a
// thread counts against its timeout: a run still queued at its deadline is
// failed then by the queue timer (queue_deadline.hpp) and never starts, so
// a queue behind long commands cannot turn a 5 s timeout into an unbounded
// wait.
#include <atomic>
#include <chrono>
#include <exception>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "execute_internal.hpp"
#include "log_internal.hpp"
#include "queue_deadline.hpp"
#include "safeexec/blocking.hpp"
#include "safeexec/errors.hpp"
#include "safeexec/execute.hpp"

namespace safeexec {
namespace {

/// One submitted run. Exactly one of run(), expire() and refuse() settles
/// the promise: whichever claims it first.
class AsyncRun final : public detail::Expirable {
 public:
  AsyncRun(std::vector<std::string> argv, ExecuteOptions options)
      : submitted_(Clock::now()), argv_(std::move(argv)), options_(std::move(options)) {}

  std::future<ExecuteResult> future() { return promise_.get_future(); }
  /// Arms the queue timer when the run has a deadline.
  static void watch(const std::shared_ptr<AsyncRun>& run) noexcept {
    if (!run->options_.timeout()) return;
    const Deadline at =
        saturating_deadline(run->submitted_, clamp_to_clock(*run->options_.timeout()));
    if (at != Deadline::max()) detail::expire_at(at, run);
  }

  /// On the worker: runs the command unless the deadline came first.
  void run() noexcept {
    if (claimed_.exchange(true)) return;
    std::optional<ExecuteResult> result;
    std::exception_ptr error;
    {
      // The options (with a CancelToken's eventfd) die before the future is
      // ready: a caller that checks its descriptors after get() sees none.
      const ExecuteOptions options = std::move(options_);
      try {
        result = detail::execute_submitted(submitted_, std::move(argv_), options);
      } catch (...) {
        error = std::current_exception();
      }
    }
    settle(std::move(result), error);
  }

  void expire() noexcept override {
    if (claimed_.exchange(true)) return;
    try {
      TimeoutError e(
          "command timed out after " + std::to_string(options_.timeout()->count()) +
              " ms while queued and was never started: " + describe_argv(argv_, options_.secrets()),
          *options_.timeout());
      detail::log(LogLevel::error, e.what());
      // The queue still holds the run until a worker pops it (and finds it
      // claimed): what it owns - a CancelToken's eventfd too - goes now.
      // run() never touches them once the run is claimed.
      options_ = ExecuteOptions();
      argv_.clear();
      promise_.set_exception(std::make_exception_ptr(std::move(e)));
    } catch (...) {
      settle(std::nullopt, std::current_exception());
    }
  }

  /// The pool will not run it (the process is exiting).
  void refuse(const std::exception_ptr& why) noexcept {
    if (!claimed_.exchange(true)) settle(std::nullopt, why);
  }

 private:
  void settle(std::optional<ExecuteResult> result, const std::exception_ptr& error) noexcept {
    try {
      if (error) {
        promise_.set_exception(error);
      } else {
        promise_.set_value(std::move(*result));
      }
    } catch (...) {  // already satisfied: cannot happen, claimed_ makes one setter
    }
  }

  const Clock::time_point submitted_;
  std::vector<std::string> argv_;
  ExecuteOptions options_;
  std::promise<ExecuteResult> promise_;
  std::atomic<bool> claimed_{false};
};

}  // namespace

std::future<ExecuteResult> execute_async(std::vector<std::string> argv, ExecuteOptions options) {
  auto run = std::make_shared<AsyncRun>(std::move(argv), std::move(options));
  std::future<ExecuteResult> result = run->future();
  AsyncRun::watch(run);
  detail::submit_to_pool([run](const std::exception_ptr& refused) {
    if (refused) {
      run->refuse(refused);
    } else {
      run->run();
    }
  });
  return result;
}

std::future<ExecuteResult> execute_async(std::vector<std::string> argv, ExecuteOptions options,
                                         const Executor& executor) {
  if (!executor) throw InvalidArgument("execute_async: the executor is empty");
  auto run = std::make_shared<AsyncRun>(std::move(argv), std::move(options));
  std::future<ExecuteResult> result = run->future();
  AsyncRun::watch(run);
  // Copyable, as std::function needs. Dropped unrun, the last copy takes
  // the promise with it: the future fails with broken_promise, never hangs
  // (unless the deadline came first: then it is a TimeoutError).
  executor([run] { run->run(); });
  return result;
}

}  // namespace safeexec
