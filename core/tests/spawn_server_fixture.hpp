// spawn_server_fixture.hpp - the fixture of the spawn server's own tests
// (test_spawn_server*.cpp): a server the test owns, none at the snapshot and
// none left at the end (killed and reaped by the library, not by the test).
//
// SetUp skips, saying why, where no server can run (no x86-64 clone3, a
// ci/kernels profile refusing clone3 or pidfds, a TSan build) unless the
// test checks exactly that fallback. TearDown resets the channel, waits for
// the library's background reapers (a killed server a tracer held past the
// channel's bound is theirs), and then asks for an unchanged descriptor
// table and no child left: waitpid(-1, WNOHANG) says ECHILD, or 0 with only
// the sanitizer runtime's own symbolizer alive (as LeakChecked allows).
#pragma once

#include <sys/wait.h>

#include <cerrno>
#include <chrono>
#include <thread>

#include <gtest/gtest.h>

#include "leak_check.hpp"
#include "safeexec/testing/fault_injection.hpp"
#include "safeexec/testing/spawn_server.hpp"

namespace safeexec_test {

class SpawnServerTest : public ::testing::Test {
 protected:
  /// False for a test that checks what happens where no server starts.
  virtual bool needs_a_server() const { return true; }

  void SetUp() override {
    safeexec::testing::reset_spawn_server();
    safeexec::testing::clear_faults();
    if (needs_a_server() && safeexec::testing::start_spawn_server() < 0) {
      safeexec::testing::reset_spawn_server();
      GTEST_SKIP() << "the spawn server cannot run here: every spawn is direct (checked by "
                      "SpawnServer.ServerThatCannotStartMeansDirectSpawn)";
    }
    safeexec::testing::reset_spawn_server();
    fds_before_ = open_fds();
  }

  void TearDown() override {
    if (IsSkipped()) return;
    safeexec::testing::reset_spawn_server();
    const auto settle_by = std::chrono::steady_clock::now() + std::chrono::seconds(15);
    while (safeexec::testing::background_reapers() != 0 &&
           std::chrono::steady_clock::now() < settle_by) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    EXPECT_EQ(open_fds(), fds_before_);
    int status = 0;
    errno = 0;
    const pid_t r = ::waitpid(-1, &status, WNOHANG);
    const int error = errno;
    const std::vector<census::ProcInfo> left = census::our_children();
    const bool only_runtime = r == 0 && left.empty() && census::sanitizer_runtime_child_running();
    EXPECT_TRUE((r == -1 && error == ECHILD) || only_runtime)
        << "a child was left behind: waitpid(-1, WNOHANG) returned " << r << " (errno " << error
        << "); children in /proc: " << census::describe(left);
  }

  FdTable fds_before_;
};

}  // namespace safeexec_test
