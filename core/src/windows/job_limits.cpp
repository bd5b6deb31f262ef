// job_limits.cpp (Windows) - the command's job object gets its limits.
//
// The job is made before CreateProcessW (spawn.cpp), so every limit is in
// place before the child exists; the child is created suspended and assigned
// before it runs. Each SetInformationJobObject(JobObjectExtendedLimit-
// Information) replaces the job's whole limit set, so the limits are added
// one at a time, each call carrying the flags of the ones before: the call
// that fails names the limit the job could not take.
#include "job_limits.hpp"

#include <algorithm>
#include <limits>
#include <string>

#include "containment.hpp"
#include "safeexec/errors.hpp"
#include "text_internal.hpp"

#ifdef SAFEEXEC_FAULT_INJECTION
#include <functional>

#include "safeexec/testing/windows_hooks.hpp"

namespace safeexec::testing {
namespace {
JobInformationHook& job_information_hook() {
  static JobInformationHook hook;
  return hook;
}
}  // namespace
void set_job_information_hook(JobInformationHook hook) {
  job_information_hook() = std::move(hook);
}
}  // namespace safeexec::testing
#endif

namespace safeexec::detail::win {
namespace {

BOOL set_job_information(HANDLE job, JOBOBJECTINFOCLASS info_class, void* info, DWORD size) {
#ifdef SAFEEXEC_FAULT_INJECTION
  if (const auto& hook = testing::job_information_hook()) {
    if (const unsigned long error = hook(job, static_cast<int>(info_class), info); error != 0) {
      ::SetLastError(static_cast<DWORD>(error));
      return FALSE;
    }
  }
#endif
  return ::SetInformationJobObject(job, info_class, info, size);
}

std::string usec(std::chrono::microseconds t) {
  return std::to_string(t.count()) + "us";
}

/// A limit of 0 would refuse or end the command before it runs.
void refuse_zero(bool zero, const std::string& name) {
  if (zero) throw InvalidArgument(name + ": 0 leaves the command nothing; leave it unset for none");
}

/// Microseconds as the job's 100-ns units.
LARGE_INTEGER hundred_ns(std::chrono::microseconds t, const std::string& name) {
  refuse_zero(t.count() <= 0, name);
  if (t.count() > std::numeric_limits<LONGLONG>::max() / 10) {
    throw InvalidArgument(name + ": too large for the job's 100-ns counter");
  }
  LARGE_INTEGER v;
  v.QuadPart = t.count() * 10;
  return v;
}

SIZE_T bytes(std::uint64_t n, const std::string& name) {
  refuse_zero(n == 0, name);
  if (n > std::numeric_limits<SIZE_T>::max()) throw InvalidArgument(name + ": too large");
  return static_cast<SIZE_T>(n);
}

/// cpu.max's quota per period is in CPUs; Windows' CpuRate is the share of
/// the whole machine in 1/100 percent (1..10000), rounded up so that a
/// quota never becomes 0. Integer arithmetic: 0.1 of a machine is 1000.
DWORD cpu_rate(const CpuMax& m, const std::string& name) {
  if (m.quota.count() <= 0 || m.period.count() <= 0) {
    throw InvalidArgument(name + ": quota and period must be positive");
  }
  using U = unsigned long long;
  const U quota = static_cast<U>(m.quota.count());
  const U period = static_cast<U>(m.period.count());
  const U cpus = std::max<U>(1, ::GetActiveProcessorCount(ALL_PROCESSOR_GROUPS));
  constexpr U kMax = std::numeric_limits<U>::max();
  if (period > kMax / cpus || quota >= period * cpus) return 10000;  // the whole machine
  const U machine = period * cpus;
  // quota < machine: a quota too large to scale first is scaled last.
  const U rate = quota <= kMax / 10000 ? (quota * 10000 + machine - 1) / machine
                                       : quota / (machine / 10000 + 1) + 1;
  return static_cast<DWORD>(std::clamp<U>(rate, 1, 10000));
}

}  // namespace

JobLimitPlan::JobLimitPlan(const Containment& c) {
  refuse_unmappable(c);
  JOBOBJECT_BASIC_LIMIT_INFORMATION& basic = values_.BasicLimitInformation;
  if (const auto& g = c.cgroup()) {
    if (g->memory_max()) {
      std::string name = "CgroupOptions::memory_max(" + std::to_string(*g->memory_max()) + ")";
      values_.JobMemoryLimit = bytes(*g->memory_max(), name);
      steps_.push_back({JOB_OBJECT_LIMIT_JOB_MEMORY, std::move(name) + " (job memory)"});
    }
    if (g->pids_max()) {
      std::string name = "CgroupOptions::pids_max(" + std::to_string(*g->pids_max()) + ")";
      refuse_zero(*g->pids_max() == 0, name);
      if (*g->pids_max() > std::numeric_limits<DWORD>::max()) {
        throw InvalidArgument(name + ": the job counts active processes in 32 bits");
      }
      basic.ActiveProcessLimit = static_cast<DWORD>(*g->pids_max());
      steps_.push_back({JOB_OBJECT_LIMIT_ACTIVE_PROCESS, std::move(name) + " (active processes)"});
    }
    if (g->cpu_max()) {
      cpu_rate_name_ = "CgroupOptions::cpu_max(" + usec(g->cpu_max()->quota) + " per " +
                       usec(g->cpu_max()->period) + ")";
      JOBOBJECT_CPU_RATE_CONTROL_INFORMATION r{};
      r.ControlFlags = JOB_OBJECT_CPU_RATE_CONTROL_ENABLE | JOB_OBJECT_CPU_RATE_CONTROL_HARD_CAP;
      r.CpuRate = cpu_rate(*g->cpu_max(), cpu_rate_name_);
      cpu_rate_ = r;
      cpu_rate_name_ += " (CPU rate hard cap " + std::to_string(r.CpuRate) + "/10000)";
    }
  }
  if (const auto& j = c.job_limits()) {
    if (j->process_memory_max()) {
      std::string name =
          "JobLimits::process_memory_max(" + std::to_string(*j->process_memory_max()) + ")";
      values_.ProcessMemoryLimit = bytes(*j->process_memory_max(), name);
      steps_.push_back({JOB_OBJECT_LIMIT_PROCESS_MEMORY, std::move(name)});
    }
    if (j->process_user_time_max()) {
      std::string name =
          "JobLimits::process_user_time_max(" + usec(*j->process_user_time_max()) + ")";
      basic.PerProcessUserTimeLimit = hundred_ns(*j->process_user_time_max(), name);
      steps_.push_back({JOB_OBJECT_LIMIT_PROCESS_TIME, std::move(name)});
    }
    if (j->job_user_time_max()) {
      std::string name = "JobLimits::job_user_time_max(" + usec(*j->job_user_time_max()) + ")";
      basic.PerJobUserTimeLimit = hundred_ns(*j->job_user_time_max(), name);
      steps_.push_back({JOB_OBJECT_LIMIT_JOB_TIME, std::move(name)});
    }
  }
}

void JobLimitPlan::apply(HANDLE job, const std::string& program) const {
  JOBOBJECT_EXTENDED_LIMIT_INFORMATION info = values_;
  // Closing the job's last handle kills every process in it.
  info.BasicLimitInformation.LimitFlags = JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE;
  if (!set_job_information(job, JobObjectExtendedLimitInformation, &info, sizeof info)) {
    throw SpawnError(SpawnStage::process_group, static_cast<int>(::GetLastError()), program);
  }
  const auto refused = [&program](const std::string& name, DWORD error) {
    throw ContainmentError(
        "cannot start " + quote_word(program) + ": the job object refused " + name,
        static_cast<int>(error));
  };
  for (const Step& step : steps_) {
    info.BasicLimitInformation.LimitFlags |= step.flag;
    if (!set_job_information(job, JobObjectExtendedLimitInformation, &info, sizeof info)) {
      refused(step.name, ::GetLastError());
    }
  }
  if (cpu_rate_) {
    JOBOBJECT_CPU_RATE_CONTROL_INFORMATION r = *cpu_rate_;
    if (!set_job_information(job, JobObjectCpuRateControlInformation, &r, sizeof r)) {
      refused(cpu_rate_name_, ::GetLastError());
    }
  }
}

}  // namespace safeexec::detail::win
