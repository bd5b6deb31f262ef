// containment_prep.cpp - the parent's half of containment: every value
// validated and laid out before clone, the cgroup leaf made (limits in).
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <string>

#include "cgroup_leaf.hpp"
#include "child_containment.hpp"
#include "safeexec/errors.hpp"
#include "signal_range.hpp"

namespace safeexec::detail {
namespace {

void validate_rlimit(const Rlimit& r) {
  const std::string name = "rlimit(" + std::to_string(r.resource) + ", " + std::to_string(r.soft) +
                           ", " + std::to_string(r.hard) + ")";
  if (r.resource < 0 || r.resource >= RLIMIT_NLIMITS) {
    throw InvalidArgument(name + ": no such resource (RLIMIT_* is 0.." +
                          std::to_string(RLIMIT_NLIMITS - 1) + ")");
  }
  // RLIM_INFINITY is the largest value, so "soft <= hard" covers it.
  if (r.soft > r.hard) throw InvalidArgument(name + ": the soft limit exceeds the hard one");
}

}  // namespace

PreparedContainment::PreparedContainment(const Containment& c, const std::string& program) {
  plan_.cgroup_procs_fd = -1;
  plan_.umask = -1;
  if (c.job_limits()) {
    throw InvalidArgument(
        "Containment::job_limits() is not supported on Linux (a Windows job object's; use "
        "cgroup() limits or rlimit())");
  }
  for (const Rlimit& r : c.rlimits()) {
    validate_rlimit(r);
    rlimits_.push_back(ChildRlimit{r.resource, rlimit64{r.soft, r.hard}});
  }
  if (c.umask() && (*c.umask() & ~std::uint32_t{0777}) != 0) {
    throw InvalidArgument("umask(0" + std::to_string(*c.umask()) +
                          "): only permission bits (0..0777)");
  }
  if (c.parent_death_signal() != 0) {
    validate_signal(c.parent_death_signal());
    plan_.pdeath_signal = c.parent_death_signal();
    plan_.parent_pid = ::getpid();
  }
  if (c.credentials()) {
    groups_.assign(c.credentials()->groups.begin(), c.credentials()->groups.end());
    plan_.set_credentials = true;
    plan_.gid = c.credentials()->gid;
    plan_.uid = c.credentials()->uid;
    if (plan_.uid == static_cast<uid_t>(-1) || plan_.gid == static_cast<gid_t>(-1)) {
      throw InvalidArgument(
          "credentials: uid and gid -1 mean \"unchanged\" to the kernel; name them");
    }
  }
  plan_.rlimits = rlimits_.data();
  plan_.rlimit_count = rlimits_.size();
  plan_.groups = groups_.data();
  plan_.group_count = groups_.size();
  if (c.umask()) plan_.umask = static_cast<int>(*c.umask());
  plan_.setsid = c.setsid();
  plan_.no_new_privs = c.no_new_privs();
  // Last: everything above may still refuse, and nothing exists yet.
  if (c.cgroup()) {
    leaf_ = CgroupLeaf::create(*c.cgroup(), program);
    plan_.cgroup_procs_fd = leaf_->procs_fd();
  }
  active_ = leaf_ || !rlimits_.empty() || c.umask() || c.parent_death_signal() != 0 ||
            c.credentials() || c.setsid() || c.no_new_privs();
}

PreparedContainment::~PreparedContainment() = default;

int PreparedContainment::cgroup_dir_fd() const noexcept {
  return leaf_ ? leaf_->dir_fd() : -1;
}

std::unique_ptr<CgroupLeaf> PreparedContainment::take_leaf() noexcept {
  return std::move(leaf_);
}

}  // namespace safeexec::detail
