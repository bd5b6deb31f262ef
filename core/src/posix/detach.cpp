// detach.cpp - Process::detach() on POSIX: the handle gives its child up on
// purpose. Its destructor would SIGKILL and reap it; instead the pipes are
// closed and the unreaped child goes to a background reaper, which reaps it
// whenever it exits, so a detached child never stays a zombie and its pid
// is never left to be reused under a live handle.
#include <string>
#include <utility>

#include "background_reaper.hpp"
#include "log_internal.hpp"
#include "process_access.hpp"
#include "process_state.hpp"
#include "safeexec/errors.hpp"
#include "safeexec/process.hpp"

namespace safeexec::detail {

pid_t release_child(ProcessState& s) {
  // The leaf's destructor kills what is in it and removes it: a child in a
  // leaf cannot outlive the handle, so it is not given up half-way.
  if (s.leaf) {
    throw InvalidArgument(
        "detach: the child runs in a cgroup leaf (Containment::cgroup()), which is killed and "
        "removed with the handle; a child that must outlive its handle cannot have one");
  }
  const pid_t pid = s.child.pid();
  s.close_pipes();
  if (s.child && s.status.running()) {
    reap_in_background(std::move(s.child), LogLevel::debug,
                       "safeexec: child " + std::to_string(pid) +
                           " detached; a background thread reaps it when it exits");
  }
  s.child.clear();
  return pid;
}

}  // namespace safeexec::detail
