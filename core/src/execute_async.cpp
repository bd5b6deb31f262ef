// execute_async.cpp - execute() off the caller's thread: on the blocking-call
// pool (blocking.hpp) or on an executor of the caller's. Either way the
// deadline is fixed when the call is made, so the time a run waits for a
// thread counts against its timeout, and a run that waited past it fails
// with TimeoutError without starting: a queue behind long commands cannot
// turn a 5 s timeout into an unbounded wait.
#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "execute_internal.hpp"
#include "safeexec/blocking.hpp"
#include "safeexec/errors.hpp"
#include "safeexec/execute.hpp"

namespace safeexec {

std::future<ExecuteResult> execute_async(std::vector<std::string> argv, ExecuteOptions options) {
  const Clock::time_point submitted = Clock::now();
  return run_blocking(
      [submitted](std::vector<std::string> a, const ExecuteOptions& o) {
        return detail::execute_submitted(submitted, std::move(a), o);
      },
      std::move(argv), std::move(options));
}

std::future<ExecuteResult> execute_async(std::vector<std::string> argv, ExecuteOptions options,
                                         const Executor& executor) {
  if (!executor) throw InvalidArgument("execute_async: the executor is empty");
  const Clock::time_point submitted = Clock::now();
  // Shared: the task the executor gets is a copyable std::function, and a
  // packaged_task is move-only. Dropped unrun, it breaks the promise, so
  // the future fails (std::future_error, broken_promise) instead of hanging.
  auto task = std::make_shared<std::packaged_task<ExecuteResult()>>(
      [submitted, a = std::move(argv), o = std::move(options)]() mutable {
        return detail::execute_submitted(submitted, std::move(a), o);
      });
  std::future<ExecuteResult> result = task->get_future();
  executor([task] { (*task)(); });
  return result;
}

}  // namespace safeexec
