// pool.cpp - the bounded worker pool behind avoid_blocking_call(),
// run_blocking() and execute_async(). The rules it keeps are stated in
// safeexec/blocking.hpp; the why is here.
//
// - Never destroyed. A static pool object was destroyed by exit(), which
//   joined the workers: returning from main with a queued execute_async
//   waited for every queued command, and in a forked child (where the
//   workers do not exist) exit() hung for ever in ~WorkerPool. The pool is a
//   heap object that is leaked on purpose; an atexit hook only stops it.
// - fork(): the atfork child handler forgets the parent's pool (it is
//   abandoned, not destroyed: its mutex or condition variable may be held by
//   threads that are not in the child), so the child starts its own.
// - Start-up: workers are started one by one, and the pool runs with the
//   ones that started; a std::thread that failed to start throws std::system_error,
//   which becomes a typed SystemError only when no worker started at all.
// - Nested jobs (submitted from a worker) never queue behind the workers
//   that wait for them: they take an idle worker or run inline.
// Workers never die of a job's exception: PoolTask stores it in the future,
// and run_job() catches anything else (F04).
#ifndef _WIN32
#include <pthread.h>  // pthread_atfork (Windows has no fork())
#endif

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <mutex>
#include <string>
#include <system_error>
#include <thread>

#include "log_internal.hpp"
#include "safeexec/blocking.hpp"
#include "safeexec/errors.hpp"
#ifndef _WIN32
#include "sys.hpp"  // the thread_create fault seam (POSIX backend)
#endif

namespace safeexec {
namespace {

using detail::PoolJob;

thread_local bool t_on_pool_thread = false;

/// How long a pool that started short waits before trying to add a worker again.
constexpr std::chrono::seconds kRetryStartAfter{1};

void run_job(PoolJob& job) noexcept {
  try {
    job(nullptr);
  } catch (...) {
    detail::log(LogLevel::error, "safeexec: a pool job threw; the worker keeps running");
  }
}

void refuse_job(PoolJob& job) noexcept {
  try {
    job(std::make_exception_ptr(PoolStoppedError(
        "safeexec: the process is exiting; the worker pool did not start this job")));
  } catch (...) {
    // Out of memory for the error: the future is left broken, never hung.
  }
}

/// Starts one detached thread running `body`; returns 0 or the errno.
template <class Body>
int start_thread(Body body) noexcept {
#ifndef _WIN32
  if (sys::thread_create_fault() != 0) return errno;
#endif
  try {
    std::thread(std::move(body)).detach();
    return 0;
  } catch (const std::system_error& e) {
    return e.code().value() != 0 ? e.code().value() : EAGAIN;
  } catch (...) {
    return ENOMEM;
  }
}

class WorkerPool {
 public:
  explicit WorkerPool(std::size_t target) : target_(target) {}
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;
  // No destructor is ever run: see the file comment.

  /// Starts up to target_ workers; returns 0 when at least one runs, else the errno.
  int start() {
    const std::lock_guard<std::mutex> lock(mutex_);
    while (started_ < target_) {
      const int error = start_worker_locked();
      if (error != 0) return started_ > 0 ? 0 : error;
    }
    return 0;
  }

  void submit(PoolJob job) {
    enum class Then { notify, run_inline, refuse } then = Then::notify;
    {
      const std::lock_guard<std::mutex> lock(mutex_);
      if (stopping_) {
        then = Then::refuse;
      } else if (t_on_pool_thread) {
        // Nested: the submitter may wait for this job. Hand it to an idle
        // worker that no other nested job has claimed, or run it here.
        if (started_ - busy_ > nested_.size()) {
          nested_.push_back(std::move(job));
        } else {
          then = Then::run_inline;
        }
      } else {
        jobs_.push_back(std::move(job));
        if (busy_ == started_) retry_start_locked();
      }
    }
    switch (then) {
      case Then::notify:
        wake_.notify_one();
        break;
      case Then::run_inline:
        run_job(job);
        break;
      case Then::refuse:
        refuse_job(job);
        break;
    }
  }

  /// At exit: no job starts any more; queued ones fail typed.
  void stop() noexcept {
    std::deque<PoolJob> nested;
    std::deque<PoolJob> outer;
    {
      const std::lock_guard<std::mutex> lock(mutex_);
      if (stopping_) return;
      stopping_ = true;
      nested.swap(nested_);
      outer.swap(jobs_);
    }
    wake_.notify_all();
    for (PoolJob& j : nested) refuse_job(j);
    for (PoolJob& j : outer) refuse_job(j);
  }

  std::size_t size() const {
    const std::lock_guard<std::mutex> lock(mutex_);
    return started_;
  }
  std::size_t target() const noexcept { return target_; }

