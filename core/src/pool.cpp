// pool.cpp - the bounded worker pool behind avoid_blocking_call() and
// execute_async(). Workers never die of a job's exception: run_blocking()
// wraps jobs in packaged_task, which stores the exception in the future, and
// the loop below catches anything else (F04).
#include <algorithm>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

#include "log_internal.hpp"
#include "safeexec/blocking.hpp"

namespace safeexec {
namespace {

thread_local bool t_on_pool_thread = false;

class WorkerPool {
 public:
  explicit WorkerPool(std::size_t n) {
    workers_.reserve(n);
    for (std::size_t i = 0; i < n; ++i) workers_.emplace_back([this] { run(); });
  }
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;
  ~WorkerPool() {
    {
      const std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    for (std::thread& t : workers_) t.join();
  }

  void submit(std::function<void()> job) {
    {
      const std::lock_guard<std::mutex> lock(mutex_);
      jobs_.push_back(std::move(job));
    }
    wake_.notify_one();
  }

  std::size_t size() const noexcept { return workers_.size(); }

 private:
  void run() {
    t_on_pool_thread = true;
    for (;;) {
      std::function<void()> job;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        wake_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
        if (jobs_.empty()) return;  // stopping, and the queue is drained
        job = std::move(jobs_.front());
        jobs_.pop_front();
      }
      try {
        job();
      } catch (...) {
        detail::log(LogLevel::error, "safeexec: a pool job threw; the worker keeps running");
      }
    }
  }

  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::function<void()>> jobs_;
  bool stopping_ = false;
  std::vector<std::thread> workers_;
};

WorkerPool& pool() {
  static WorkerPool instance(std::clamp<std::size_t>(std::thread::hardware_concurrency(), 2, 16));
  return instance;
}

}  // namespace

namespace detail {
void submit_to_pool(std::function<void()> job) {
  pool().submit(std::move(job));
}
bool on_pool_thread() noexcept {
  return t_on_pool_thread;
}
}  // namespace detail

std::size_t blocking_pool_size() noexcept {
  return pool().size();
}

}  // namespace safeexec
