// step_waits.cpp - what a caller's loop polls for between steps (POSIX):
// room in stdin, input on stdout and stderr.
#include "step_waits.hpp"

namespace safeexec::detail {

std::vector<WaitItem> step_wait_set(ProcessState& s) {
  std::vector<WaitItem> w;
  if (s.stdin_fd >= 0) w.push_back({s.stdin_fd, false, true});
  if (s.stdout_fd >= 0) w.push_back({s.stdout_fd, true, false});
  if (s.stderr_fd >= 0) w.push_back({s.stderr_fd, true, false});
  return w;
}

}  // namespace safeexec::detail
