// step_waits.hpp - the backend's half of step() (safeexec/step.hpp, the
// portable half in step.cpp): what the caller's loop waits on after a pass
// that left pipes open - descriptors on POSIX, the events of the overlapped
// operations in flight on Windows.
#pragma once

#include <vector>

#include "process_state.hpp"
#include "safeexec/step.hpp"

namespace safeexec::detail {

/// One item per open pipe end of `s`, after a pump pass.
std::vector<WaitItem> step_wait_set(ProcessState& s);

}  // namespace safeexec::detail
