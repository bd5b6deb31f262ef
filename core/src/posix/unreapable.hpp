// unreapable.hpp - why a child that has exited cannot be reaped yet.
//
// A foreign ptrace tracer (a debugger, strace, a sandbox monitor attached
// with PTRACE_SEIZE) is told of our child's exit before we are: until it
// collects the zombie with waitpid(), detaches or exits, our waitid() does
// not see the child, although its pidfd already polls readable. Waiting on
// such a child must neither spin on that pidfd nor pass its bound, and
// whoever gives up waiting should say what held it.
#pragma once

#include <sys/types.h>

#include <string>

namespace safeexec::detail {

/// "exited, not yet reapable: traced by pid N" (without the tracer when
/// /proc does not name one) when the child is known to have exited
/// (`exited`, from its pidfd) or /proc says it is a zombie; "" otherwise.
std::string describe_unreapable(pid_t pid, bool exited) noexcept;

}  // namespace safeexec::detail
