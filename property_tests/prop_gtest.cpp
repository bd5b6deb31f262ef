// See prop_gtest.hpp.
#include "prop_gtest.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <sstream>
#include <string>

#include "large_caller.hpp"

namespace safeexec_props {
namespace {

/// The progress file, opened once (close-on-exec: the property's children
/// must not inherit it, and its descriptor is in every leak snapshot).
int progress_fd() {
  static const int fd = [] {
    const char* path = std::getenv("SAFEEXEC_PROP_PROGRESS");
    return path == nullptr ? -1 : ::open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  }();
  return fd;
}

void count_start() {
  static unsigned long starts = 0;
  const int fd = progress_fd();
  if (fd < 0) return;
  char line[32];
  const int n = std::snprintf(line, sizeof line, "%lu\n", ++starts);
  // One pwrite at offset 0: the file always holds the latest count.
  if (n > 0) (void)::pwrite(fd, line, static_cast<std::size_t>(n), 0);
}

}  // namespace

void check_property(void (*property)()) {
  const ::testing::TestInfo* info = ::testing::UnitTest::GetInstance()->current_test_info();
  rc::detail::TestMetadata metadata;
  metadata.id = std::string(info->test_suite_name()) + "/" + info->name();
  metadata.description = info->name();
  (void)progress_fd();  // opened before the first case's descriptor snapshot
  if (const std::string large = make_caller_large_once(); !large.empty()) {
    FAIL() << "SAFEEXEC_PROPS_LARGE_CALLER: " << large;
  }
  const rc::detail::TestResult result = rc::detail::checkTestable(
      [property] {
        count_start();
        property();
      },
      metadata);
  if (result.is<rc::detail::SuccessResult>()) {
    rc::detail::printResultMessage(result, std::cout);
    std::cout << std::endl;
  } else {
    std::ostringstream report;
    rc::detail::printResultMessage(result, report);
    FAIL() << report.str() << std::endl;
  }
}

}  // namespace safeexec_props
