// fd_probe.hpp - the automatic spawn strategy's look at the caller
// (spawn_launch.cpp): what a direct spawn would cost is set by the caller's
// highest open descriptor (clone copies the table up to it; execve's
// close-on-exec pass walks the copy), not by the table's capacity, which
// never shrinks (/proc/self/status FDSize stays at 16384 after 10 000
// descriptors were opened and closed again).
#pragma once

namespace safeexec::detail {

/// Whether a descriptor numbered `n` or higher is open in this process:
/// 1 yes, 0 no, -1 unknown (no /proc). /proc/self/fd is read from its entry
/// `n` on (lseek to n + 2: positions 0 and 1 are "." and ".."), so the
/// kernel looks from `n` upwards: four system calls, not a listing.
int descriptor_at_or_above(int n) noexcept;

}  // namespace safeexec::detail
