// background_reaper.hpp - reaping a child nobody waits for any more: one
// that outlived its handle's bounded destroy, or one detached on purpose
// (Process::detach()). A thread of its own reaps it whenever it exits, so
// it never stays a zombie.
#pragma once

#include <string>

#include "child_ref.hpp"
#include "log_internal.hpp"
#include "process_state.hpp"

namespace safeexec::detail {

/// Why the child could not be reaped: what held it, from /proc - asked
/// only when its pidfd says it exited, or when it has no pidfd to say so.
std::string why_unreaped(const ProcessState& s, bool held) noexcept;

/// Reaps a child we expect to be dead or dying, never throwing; used by the
/// destructor. Returns false when it could not be reaped by `deadline`
/// (s.unreapable says why when it had exited).
bool reap_quietly(ProcessState& s, Deadline deadline) noexcept;

/// Reaps `child` on a detached thread whenever it exits (or its tracer
/// lets go of it); `message` is logged at `level` first. Without a thread
/// (none can be started) the zombie is left for the host, logged at error.
void reap_in_background(ChildRef child, LogLevel level, const std::string& message) noexcept;

/// As reap_in_background, for a child of the library's own (the spawn
/// server) whose status nobody wants: nothing is logged, here or when it is
/// reaped, so it may be called where a log sink must not run.
void reap_in_background_quietly(ChildRef child) noexcept;

}  // namespace safeexec::detail
