// fd_probe.cpp - see fd_probe.hpp.
#include "fd_probe.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstddef>
#include <cstdlib>
#include <cstring>

namespace safeexec::detail {

int descriptor_at_or_above(int n) noexcept {
  const int dir = ::open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) return -1;
  int found = 0;
  if (::lseek(dir, static_cast<off_t>(n) + 2, SEEK_SET) < 0) {
    found = -1;
  } else {
    alignas(8) char buf[512];
    const long got = ::syscall(SYS_getdents64, dir, buf, sizeof buf);
    if (got < 0) found = -1;
    for (long at = 0; got > 0 && at < got;) {
      dirent64 entry{};
      std::memcpy(&entry, buf + at, offsetof(dirent64, d_name));
      const char* name = buf + at + offsetof(dirent64, d_name);
      // Our own directory descriptor counts too: it is the lowest free
      // number, so if it is n or more, 0 .. n-1 are all open.
      if (name[0] >= '0' && name[0] <= '9' && std::strtol(name, nullptr, 10) >= n) {
        found = 1;
        break;
      }
      at += entry.d_reclen;
      if (entry.d_reclen == 0) break;
    }
  }
  (void)::close(dir);
  return found;
}

}  // namespace safeexec::detail
