// safeexec/blocking.hpp - avoid_blocking_call(): blocking work off the caller's thread.
//
// The contract (F03): `f` runs on one of a bounded set of worker threads
// (hardware_concurrency(), at least 2, at most 16), or inline when the caller
// is already such a worker (so nested calls cannot deadlock the pool). `f`
// must therefore be safe to run on another thread than the caller's - the
// library cannot check that for you; safeexec's own execute() is. An
// exception thrown by `f` reaches the caller with its type and message, and
// the worker that ran it keeps serving (F04).
#pragma once

#include <cstddef>
#include <functional>
#include <future>
#include <memory>
#include <tuple>
#include <type_traits>
#include <utility>

namespace safeexec {

namespace detail {
/// Queues `job` on the process-wide worker pool (started on first use).
void submit_to_pool(std::function<void()> job);
/// True on a pool worker thread.
bool on_pool_thread() noexcept;
}  // namespace detail

/// The number of worker threads of the pool.
std::size_t blocking_pool_size() noexcept;

/// Runs f(args...) on the worker pool; the future yields its result or
/// rethrows its exception. Arguments are copied/moved into the job.
template <class F, class... Args>
auto run_blocking(F&& f, Args&&... args)
    -> std::future<std::invoke_result_t<std::decay_t<F>, std::decay_t<Args>...>> {
  using R = std::invoke_result_t<std::decay_t<F>, std::decay_t<Args>...>;
  auto task = std::make_shared<std::packaged_task<R()>>(
      [fn = std::forward<F>(f), tup = std::make_tuple(std::forward<Args>(args)...)]() mutable {
        return std::apply(fn, std::move(tup));
      });
  std::future<R> result = task->get_future();
  detail::submit_to_pool([task] { (*task)(); });
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
