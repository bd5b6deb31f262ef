// safeexec/testing/windows_hooks.hpp - TEST ONLY (Windows): a pause inside
// create_process, between CreateProcessW (the child exists, suspended) and
// AssignProcessToJobObject. Only the `safeexec::testing` library runs it.
// A test that sleeps here proves the child cannot run outside its job: it
// is still suspended, whatever the sleep.
#pragma once

#include <functional>

namespace safeexec::testing {

/// Called once per spawn at that point, when set. Not thread-safe: set it
/// in a single-threaded test and clear it (empty function) after.
void set_after_create_hook(std::function<void()> hook);

}  // namespace safeexec::testing
