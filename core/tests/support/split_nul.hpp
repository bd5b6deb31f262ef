// split_nul.hpp - the helper children's list output ("a\0b\0": argv, env),
// split back into entries. Portable: the POSIX and Windows suites and the
// property tests share it.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

namespace safeexec_test_support {

/// Splits "a\0b\0" into {"a", "b"} (each entry NUL-terminated, as the helpers
/// write); an unterminated last entry is kept and reported as a failure.
inline std::vector<std::string> split_nul(std::string_view data) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start < data.size()) {
    std::size_t end = data.find('\0', start);
    if (end == std::string_view::npos) {
      ADD_FAILURE() << "unterminated entry in helper output";
      end = data.size();
    }
    out.emplace_back(data.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

}  // namespace safeexec_test_support
