// containment.cpp (Windows) - refusing the POSIX-only containment options.
#include "containment.hpp"

#include <optional>

#include "safeexec/errors.hpp"
#include "safeexec/process.hpp"

namespace safeexec {
namespace detail::win {
namespace {

[[noreturn]] void unsupported(const char* option, const char* why) {
  throw InvalidArgument(std::string(option) + " is not supported on Windows (" + why + ")");
}

}  // namespace

void refuse_unmappable(const Containment& c) {
  if (c.cgroup())
    unsupported("Containment::cgroup()", "cgroups are Linux's; the job object is used");
  if (!c.rlimits().empty()) unsupported("Containment::rlimit()", "there are no rlimits");
  if (c.umask()) unsupported("Containment::umask()", "files get ACLs, not a umask");
  if (c.no_new_privs()) unsupported("Containment::no_new_privs()", "no such process flag");
  if (c.parent_death_signal() != 0) {
    unsupported("Containment::parent_death_signal()", "there are no signals");
  }
  if (c.setsid()) unsupported("Containment::setsid()", "there are no sessions");
  if (c.credentials()) unsupported("Containment::credentials()", "there are no uids or gids");
}

}  // namespace detail::win

std::optional<CgroupUsage> Process::cgroup_usage() const {
  return std::nullopt;  // no cgroup on Windows: refuse_unmappable() never lets one be asked for
}

std::optional<ResourceUsage> Process::resource_usage() const {
  return std::nullopt;  // GetProcessTimes / job accounting: not done yet
}

}  // namespace safeexec
