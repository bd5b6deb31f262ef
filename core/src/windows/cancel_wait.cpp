// cancel_wait.cpp - cancellation on Windows: the wake object is a
// manual-reset event (not inheritable) that cancel() sets for good and the
// pump waits on with its pipes; and the wait for the child's exit that a
// cancel interrupts (a child can close its pipes and go on running).
#include <windows.h>

#include <algorithm>
#include <array>
#include <chrono>

#include "cancel_state.hpp"
#include "process_access.hpp"
#include "process_state.hpp"
#include "safeexec/errors.hpp"
#include "safeexec/process.hpp"

namespace safeexec::detail {

WakeHandle make_wake() {
  HANDLE h = ::CreateEventW(nullptr, TRUE, FALSE, nullptr);
  if (h == nullptr) {
    throw IoError("cannot create the event a cancellation wakes", int(::GetLastError()));
  }
  return reinterpret_cast<WakeHandle>(h);
}

void fire_wake(WakeHandle w) noexcept {
  (void)::SetEvent(reinterpret_cast<HANDLE>(w));
}

void close_wake(WakeHandle w) noexcept {
  (void)::CloseHandle(reinterpret_cast<HANDLE>(w));
}

ExitWait ProcessAccess::await_exit_or_cancel(Process& p, std::optional<Deadline> deadline) {
  ProcessState& s = state(p);
  if (!s.cancel || s.process == nullptr || !s.status.running()) return ExitWait::exited;
  const std::array<HANDLE, 2> waits{reinterpret_cast<HANDLE>(s.cancel->wake()),
                                    static_cast<HANDLE>(s.process)};
  for (;;) {
    if (s.cancel->cancelled()) return ExitWait::cancelled;
    DWORD ms = INFINITE;
    if (deadline) {
      const auto left = std::chrono::ceil<std::chrono::milliseconds>(*deadline - Clock::now());
      if (left.count() <= 0) return ExitWait::deadline;
      ms = static_cast<DWORD>(std::min<long long>(left.count(), 0x7FFFFFFE));
    }
    const DWORD r = ::WaitForMultipleObjects(2, waits.data(), FALSE, ms);
    if (r == WAIT_OBJECT_0 + 1)
      return s.cancel->cancelled() ? ExitWait::cancelled : ExitWait::exited;
    if (r == WAIT_FAILED) throw IoError("wait on the child's exit failed", int(::GetLastError()));
  }
}

}  // namespace safeexec::detail
