// containment.cpp (Windows) - refusing the containment options with no Windows meaning.
#include "containment.hpp"

#include <optional>

#include "safeexec/errors.hpp"

namespace safeexec {
namespace detail::win {
namespace {

[[noreturn]] void unsupported(const char* option, const char* why) {
  throw InvalidArgument(std::string(option) + " is not supported on Windows (" + why + ")");
}

}  // namespace

void refuse_unmappable(const Containment& c) {
  if (const auto& g = c.cgroup()) {
    // The limits map to the command's job object (job_limits.cpp); these two have no job meaning.
    if (!g->parent().empty()) {
      unsupported("CgroupOptions::parent()", "no cgroup tree: each command has its own job");
    }
    if (g->memory_swap_max()) {
      unsupported("CgroupOptions::memory_swap_max()",
                  "job memory is commit charge, with no separate swap part");
    }
  }
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
}  // namespace safeexec
