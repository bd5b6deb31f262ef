// job_usage.hpp (Windows) - what a command used, from its process and its job.
#pragma once

#include <windows.h>

#include <optional>

#include "safeexec/containment.hpp"

namespace safeexec::detail::win {

/// The process's own CPU times (GetProcessTimes) and peak working set
/// (GetProcessMemoryInfo; 0 where Windows does not say); nullopt when even
/// the times cannot be read. Meant for a process that has exited.
std::optional<ResourceUsage> read_process_usage(HANDLE process) noexcept;

/// What every process the job ever held used so far: basic accounting's
/// user/kernel time and the extended limit information's PeakJobMemoryUsed;
/// nullopt when the job cannot be queried.
std::optional<CgroupUsage> read_job_usage(HANDLE job) noexcept;

}  // namespace safeexec::detail::win