  /// Pools abandoned by fork() in this process's ancestry, newest first.
  WorkerPool* abandoned_before = nullptr;

 private:
  int start_worker_locked() {
    const int error = start_thread([this] { run(); });
    if (error == 0) ++started_;
    return error;
  }

  /// A pool that started short tries again to reach its size, at most once a
  /// second (the limit that stopped it may have been lifted).
  void retry_start_locked() {
    if (started_ >= target_) return;
    const auto now = std::chrono::steady_clock::now();
    if (now < next_retry_) return;
    if (start_worker_locked() != 0) next_retry_ = now + kRetryStartAfter;
  }

  void run() {
    t_on_pool_thread = true;
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
      PoolJob job;
      if (!nested_.empty()) {
        job = std::move(nested_.front());
        nested_.pop_front();
      } else if (!jobs_.empty()) {
        job = std::move(jobs_.front());
        jobs_.pop_front();
      } else if (stopping_) {
        return;
      } else {
        wake_.wait(lock);
        continue;
      }
      ++busy_;
      lock.unlock();
      run_job(job);
      job = nullptr;  // the job's captures die outside the lock
      lock.lock();
      --busy_;
    }
  }

  const std::size_t target_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<PoolJob> nested_;  // from workers: served first
  std::deque<PoolJob> jobs_;    // from other threads
  // Workers not running a job (started_ - busy_) are waiting, or about to
  // look at the queues under mutex_: each takes a nested job first.
  std::size_t busy_ = 0;
  std::size_t started_ = 0;
  std::chrono::steady_clock::time_point next_retry_{};
  bool stopping_ = false;
};

// The current pool. Guarded for creation by g_create_mutex, which the atfork
// handlers hold across fork() so that the child never sees it half-made.
std::mutex g_create_mutex;
std::atomic<WorkerPool*> g_pool{nullptr};
// Abandoned pools stay reachable, so a leak checker (LeakSanitizer at a
// forked child's exit) sees them as the deliberate leak they are.
#ifndef _WIN32
WorkerPool* g_abandoned = nullptr;
bool g_atfork_registered = false;  // under g_create_mutex; inherited by children
#endif

void stop_at_exit() noexcept {
  if (WorkerPool* p = g_pool.load(std::memory_order_acquire)) p->stop();
}

#ifndef _WIN32
void before_fork() noexcept {
  g_create_mutex.lock();
}
void after_fork_in_parent() noexcept {
  g_create_mutex.unlock();
}
void after_fork_in_child() noexcept {
  // Abandoned, never destroyed: the parent's workers are not in this process.
  if (WorkerPool* p = g_pool.exchange(nullptr, std::memory_order_relaxed)) {
    p->abandoned_before = g_abandoned;
    g_abandoned = p;
  }
  t_on_pool_thread = false;  // a worker that forked is a plain thread here
  g_create_mutex.unlock();
}
#endif

std::size_t pool_target() noexcept {
  return std::clamp<std::size_t>(std::thread::hardware_concurrency(), 2, 16);
}

WorkerPool& pool() {
  if (WorkerPool* p = g_pool.load(std::memory_order_acquire)) return *p;
  std::unique_lock<std::mutex> lock(g_create_mutex);
  if (WorkerPool* p = g_pool.load(std::memory_order_relaxed)) return *p;
#ifndef _WIN32
  if (!g_atfork_registered) {
    g_atfork_registered =
        ::pthread_atfork(before_fork, after_fork_in_parent, after_fork_in_child) == 0;
  }
#endif
  auto* fresh = new WorkerPool(pool_target());
  const int error = fresh->start();
  if (error != 0) {
    delete fresh;  // no worker started, so no thread refers to it
    lock.unlock();
    throw SystemError(
        "safeexec: could not start any worker thread of the pool (the next call tries again)",
        error);
  }
  // Registered for every pool (a forked child's too): the hook stops
  // whichever pool is current when exit() runs, and does nothing twice.
  (void)std::atexit(stop_at_exit);
  g_pool.store(fresh, std::memory_order_release);
  const std::size_t started = fresh->size();
  lock.unlock();
  if (started < fresh->target()) {
    detail::log(LogLevel::warning, "safeexec: the worker pool started " + std::to_string(started) +
                                       " of " + std::to_string(fresh->target()) +
                                       " threads (thread limit reached); running with those");
  }
  return *fresh;
}

}  // namespace

namespace detail {
void submit_to_pool(PoolJob job) {
  pool().submit(std::move(job));
}
bool on_pool_thread() noexcept {
  return t_on_pool_thread;
}
}  // namespace detail

std::size_t blocking_pool_size() noexcept {
  try {
    return pool().size();
  } catch (...) {
    return 0;
  }
}

}  // namespace safeexec
