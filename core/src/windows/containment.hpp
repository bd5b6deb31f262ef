// containment.hpp (Windows) - what of safeexec::Containment the backend takes.
#pragma once

#include "safeexec/containment.hpp"

namespace safeexec::detail::win {

/// Throws InvalidArgument naming the first option that has no Windows
/// meaning (a cgroup parent() or memory_swap_max(), rlimit, umask,
/// no_new_privs, parent_death_signal, setsid, credentials), as keep_fd() is
/// refused: never a silent no-op. The limits that do map are job_limits.hpp's.
void refuse_unmappable(const Containment& c);

}  // namespace safeexec::detail::win
