// job_limits.hpp (Windows) - Containment's limits as settings of the
// command's job object, validated before anything exists and set before the
// child does.
#pragma once

#include <windows.h>

#include <optional>
#include <string>
#include <vector>

#include "safeexec/containment.hpp"

namespace safeexec::detail::win {

/// The job settings one command asks for.
class JobLimitPlan {
 public:
  /// Throws InvalidArgument for an option with no Windows meaning
  /// (refuse_unmappable) or a value the job cannot hold (0, out of range).
  explicit JobLimitPlan(const Containment& c);

  /// Sets kill-on-close, then each limit, on `job`, which holds no process
  /// yet. Throws SpawnError(process_group) when the job refuses
  /// kill-on-close, ContainmentError naming the limit when it refuses one.
  void apply(HANDLE job, const std::string& program) const;

 private:
  struct Step {
    DWORD flag;        ///< the JOB_OBJECT_LIMIT_* bit it adds
    std::string name;  ///< the option as the caller wrote it, for the error
  };
  JOBOBJECT_EXTENDED_LIMIT_INFORMATION values_{};  ///< every value, no flag
  std::vector<Step> steps_;
  std::optional<JOBOBJECT_CPU_RATE_CONTROL_INFORMATION> cpu_rate_;
  std::string cpu_rate_name_;
};

}  // namespace safeexec::detail::win
