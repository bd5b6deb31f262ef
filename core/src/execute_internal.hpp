// execute_internal.hpp - execute() with the time its run was asked for, so
// that execute_async() can count the time a run waits in a queue against
// its timeout (execute_async.cpp).
#pragma once

#include <string>
#include <vector>

#include "safeexec/execute.hpp"

namespace safeexec::detail {

/// execute(), its deadline counted from `submitted`: a run that starts at
/// or past the deadline throws TimeoutError without starting anything.
ExecuteResult execute_submitted(Clock::time_point submitted, std::vector<std::string> argv,
                                const ExecuteOptions& options);

}  // namespace safeexec::detail
