// signal_range.hpp - the one check of a caller's signal number, shared by
// kill_process() and the Process handle.
#pragma once

#include <string>

#include "safeexec/errors.hpp"

namespace safeexec::detail {

/// Signals are 1..64 on Linux (SIGRTMAX); 0 only checks that the target exists.
inline constexpr int kMaxSignal = 64;

/// Throws InvalidArgument for a signal outside 0..kMaxSignal.
inline void validate_signal(int signal) {
  if (signal < 0 || signal > kMaxSignal) {
    throw InvalidArgument("signal " + std::to_string(signal) + " is out of range 0.." +
                          std::to_string(kMaxSignal));
  }
}

}  // namespace safeexec::detail
