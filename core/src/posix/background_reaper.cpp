// background_reaper.cpp - reaping children nobody waits for any more
// (background_reaper.hpp).
#include "background_reaper.hpp"

#include <chrono>
#include <string>
#include <thread>
#include <utility>

#include "child_ref.hpp"
#include "log_internal.hpp"
#include "process_state.hpp"
#include "unreapable.hpp"

namespace safeexec::detail {

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

void reap_in_background(ChildRef child, LogLevel level, const std::string& message) noexcept {
  const pid_t pid = child.pid();
  detail::log(level, message);
  try {
    std::thread([c = std::move(child)]() mutable {
      ProcessState s;
      s.child = std::move(c);
      (void)reap_quietly(s, Deadline::max());
    }).detach();
  } catch (...) {
    // No thread: the pidfd closes with `child`; the zombie is left for the
    // host to reap. Nothing else can be done without blocking.
    detail::log(LogLevel::error, "safeexec: cannot start a reaper thread for child " +
                                     std::to_string(pid) + "; it will stay a zombie");
  }
}

}  // namespace safeexec::detail
