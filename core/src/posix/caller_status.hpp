// caller_status.hpp - what a spawn through the spawn server reads of its
// caller (spawn_server_client.cpp), in one read of /proc/thread-self/status
// instead of some ninety system calls.
#pragma once

#include <cstdint>
#include <string>

namespace safeexec::detail {

struct CallerStatus {
  int umask = 0;              ///< sent: the child is born with the server's fs
  std::uint64_t ignored = 0;  ///< SigIgn (bit sig-1), sent: libc's 32 and 33 included
  /// The lines a CLONE_PARENT child inherits from the server, not from the
  /// caller: Uid, Gid, Groups, the capability sets, NoNewPrivs, Seccomp and
  /// Seccomp_filters. The server is restarted when they differ from its own.
  std::string identity;
};

/// The calling thread's status (credentials and the umask can be a
/// thread's own), else the process's. False where /proc is not mounted or
/// the kernel has no Umask field (before 4.7): then nothing is sent to a
/// server. Raw open(), not the test seam's: a test that fails the library's
/// opens means the stdio plan's.
bool read_caller_status(CallerStatus& out) noexcept;

/// The whole of a small /proc file into `out` (raw open, as above); false
/// where it cannot be opened or read, or is empty.
bool read_whole(const char* path, std::string& out) noexcept;

}  // namespace safeexec::detail
