// background_reaper.cpp - reaping children nobody waits for any more
// (background_reaper.hpp).
#include "background_reaper.hpp"

#include <atomic>
#include <chrono>
#include <optional>
#include <string>
#include <thread>
#include <utility>

#include "child_ref.hpp"
#include "log_internal.hpp"
#include "process_state.hpp"
#include "unreapable.hpp"

#if defined(SAFEEXEC_FAULT_INJECTION) && SAFEEXEC_FAULT_INJECTION
#include "safeexec/testing/fault_injection.hpp"
#endif

namespace safeexec::detail {
namespace {
/// Reaper threads started and not yet done (each holds its child's pidfd
/// until the reap). Leak checks wait for zero before they compare
/// descriptor tables (testing::background_reapers()).
std::atomic<unsigned> g_background_reapers{0};
}  // namespace

std::string why_unreaped(const ProcessState& s, bool held) noexcept {
  if (!held && s.child.pidfd() >= 0) return {};
  return describe_unreapable(s.child.pid(), held);
}

bool reap_quietly(ProcessState& s, Deadline deadline) noexcept {
  for (;;) {
    ReapWait w;
    if (s.child.reap_within(deadline, Clock::duration::max(), &w, s.reap_usage()) != 0) {
      // An unexpected waitid failure (only the fault seam makes one): wait
      // once more after a pause rather than spin.
      if (Clock::now() >= deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
      continue;
    }
    if (w.result == ReapResult::running) {
      s.unreapable = why_unreaped(s, w.held);
      return false;
    }
    s.status = (w.result == ReapResult::lost) ? ExitStatus::lost() : w.status;
    if (w.result == ReapResult::lost) {
      s.lost_pid = s.child.pid();
      detail::log(LogLevel::warning, "safeexec: child " + std::to_string(s.child.pid()) +
                                         " was reaped by someone else; its status is lost");
    }
    s.child.clear();
    return true;
  }
}

namespace {

/// Runs `reap(child)` on a detached thread, counted in g_background_reapers
/// until it has returned and the child's pidfd is closed (leak checks wait
/// for zero). False when no thread could be started: the pidfd closes with
/// `child` here, and the zombie is left for the host to reap.
template <class Reap>
bool start_reaper(ChildRef child, Reap reap) noexcept {
  try {
    g_background_reapers.fetch_add(1, std::memory_order_relaxed);
    std::thread([c = std::move(child), reap]() mutable {
      reap(c);
      c.clear();  // the pidfd is closed before the count says "done"
      g_background_reapers.fetch_sub(1, std::memory_order_release);
    }).detach();
    return true;
  } catch (...) {
    g_background_reapers.fetch_sub(1, std::memory_order_relaxed);
    return false;
  }
}

}  // namespace

void reap_in_background(ChildRef child, LogLevel level, const std::string& message) noexcept {
  const pid_t pid = child.pid();
  detail::log(level, message);
  const bool started = start_reaper(std::move(child), [](ChildRef& c) {
    ProcessState s;
    s.child = std::move(c);
    (void)reap_quietly(s, Deadline::max());
  });
  if (!started) {
    detail::log(LogLevel::error, "safeexec: cannot start a reaper thread for child " +
                                     std::to_string(pid) + "; it will stay a zombie");
  }
}

void reap_in_background_quietly(ChildRef child) noexcept {
  (void)start_reaper(std::move(child), [](ChildRef& c) {
    for (;;) {
      ReapWait w;
      // No deadline: sleeps on the pidfd, backs off while the zombie is held.
      if (c.reap_within(std::nullopt, Clock::duration::max(), &w) != 0) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
        continue;
      }
      if (w.result != ReapResult::running) return;
    }
  });
}

}  // namespace safeexec::detail

#if defined(SAFEEXEC_FAULT_INJECTION) && SAFEEXEC_FAULT_INJECTION
namespace safeexec::testing {
unsigned background_reapers() noexcept {
  return detail::g_background_reapers.load(std::memory_order_acquire);
}
}  // namespace safeexec::testing
#endif
