// safeexec/testing/windows_hooks.hpp - TEST ONLY (Windows): seams inside
// create_process. Only the `safeexec::testing` library runs them.
//   * after create: a pause between CreateProcessW (the child exists,
//     suspended) and AssignProcessToJobObject. A test that sleeps here
//     proves the child cannot run outside its job: it is still suspended,
//     whatever the sleep.
//   * job information: every SetInformationJobObject create_process makes
//     on the command's job (kill-on-close, then each containment limit,
//     core/src/windows/job_limits.cpp) is shown to the hook first, which may
//     fail it - as a job that cannot take the limit would.
#pragma once

#include <functional>

namespace safeexec::testing {

/// Called once per spawn at that point, when set. Not thread-safe: set it
/// in a single-threaded test and clear it (empty function) after.
void set_after_create_hook(std::function<void()> hook);

/// `job` is the job HANDLE, `info_class` the JOBOBJECTINFOCLASS and `info`
/// the structure about to be passed. Return 0 to let the call go to Windows,
/// or a Win32 error code to make it fail with that error instead. Same
/// threading rule as above.
using JobInformationHook =
    std::function<unsigned long(void* job, int info_class, const void* info)>;
void set_job_information_hook(JobInformationHook hook);

}  // namespace safeexec::testing
