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

/// The whole of a /proc file (a few KiB; the Groups line makes it longer
/// for a member of many groups), or false.
bool read_whole(const char* path, std::string& out) noexcept {
  const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  out.clear();
  char chunk[2048];
  bool ok = true;
  for (;;) {
    const ssize_t n = ::read(fd, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) ok = false;
    if (n <= 0) break;
    try {
      out.append(chunk, static_cast<std::size_t>(n));
    } catch (...) {  // std::bad_alloc: no server for this spawn
      ok = false;
      break;
    }
  }
  (void)::close(fd);
  return ok && !out.empty();
}

namespace {

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
    std::string text;
    if (!read_whole("/proc/thread-self/status", text) && !read_whole("/proc/self/status", text)) {
      return false;
    }
    const std::string_view all(text);
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
