// leak_check.hpp - the fixture every unit test derives from (F05).
//
// SetUp snapshots this process's descriptors (number -> readlink target, from
// /proc/self/fd, or SAFEEXEC_TEST_PROC's: support/child_census.hpp) and clears the fault-injection
// table; TearDown asserts that the descriptor table is exactly what it was and that this process
// has no child left, running or zombie (waitpid(-1, WNOHANG) fails with ECHILD). The snapshot is
// compared with itself, never with "0, 1, 2": test runners and libFuzzer may hand us extra
// descriptors.
//
// Use it with TEST_F:
//   using EnvValidation = safeexec_test::LeakChecked;
//   TEST_F(EnvValidation, RejectsEmptyKey) { ... }
#pragma once

#include <dirent.h>
#include <limits.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <map>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "safeexec/spawn_strategy.hpp"
#include "safeexec/testing/fault_injection.hpp"
#include "safeexec/testing/spawn_server.hpp"
#include "support/child_census.hpp"

namespace safeexec_test {

namespace census = safeexec_test_support;

/// Open descriptors: number -> what it points at ("pipe:[123]", "/dev/null").
using FdTable = std::map<int, std::string>;

/// This process's descriptors, without the one used to list them.
inline FdTable open_fds() {
  FdTable table;
  DIR* dir = ::opendir(census::proc_path("/self/fd").c_str());
  if (dir == nullptr) {
    ADD_FAILURE() << "cannot list " << census::proc_path("/self/fd") << ": errno " << errno;
    return table;
  }
  const int own = ::dirfd(dir);
  while (const dirent* entry = ::readdir(dir)) {
    if (entry->d_name[0] == '.') continue;
    const int fd = std::atoi(entry->d_name);
    if (fd == own) continue;
    char target[PATH_MAX];
    const std::string link = census::proc_path("/self/fd/") + entry->d_name;
    const ssize_t n = ::readlink(link.c_str(), target, sizeof target);
    table[fd] = n >= 0 ? std::string(target, static_cast<std::size_t>(n)) : "(unreadable)";
  }
  ::closedir(dir);
  return table;
}

class LeakChecked : public ::testing::Test {
 protected:
  void SetUp() override {
    safeexec::testing::clear_faults();
    // Under the server strategy (ctest label strategy.server) the spawn
    // server, its socket and its slot belong to the process, not to a test:
    // started before the snapshot, and the one child TearDown allows.
    if (safeexec::spawn_strategy() == safeexec::SpawnStrategy::server) {
      server_ = safeexec::testing::start_spawn_server();
      safeexec::testing::clear_faults();
    }
    fds_before_ = open_fds();
  }

  void TearDown() override {
    safeexec::testing::clear_faults();
    // A child that outlived a bounded destroy is reaped by a background
    // thread holding its pidfd until then (a loaded machine can make a
    // SIGKILLed child slower than destroy_wait): wait for those, bounded.
    const auto settle_by = std::chrono::steady_clock::now() + std::chrono::seconds(15);
    while (safeexec::testing::background_reapers() != 0 &&
           std::chrono::steady_clock::now() < settle_by) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    EXPECT_EQ(open_fds(), fds_before_) << "the test changed this process's descriptor table";
    int status = 0;
    errno = 0;
    const pid_t r = ::waitpid(-1, &status, WNOHANG);
    const int error = errno;
    // waitpid says 0 while the sanitizer's own symbolizer runs (see
    // support/child_census.hpp): fine only if no other child is there.
    std::vector<census::ProcInfo> left = census::our_children();
    const bool server_alive = server_ > 0 && safeexec::testing::spawn_server_pid() == server_;
    std::erase_if(left,
                  [&](const census::ProcInfo& p) { return server_alive && p.pid == server_; });
    const bool only_runtime = r == 0 && left.empty() && census::sanitizer_runtime_child_running();
    const bool only_server = r == 0 && left.empty() && server_alive;
    EXPECT_TRUE((r == -1 && error == ECHILD) || only_runtime || only_server)
        << "a child was left behind: waitpid(-1, WNOHANG) returned " << r << " (errno " << error
        << "); children in /proc: " << census::describe(left);
  }

  /// The snapshot SetUp took, for tests that check in the middle too.
  const FdTable& fds_at_start() const { return fds_before_; }

 private:
  FdTable fds_before_;
  int server_ = -1;
};

}  // namespace safeexec_test
