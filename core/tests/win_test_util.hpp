// win_test_util.hpp - shared bits of the Windows suite: the helper child,
// Wine detection (for tests Wine cannot judge: labelled windows-native and
// skipped under Wine with the reason), temporary directories, NUL-split.
#pragma once

#include <windows.h>

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include "safeexec/safeexec.hpp"
#include "support/split_nul.hpp"
#include "win_leak_check.hpp"

namespace safeexec_test {

inline std::string helper() {
  return SAFEEXEC_TEST_CHILD;
}

/// helper() followed by `args`.
inline std::vector<std::string> child_cmd(std::vector<std::string> args) {
  args.insert(args.begin(), helper());
  return args;
}

/// True under Wine (ntdll exports wine_get_version there only).
inline bool under_wine() {
  HMODULE ntdll = GetModuleHandleW(L"ntdll.dll");
  return ntdll != nullptr && GetProcAddress(ntdll, "wine_get_version") != nullptr;
}

#define SAFEEXEC_SKIP_UNDER_WINE(reason)                                               \
  do {                                                                                 \
    if (::safeexec_test::under_wine()) GTEST_SKIP() << "windows-native: " << (reason); \
  } while (0)

using safeexec_test_support::split_nul;

/// A fresh directory under %TEMP%, removed with everything in it at scope end.
class TempDir {
 public:
  TempDir() {
    static int n = 0;
    path_ = std::filesystem::temp_directory_path() /
            ("safeexec-test-" + std::to_string(GetCurrentProcessId()) + "-" + std::to_string(++n));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::string str() const { return path_.string(); }

 private:
  std::filesystem::path path_;
};

}  // namespace safeexec_test
