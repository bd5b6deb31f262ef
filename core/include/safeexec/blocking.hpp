// safeexec/blocking.hpp - avoid_blocking_call(): blocking work off the caller's thread.
//
// The contract (F03): `f` runs on one of a bounded set of worker threads
// (hardware_concurrency(), at least 2, at most 16; fewer only when the system
// refuses threads, see start-up below), or inline when the caller
// is already such a worker. `f` must therefore be safe to run on another
// thread than the caller's - the library cannot check that for you;
// safeexec's own execute() is. An exception thrown by `f` reaches the caller
// with its type and message, and the worker that ran it keeps serving (F04).
//
// Past the workers, jobs from outside the pool wait in one unbounded
// first-in-first-out queue: a job holds its worker until it returns, so as
// many long jobs as there are workers delay everything queued behind them.
// execute_async() counts that wait against the command's timeout and fails
// a command still queued at its deadline (execute.hpp); other jobs wait as
// long as it takes.
//
// Nested calls cannot deadlock the pool. A job running on a worker may call
// avoid_blocking_call (runs inline, right there) or run_blocking /
// execute_async and wait for the future: such a nested job goes to an idle
// worker ahead of jobs queued from outside the pool, and when no worker is
// idle it runs inline on the submitting worker before run_blocking returns
// (the future is then already ready). So a job never waits for a job queued
// behind it. The one thing a job on a worker must not do is submit a job and
// then expect that job to wait for something the submitter does only after
// submitting: it may have run to completion inline already.
//
// Start-up: the pool starts on first use with as many workers as the system
// lets it create, up to the size above. If only some start (RLIMIT_NPROC, a
// cgroup's pids.max), it runs with those (logged once at warning level) and
// tries to add one, at most once a second, when a job arrives while every
// worker is busy. If none starts, the call throws SystemError (errno EAGAIN,
// usually) and the next call tries again.
//
// fork(): a child of a process whose pool has started gets a fresh pool of
// its own, started on first use. The parent's pool is abandoned in the child,
// never destroyed: its threads do not exist there. Futures the child copied
// from the parent belong to the parent's work: in the child they never become
// ready (do not wait for them there).
//
// Process exit: the pool is never destroyed, so exit() (returning from main)
// does not wait for pool work. When exit begins (an atexit hook), the pool
// stops: jobs still queued are not started and their futures fail with
// PoolStoppedError; jobs already running keep running until the process ends
// (a command started by such a job is then left running, without its pipes'
// reader, like any orphan); a job submitted after that fails with
// PoolStoppedError too.
#pragma once

#include <cstddef>
#include <exception>
#include <functional>
#include <future>
#include <memory>
#include <tuple>
#include <type_traits>
#include <utility>

#include "safeexec/errors.hpp"

namespace safeexec {

/// A job the pool did not run because the process is exiting (see above).
class PoolStoppedError : public Error {
 public:
  using Error::Error;
};

namespace detail {
/// One queued job. Called exactly once: with a null pointer to run it, or
/// with the error its future must fail with when the pool will not run it.
using PoolJob = std::function<void(const std::exception_ptr&)>;
/// Queues `job` on the process-wide worker pool (started on first use), or
/// runs it inline (see the nested-call rule above). Throws SystemError when
/// the pool has no worker and none can be started.
void submit_to_pool(PoolJob job);
/// True on a worker thread of this process's pool.
bool on_pool_thread() noexcept;

/// A job's callable and the promise of its result.
template <class R, class Fn>
struct PoolTask {
  explicit PoolTask(Fn f) : fn(std::move(f)) {}
  void operator()(const std::exception_ptr& refused) {
    if (refused) {
      promise.set_exception(refused);
      return;
    }
    try {
      if constexpr (std::is_void_v<R>) {
        fn();
        promise.set_value();
      } else {
        promise.set_value(fn());
      }
    } catch (...) {
      promise.set_exception(std::current_exception());
    }
  }
  std::promise<R> promise;
  Fn fn;
};
}  // namespace detail

/// The number of worker threads of the pool (starting it if needed); 0 when
/// none could be started.
std::size_t blocking_pool_size() noexcept;

/// Runs f(args...) on the worker pool; the future yields its result or
/// rethrows its exception. Arguments are copied/moved into the job.
template <class F, class... Args>
auto run_blocking(F&& f, Args&&... args)
    -> std::future<std::invoke_result_t<std::decay_t<F>, std::decay_t<Args>...>> {
  using R = std::invoke_result_t<std::decay_t<F>, std::decay_t<Args>...>;
  auto call = [fn = std::forward<F>(f),
               tup = std::make_tuple(std::forward<Args>(args)...)]() mutable -> R {
    return std::apply(fn, std::move(tup));
  };
  // Shared: std::function needs a copyable callable, and std::promise is not.
  auto task = std::make_shared<detail::PoolTask<R, decltype(call)>>(std::move(call));
  std::future<R> result = task->promise.get_future();
  detail::submit_to_pool([task](const std::exception_ptr& refused) { (*task)(refused); });
  return result;
}

/// The seed's avoid_blocking_call: runs f(args...) on the worker pool and
/// waits for it (inline when already on a worker). Returns its result or
/// rethrows its exception with the original type.
template <class F, class... Args>
auto avoid_blocking_call(F&& f, Args&&... args)
    -> std::invoke_result_t<std::decay_t<F>, std::decay_t<Args>...> {
  if (detail::on_pool_thread()) {
    return std::invoke(std::forward<F>(f), std::forward<Args>(args)...);
  }
  return run_blocking(std::forward<F>(f), std::forward<Args>(args)...).get();
}

}  // namespace safeexec
