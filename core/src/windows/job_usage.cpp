// job_usage.cpp (Windows) - Process::resource_usage() and cgroup_usage():
// the child's own usage, read once when the handle first sees it exit
// (process.cpp's record(); the process handle keeps the counters of an exited
// process), and its job's accounting, read on demand while the handle holds
// the job.
#include "job_usage.hpp"

// psapi.h needs windows.h first.
#include <psapi.h>

#include <chrono>

#include "process_state.hpp"
#include "safeexec/process.hpp"

namespace safeexec {
namespace detail::win {
namespace {

/// FILETIME and LARGE_INTEGER durations count 100 ns.
std::chrono::microseconds from_100ns(ULONGLONG ticks) {
  return std::chrono::microseconds(static_cast<std::chrono::microseconds::rep>(ticks / 10));
}

ULONGLONG ticks(const FILETIME& t) {
  return (static_cast<ULONGLONG>(t.dwHighDateTime) << 32) | t.dwLowDateTime;
}

}  // namespace

std::optional<ResourceUsage> read_process_usage(HANDLE process) noexcept {
  FILETIME created{};
  FILETIME exited{};
  FILETIME kernel{};
  FILETIME user{};
  if (!::GetProcessTimes(process, &created, &exited, &kernel, &user)) return std::nullopt;
  PROCESS_MEMORY_COUNTERS memory{};
  memory.cb = sizeof memory;
  const std::uint64_t peak =
      ::K32GetProcessMemoryInfo(process, &memory, sizeof memory) ? memory.PeakWorkingSetSize : 0;
  return ResourceUsage{from_100ns(ticks(user)), from_100ns(ticks(kernel)), peak};
}

std::optional<CgroupUsage> read_job_usage(HANDLE job) noexcept {
  JOBOBJECT_BASIC_ACCOUNTING_INFORMATION accounting{};
  if (!::QueryInformationJobObject(job, JobObjectBasicAccountingInformation, &accounting,
                                   sizeof accounting, nullptr)) {
    return std::nullopt;
  }
  CgroupUsage u;
  u.cpu_user = from_100ns(static_cast<ULONGLONG>(accounting.TotalUserTime.QuadPart));
  u.cpu_system = from_100ns(static_cast<ULONGLONG>(accounting.TotalKernelTime.QuadPart));
  JOBOBJECT_EXTENDED_LIMIT_INFORMATION limits{};
  if (::QueryInformationJobObject(job, JobObjectExtendedLimitInformation, &limits, sizeof limits,
                                  nullptr)) {
    u.memory_peak_bytes = limits.PeakJobMemoryUsed;
  }
  return u;  // oom_kills stays unknown: a job refuses allocations, it kills nothing
}

}  // namespace detail::win

std::optional<CgroupUsage> Process::cgroup_usage() const {
  if (!state_ || state_->job == nullptr) return std::nullopt;
  return detail::win::read_job_usage(static_cast<HANDLE>(state_->job));
}

std::optional<ResourceUsage> Process::resource_usage() const {
  return state_ ? state_->usage : std::nullopt;
}

}  // namespace safeexec
