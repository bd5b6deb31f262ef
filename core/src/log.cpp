// log.cpp - the log sink: a level filter, one installed sink, never a lock
// held while a sink runs.
//
// Why no lock around the sink (issue 12, item 14): a sink that calls
// execute() logs again, and a sink that waits for execute_async() makes a
// worker log on another thread; either deadlocked on a mutex held around the
// sink call. The mutex now only guards the shared_ptr that holds the sink and
// its count of running calls: a caller copies it under the lock and calls it
// outside. A line logged from
// inside a sink on the same thread goes to the default sink (stderr, warning
// and error only) instead of recursing into the sink.
#include <pthread.h>

#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include "log_internal.hpp"

namespace safeexec {
namespace {

/// The installed sink and how many calls of it are running (under g_mutex).
struct Installed {
  explicit Installed(LogSink f) : sink(std::move(f)) {}
  LogSink sink;  // never changed while installed
  int running = 0;
};
using SinkPtr = std::shared_ptr<Installed>;

// Trivially destructible (libstdc++), so workers that still log while exit()
// runs static destructors never see it destroyed.
std::mutex g_mutex;
std::atomic<bool> g_custom{false};  // a sink is installed (mirrors the slot)
std::atomic<int> g_level{static_cast<int>(LogLevel::debug)};
// The sink this thread is inside of, if any: lines it logs meanwhile are nested.
thread_local const Installed* t_running = nullptr;

// Leaked on purpose, for the same reason as g_mutex: the pool's workers may
// log during exit().
SinkPtr& sink_slot() {
  static auto* slot = new SinkPtr();
  return *slot;
}
std::condition_variable& call_ended() {
  static auto* cv = new std::condition_variable();
  return *cv;
}

// The mutex is held only for short bookkeeping, but a fork() in that instant
// would leave it locked for ever in the child: hold it across fork().
void register_fork_handlers() {
#ifndef _WIN32  // Windows has no fork()
  static const bool registered = ::pthread_atfork([] { g_mutex.lock(); }, [] { g_mutex.unlock(); },
                                                  [] { g_mutex.unlock(); }) == 0;
  (void)registered;
#endif
}

void default_sink(LogLevel level, std::string_view line) {
  if (level < LogLevel::warning) return;
  std::string text = std::string("safeexec ") + to_string(level) + ": ";
  text.append(line);
  text.push_back('\n');
  (void)std::fwrite(text.data(), 1, text.size(), stderr);
}

}  // namespace

const char* to_string(LogLevel level) noexcept {
  switch (level) {
    case LogLevel::debug:
      return "debug";
    case LogLevel::info:
      return "info";
    case LogLevel::warning:
      return "warning";
    case LogLevel::error:
      return "error";
  }
  return "unknown";
}

LogSink set_log_sink(LogSink sink) {
  register_fork_handlers();
  SinkPtr next = sink ? std::make_shared<Installed>(std::move(sink)) : nullptr;
  std::unique_lock<std::mutex> lock(g_mutex);
  SinkPtr previous = std::exchange(sink_slot(), next);
  g_custom.store(next != nullptr, std::memory_order_release);
  if (!previous) return {};
  // Once this returns, the previous sink is no longer being called (a sink
  // often captures an object its owner destroys next), except by the call
  // this thread may be making right now: a sink that replaces itself.
  const int mine = t_running == previous.get() ? 1 : 0;
  call_ended().wait(lock, [&] { return previous->running <= mine; });
  lock.unlock();
  if (mine != 0) return previous->sink;  // still running here: a copy
  return std::move(previous->sink);
}

void set_log_level(LogLevel level) noexcept {
  g_level.store(static_cast<int>(level));
}

namespace detail {

bool log_enabled(LogLevel level) noexcept {
  if (static_cast<int>(level) < g_level.load()) return false;
  // The default sink prints warning and error only: nothing below that is
  // worth formatting unless a sink of the caller's is installed.
  return level >= LogLevel::warning || g_custom.load(std::memory_order_acquire);
}

void log(LogLevel level, std::string_view line) noexcept {
  if (!log_enabled(level)) return;
  SinkPtr sink;
  if (t_running == nullptr && g_custom.load(std::memory_order_acquire)) {
    const std::lock_guard<std::mutex> lock(g_mutex);
    sink = sink_slot();
    if (sink) ++sink->running;
  }
  try {
    if (!sink) {
      default_sink(level, line);
      return;
    }
    t_running = sink.get();
    sink->sink(level, line);
  } catch (...) {
    // A sink must not throw; if one does, the line is dropped rather than
    // turning a log call into a failure of the operation being logged.
  }
  if (!sink) return;
  t_running = nullptr;
  {
    const std::lock_guard<std::mutex> lock(g_mutex);
    --sink->running;
  }
  call_ended().notify_all();
}

}  // namespace detail
}  // namespace safeexec
