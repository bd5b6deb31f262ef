// unreapable.cpp - reads who holds an exited child, from /proc/<pid>/status.
#include "unreapable.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <string>
#include <string_view>

#include "sys.hpp"

namespace safeexec::detail {
namespace {

/// The value after "<key>:\t" in a /proc status text, or "".
std::string_view field(std::string_view text, std::string_view key) noexcept {
  for (std::size_t at = 0; at < text.size();) {
    const std::size_t end = std::min(text.find('\n', at), text.size());
    const std::string_view line = text.substr(at, end - at);
    if (line.size() > key.size() && line.substr(0, key.size()) == key && line[key.size()] == ':') {
      std::string_view value = line.substr(key.size() + 1);
      while (!value.empty() && (value.front() == '\t' || value.front() == ' ')) {
        value.remove_prefix(1);
      }
      return value;
    }
    at = end + 1;
  }
  return {};
}

}  // namespace

std::string describe_unreapable(pid_t pid, bool exited) noexcept try {
  std::array<char, 4096> buf{};
  std::string_view text;
  const std::string path = "/proc/" + std::to_string(pid) + "/status";
  const int fd = sys::open_cloexec(path.c_str(), O_RDONLY);
  if (fd >= 0) {
    const ssize_t n = ::read(fd, buf.data(), buf.size() - 1);
    (void)::close(fd);
    if (n > 0) text = std::string_view(buf.data(), static_cast<std::size_t>(n));
  }
  const std::string_view state = field(text, "State");
  if (!exited && (state.empty() || state.front() != 'Z')) return {};
  const long tracer = std::strtol(std::string(field(text, "TracerPid")).c_str(), nullptr, 10);
  std::string why = "exited, not yet reapable";
  if (tracer > 0) why += ": traced by pid " + std::to_string(tracer);
  return why;
} catch (...) {  // bad_alloc: nothing to say
  return {};
}

}  // namespace safeexec::detail
