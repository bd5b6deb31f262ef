// pump_state.hpp - the I/O pump's progress, kept on a Process handle (both
// backends' ProcessState hold one) so that a communicate() that timed out
// can be continued, as CPython keeps _input_offset on Popen.
#pragma once

#include <cstddef>
#include <string>

#include "safeexec/process.hpp"

namespace safeexec::detail {

struct PumpState {
  bool started = false;  ///< a communicate() has run and not finished
  std::string input;     ///< the input of that call (kept only after a timeout)
  std::size_t input_offset = 0;
  Output collected;  ///< output read by earlier calls
};

}  // namespace safeexec::detail
