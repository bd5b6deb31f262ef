// queue_deadline.cpp - the timer behind expire_at() (queue_deadline.hpp).
//
// Like the worker pool (pool.cpp) it is never destroyed, so exit() does not
// join its thread; in a child forked while it ran, it is abandoned (its
// thread does not exist there) and a fresh one starts on first use.
#ifndef _WIN32
#include <pthread.h>
#endif

#include <condition_variable>
#include <memory>
#include <mutex>
#include <queue>
#include <thread>
#include <utility>
#include <vector>

#include "log_internal.hpp"
#include "queue_deadline.hpp"

namespace safeexec::detail {
namespace {

struct Entry {
  Deadline at;
  std::weak_ptr<Expirable> what;
  bool operator>(const Entry& o) const noexcept { return at > o.at; }
};

class Timer {
 public:
  void add(Entry e) {
    {
      const std::lock_guard<std::mutex> lock(mutex_);
      heap_.push(std::move(e));
    }
    wake_.notify_one();
  }

  void run() {
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
      if (heap_.empty()) {
        wake_.wait(lock);
        continue;
      }
      if (const Deadline next = heap_.top().at; Clock::now() < next) {
        // A copy: wait_until reads its deadline again after waking, and an
        // add() meanwhile may have moved the heap's storage (ASan: a
        // heap-use-after-free in the concurrency properties).
        wake_.wait_until(lock, next);
        continue;
      }
      std::weak_ptr<Expirable> due = heap_.top().what;
      heap_.pop();
      lock.unlock();
      if (const std::shared_ptr<Expirable> what = due.lock()) what->expire();
      lock.lock();
    }
  }

 private:
  std::mutex mutex_;
  std::condition_variable wake_;
  std::priority_queue<Entry, std::vector<Entry>, std::greater<>> heap_;
};

std::mutex g_create_mutex;
Timer* g_timer = nullptr;  // under g_create_mutex; leaked on purpose (see above)

#ifndef _WIN32
bool g_atfork_registered = false;
void before_fork() noexcept {
  g_create_mutex.lock();
}
void after_fork_in_parent() noexcept {
  g_create_mutex.unlock();
}
void after_fork_in_child() noexcept {
  g_timer = nullptr;  // abandoned: its thread is not in this process
  g_create_mutex.unlock();
}
#endif

/// The timer, started on first use; nullptr when no thread could start.
Timer* timer() noexcept {
  const std::lock_guard<std::mutex> lock(g_create_mutex);
  if (g_timer != nullptr) return g_timer;
#ifndef _WIN32
  if (!g_atfork_registered) {
    g_atfork_registered =
        ::pthread_atfork(before_fork, after_fork_in_parent, after_fork_in_child) == 0;
  }
#endif
  try {
    auto fresh = std::make_unique<Timer>();
    std::thread([t = fresh.get()] { t->run(); }).detach();
    g_timer = fresh.release();
  } catch (...) {
    detail::log(LogLevel::warning,
                "safeexec: cannot start the queue-deadline timer thread; a queued run past its "
                "deadline fails when a worker takes it");
  }
  return g_timer;
}

}  // namespace

void expire_at(Deadline at, std::weak_ptr<Expirable> what) noexcept {
  Timer* t = timer();
  if (t == nullptr) return;
  try {
    t->add(Entry{at, std::move(what)});
  } catch (...) {  // bad_alloc: the run is checked when a worker takes it
  }
}

}  // namespace safeexec::detail
