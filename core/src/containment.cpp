// containment.cpp - the portable part of containment.hpp.
#include "safeexec/containment.hpp"

#include <string>

namespace safeexec {
namespace {

template <class T, class F>
std::string or_unknown(const std::optional<T>& v, F show) {
  return v ? show(*v) : std::string("unknown");
}

std::string usec(std::chrono::microseconds d) {
  return std::to_string(d.count()) + "us";
}

std::string count(std::uint64_t n) {
  return std::to_string(n);
}

}  // namespace

std::string CgroupUsage::str() const {
  return "cpu user " + or_unknown(cpu_user, usec) + " system " + or_unknown(cpu_system, usec) +
         ", memory peak " +
         or_unknown(memory_peak_bytes,
                    [](std::uint64_t b) { return std::to_string(b) + " bytes"; }) +
         ", oom kills " + or_unknown(oom_kills, count);
}

}  // namespace safeexec
