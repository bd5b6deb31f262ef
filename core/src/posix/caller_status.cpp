// caller_status.cpp - see caller_status.hpp.
#include "caller_status.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string_view>

namespace safeexec::detail {
namespace {

/// The whole file into `buf` (NUL-terminated); its length, or -1.
long read_whole(const char* path, char* buf, std::size_t size) noexcept {
  const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  std::size_t len = 0;
  for (;;) {
    const ssize_t n = ::read(fd, buf + len, size - 1 - len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    len += static_cast<std::size_t>(n);
    if (len == size - 1) break;  // too long to be status: compared as read
  }
  (void)::close(fd);
  buf[len] = '\0';
  return static_cast<long>(len);
}

constexpr std::array<std::string_view, 11> kIdentityFields = {
    "Uid:",    "Gid:",    "Groups:",     "CapInh:",  "CapPrm:",         "CapEff:",
    "CapBnd:", "CapAmb:", "NoNewPrivs:", "Seccomp:", "Seccomp_filters:"};

bool is_identity_line(std::string_view line) noexcept {
  for (const std::string_view f : kIdentityFields) {
    if (line.substr(0, f.size()) == f) return true;
  }
  return false;
}

}  // namespace

bool read_caller_status(CallerStatus& out) noexcept {
  try {
    static thread_local std::array<char, 16384> buf;
    long len = read_whole("/proc/thread-self/status", buf.data(), buf.size());
    if (len < 0) len = read_whole("/proc/self/status", buf.data(), buf.size());
    if (len <= 0) return false;
    const std::string_view all(buf.data(), static_cast<std::size_t>(len));
    bool have_umask = false;
    out.identity.clear();
    out.ignored = 0;
    std::size_t start = 0;
    while (start < all.size()) {
      std::size_t end = all.find('\n', start);
      if (end == std::string_view::npos) end = all.size();
      const std::string_view line = all.substr(start, end - start);
      if (line.substr(0, 6) == "Umask:") {
        out.umask = static_cast<int>(std::strtol(line.data() + 6, nullptr, 8));
        have_umask = true;
      } else if (line.substr(0, 7) == "SigIgn:") {
        out.ignored = std::strtoull(line.data() + 7, nullptr, 16);
      } else if (is_identity_line(line)) {
        out.identity.append(line).push_back('\n');
      }
      start = end + 1;
    }
    return have_umask;
  } catch (...) {  // std::bad_alloc: no server for this spawn
    return false;
  }
}

}  // namespace safeexec::detail
