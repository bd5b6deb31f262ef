// test_spawn_server.cpp - the spawn server strategy (issue 20): the child is
// the caller's own, only what the request names reaches it, and each failure
// mode (server killed mid-request or between requests, a forked caller, a
// server that cannot start) ends in a typed error or a direct spawn, never a
// lost child.
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <future>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "leak_check.hpp"
#include "safeexec/safeexec.hpp"
#include "safeexec/testing/fd_borrow.hpp"
#include "safeexec/testing/spawn_server.hpp"
#include "spawn_server_fixture.hpp"
#include "test_child.hpp"

namespace {

using namespace std::chrono_literals;
using safeexec_test::child_cmd;
namespace testing_hooks = safeexec::testing;

/// A server this test owns (spawn_server_fixture.hpp); the fallback check
/// runs where none can.
class SpawnServer : public safeexec_test::SpawnServerTest {
 protected:
  bool needs_a_server() const override {
    return std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()) !=
           "ServerThatCannotStartMeansDirectSpawn";
  }
  static safeexec::SpawnOptions via_server() {
    return safeexec::SpawnOptions{}.spawn_strategy(safeexec::SpawnStrategy::server);
  }
};

int run_exit(int code, safeexec::SpawnOptions o) {
  safeexec::Process p = safeexec::create_process(child_cmd({"exit", std::to_string(code)}), o);
  const safeexec::ExitStatus s = p.wait();
  return s.exit_code();
}

TEST_F(SpawnServer, ChildIsTheCallersOwnAndWaitWorks) {
  const unsigned before = testing_hooks::spawns_through_server();
  safeexec::Process p = safeexec::create_process(child_cmd({"pgid"}), via_server().stdout_pipe());
  const std::string out = p.communicate({}, safeexec::deadline_after(10s)).out;
  EXPECT_EQ(testing_hooks::spawns_through_server(), before + 1) << "the server was not used";
  ASSERT_GT(testing_hooks::spawn_server_pid(), 0);
  // In our process group (not the server's own), reaped by us.
  EXPECT_EQ(out, std::to_string(p.pid()) + " " + std::to_string(::getpgrp()) + "\n");
  EXPECT_TRUE(p.wait().success());
  EXPECT_EQ(run_exit(7, via_server()), 7);
}

TEST_F(SpawnServer, OnlyRequestedDescriptorsReachTheChild) {
  // An inheritable descriptor of ours, and one kept on purpose: the child
  // sees 0-2 and the kept one, on its own number, and nothing of the
  // server's (its socket, the caller's cwd it was sent).
  const int stray = ::open("/dev/null", O_RDONLY);  // no O_CLOEXEC on purpose
  const int kept = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  ASSERT_GE(stray, 3);
  ASSERT_GE(kept, 3);
  const unsigned before = testing_hooks::spawns_through_server();
  const std::string seen = safeexec_test::fds_seen_by_child(via_server().keep_fd(kept));
  EXPECT_EQ(testing_hooks::spawns_through_server(), before + 1);
  EXPECT_EQ(seen, "0 1 2 " + std::to_string(kept));
  ::close(stray);
  ::close(kept);
}

TEST_F(SpawnServer, CwdAndUmaskAreTheCallersAtEachSpawn) {
  ASSERT_EQ(run_exit(0, via_server()), 0);  // the server runs from here on
  safeexec_test::TempDir dir;
  char old_cwd[4096];
  ASSERT_NE(::getcwd(old_cwd, sizeof old_cwd), nullptr);
  ASSERT_EQ(::chdir(dir.path().c_str()), 0);
  const mode_t old_umask = ::umask(027);
  safeexec::Process p = safeexec::create_process(child_cmd({"cwd"}), via_server().stdout_pipe());
  const std::string out = p.communicate({}, safeexec::deadline_after(10s)).out;
  safeexec::Process s = safeexec::create_process(child_cmd({"sleep", "10"}), via_server());
  const std::string child_umask = safeexec_test::proc_status_field(s.pid(), "Umask");
  (void)s.terminate(0ms);
  ::umask(old_umask);
  ASSERT_EQ(::chdir(old_cwd), 0);
  EXPECT_EQ(out, std::filesystem::canonical(dir.path()).string() + "\n");
  EXPECT_EQ(child_umask, "0027");
  EXPECT_TRUE(p.wait().success());
}

TEST_F(SpawnServer, KilledMidRequestGivesTypedErrorLeavesNoChildAndRestarts) {
  ASSERT_EQ(run_exit(0, via_server()), 0);
  const int first = testing_hooks::spawn_server_pid();
  ASSERT_GT(first, 0);
  // The server clones the child, then dies before it replies: the child is
  // ours (CLONE_PARENT) but we never got its pidfd.
  testing_hooks::kill_spawn_server_before_next_reply();
  try {
    safeexec::Process p = safeexec::create_process(child_cmd({"sleep", "30"}), via_server());
    ADD_FAILURE() << "the spawn succeeded although the server died before replying";
  } catch (const safeexec::SpawnError& e) {
    EXPECT_EQ(e.stage(), safeexec::SpawnStage::spawn_server) << e.what();
  }
  // No child left at all: the orphan was killed and reaped, the dead server reaped.
  int status = 0;
  errno = 0;
  EXPECT_EQ(::waitpid(-1, &status, WNOHANG), -1);
  EXPECT_EQ(errno, ECHILD);
  // The next request starts a new server.
  EXPECT_EQ(run_exit(4, via_server()), 4);
  EXPECT_GT(testing_hooks::spawn_server_pid(), 0);
  EXPECT_NE(testing_hooks::spawn_server_pid(), first);
}

TEST_F(SpawnServer, ServerDeathLosesNoStatusOfAChildItStarted) {
  // The child exits at once; then its server dies. Had the server been the
  // child's parent, the child would now be init's and its status gone; it is
  // ours (CLONE_PARENT), so the status waits for us.
  safeexec::Process p = safeexec::create_process(child_cmd({"exit", "9"}), via_server());
  const int server = testing_hooks::spawn_server_pid();
  ASSERT_GT(server, 0);
  ASSERT_EQ(::kill(server, SIGKILL), 0);
  ASSERT_TRUE(safeexec_test::eventually([&] { return safeexec_test::proc_state(server) == 'Z'; }));
  ASSERT_TRUE(safeexec_test::eventually([&] { return safeexec_test::proc_state(p.pid()) == 'Z'; }))
      << "the child did not exit, or was reaped by someone else";
  safeexec::ExitStatus status;
  EXPECT_NO_THROW(status = p.wait());
  EXPECT_EQ(status.exit_code(), 9);
}

/// Runs `spawn` on a thread; fails the test if it is not done within 20 s
/// (then wakes the stopped server so that the thread can finish).
template <class F>
void expect_bounded(F spawn, int server) {
  std::future<void> done = std::async(std::launch::async, spawn);
  if (done.wait_for(20s) != std::future_status::ready) {
    ADD_FAILURE() << "a spawn waited on a stopped server with no bound";
    (void)::kill(server, SIGCONT);
  }
  done.get();
}

TEST_F(SpawnServer, StoppedServerIsBoundedAndTheSpawnGoesDirect) {
  ASSERT_EQ(run_exit(0, via_server()), 0);
  const int stopped = testing_hooks::spawn_server_pid();
  ASSERT_GT(stopped, 0);
  testing_hooks::set_spawn_server_reply_bound(300);
  ASSERT_EQ(::kill(stopped, SIGSTOP), 0);
  ASSERT_TRUE(safeexec_test::eventually([&] { return safeexec_test::proc_state(stopped) == 'T'; }));
  const unsigned before = testing_hooks::spawns_through_server();
  // The server never took the request: nothing ran, so the spawn is made
  // directly and succeeds; the stopped server is killed and reaped.
  expect_bounded([&] { EXPECT_EQ(run_exit(5, via_server()), 5); }, stopped);
  testing_hooks::set_spawn_server_reply_bound(0);
  EXPECT_EQ(testing_hooks::spawns_through_server(), before);
  EXPECT_NE(safeexec_test::proc_state(stopped), 'T') << "the stopped server was left behind";
  EXPECT_EQ(run_exit(6, via_server()), 6);
  EXPECT_EQ(testing_hooks::spawns_through_server(), before + 1) << "no new server";
  EXPECT_NE(testing_hooks::spawn_server_pid(), stopped);
}

TEST_F(SpawnServer, ServerHungMidRequestGivesTypedErrorAndLeavesNoChild) {
  ASSERT_EQ(run_exit(0, via_server()), 0);
  const int server = testing_hooks::spawn_server_pid();
  ASSERT_GT(server, 0);
  testing_hooks::set_spawn_server_reply_bound(300);
  // The server clones the child, then stops before its reply.
  testing_hooks::stop_spawn_server_before_next_reply();
  expect_bounded(
      [&] {
        try {
          safeexec::Process p = safeexec::create_process(child_cmd({"sleep", "30"}), via_server());
          ADD_FAILURE() << "the spawn succeeded although its reply never came";
        } catch (const safeexec::SpawnError& e) {
          EXPECT_EQ(e.stage(), safeexec::SpawnStage::spawn_server) << e.what();
          EXPECT_EQ(e.error_code(), ETIMEDOUT) << e.what();
        }
      },
      server);
  testing_hooks::set_spawn_server_reply_bound(0);
  // The child it made was killed and reaped, and so was the server.
  int status = 0;
  errno = 0;
  EXPECT_EQ(::waitpid(-1, &status, WNOHANG), -1);
  EXPECT_EQ(errno, ECHILD);
  EXPECT_EQ(run_exit(4, via_server()), 4);
  EXPECT_NE(testing_hooks::spawn_server_pid(), server);
}

TEST_F(SpawnServer, KilledBetweenRequestsIsRestarted) {
  ASSERT_EQ(run_exit(0, via_server()), 0);
  const int first = testing_hooks::spawn_server_pid();
  ASSERT_GT(first, 0);
  ASSERT_EQ(::kill(first, SIGKILL), 0);
  ASSERT_TRUE(safeexec_test::eventually([&] { return safeexec_test::proc_state(first) == 'Z'; }));
  const unsigned before = testing_hooks::spawns_through_server();
  EXPECT_EQ(run_exit(5, via_server()), 5);
  EXPECT_EQ(testing_hooks::spawns_through_server(), before + 1);
  EXPECT_NE(testing_hooks::spawn_server_pid(), first);
}

TEST_F(SpawnServer, ForkedCallerStartsItsOwnServer) {
  ASSERT_EQ(run_exit(0, via_server()), 0);
  const int parents = testing_hooks::spawn_server_pid();
  ASSERT_GT(parents, 0);
  const int status = safeexec_test::run_forked([&] {
    // Through the parent's server the command would be the parent's child:
    // this process could not wait for it.
    int code = 0;
    try {
      code = run_exit(6, via_server());
    } catch (const std::exception&) {
      return 20;
    }
    if (code != 6) return 21;
    const int ours = testing_hooks::spawn_server_pid();
    if (ours <= 0 || ours == parents) return 22;
    if (::getppid() == ours) return 23;
    return 0;
  });
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "20: spawn threw, 21: status lost, 22: parent's server";
  // Nothing of the fork's landed here, and our server still serves us.
  EXPECT_EQ(testing_hooks::spawn_server_pid(), parents);
  EXPECT_EQ(run_exit(8, via_server()), 8);
}

TEST_F(SpawnServer, CallerWithStdioClosedStillUsesTheServer) {
  // The channel's descriptors are made while 0-2 are free: they must land
  // above 2 (else the server is asked to keep a descriptor where its own
  // stdio goes, fails to start, and every spawn is direct), and the child
  // gets /dev/null on the caller's closed ones.
  safeexec_test::TempDir dir;
  const std::string o = dir.path() + "/o";
  const int status = safeexec_test::run_forked([&] {
    const int fo = ::open(o.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fo < 3) return 20;
    (void)::close(0);
    (void)::close(2);
    const unsigned before = testing_hooks::spawns_through_server();
    try {
      safeexec::Process p =
          safeexec::create_process(child_cmd({"fd-target", "0", "2"}),
                                   via_server().stdout_to(safeexec::StdioRoute::borrow(fo)));
      if (p.wait() != safeexec::ExitStatus::exited(0)) return 21;
    } catch (const std::exception&) {
      return 22;
    }
    if (testing_hooks::spawns_through_server() != before + 1) return 23;
    // None of the channel's descriptors took a standard number.
    if (::fcntl(0, F_GETFD) >= 0 || ::fcntl(2, F_GETFD) >= 0) return 24;
    return 0;
  });
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0)
      << "21: child failed, 22: spawn threw, 23: not through the server, 24: 0 or 2 taken";
  std::ifstream in(o);
  const std::string got((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(got, "0 /dev/null\n2 /dev/null\n");
}

TEST_F(SpawnServer, ServerThatCannotStartMeansDirectSpawn) {
  const char* old = std::getenv("SAFEEXEC_SPAWN_SERVER");
  const std::string saved = old != nullptr ? old : "";
  ASSERT_EQ(::setenv("SAFEEXEC_SPAWN_SERVER", "/nonexistent/safeexec-spawn-server", 1), 0);
  testing_hooks::reset_spawn_server();
  const unsigned before = testing_hooks::spawns_through_server();
  EXPECT_EQ(run_exit(3, via_server()), 3);
  EXPECT_EQ(testing_hooks::spawns_through_server(), before);
  EXPECT_EQ(testing_hooks::spawn_server_pid(), -1);
  if (old != nullptr) {
    ::setenv("SAFEEXEC_SPAWN_SERVER", saved.c_str(), 1);
  } else {
    ::unsetenv("SAFEEXEC_SPAWN_SERVER");
  }
}

TEST_F(SpawnServer, SpawnFailureIsTheDirectPathsTypedError) {
  try {
    safeexec::Process p = safeexec::create_process({"/nonexistent/program"}, via_server());
    ADD_FAILURE() << "spawned a program that does not exist";
  } catch (const safeexec::SpawnError& e) {
    EXPECT_EQ(e.stage(), safeexec::SpawnStage::exec);
    EXPECT_EQ(e.error_code(), ENOENT);
  }
  safeexec_test::TempDir dir;
  try {
    safeexec::Process p = safeexec::create_process(child_cmd({"exit", "0"}),
                                                   via_server().cwd(dir.path() + "/missing"));
    ADD_FAILURE() << "spawned into a directory that does not exist";
  } catch (const safeexec::SpawnError& e) {
    EXPECT_EQ(e.stage(), safeexec::SpawnStage::chdir);
  }
}

TEST_F(SpawnServer, AutomaticFollowsTheCallersHighestOpenDescriptor) {
  // One descriptor at kAutomaticServerFd (the soft limit raised for it
  // where the hard one allows): the server. Closed again: direct, although
  // the table keeps its grown capacity (FDSize never shrinks). Borrowing is
  // forbidden here, as where the kernel cannot: where it can, a large caller
  // borrows instead (test_fd_borrow.cpp).
  testing_hooks::forbid_fd_borrow(true);
  rlimit old{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &old), 0);
  const auto needed = static_cast<rlim_t>(safeexec::kAutomaticServerFd) + 16;
  if (old.rlim_max != RLIM_INFINITY && old.rlim_max < needed) {
    GTEST_SKIP() << "RLIMIT_NOFILE's hard limit " << old.rlim_max << " is below " << needed;
  }
  rlimit raised = old;
  if (raised.rlim_cur < needed) raised.rlim_cur = needed;
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &raised), 0);
  const int high = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  ASSERT_GE(high, 0);
  const int at = safeexec::kAutomaticServerFd + 5;
  ASSERT_EQ(::dup3(high, at, O_CLOEXEC), at);
  ::close(high);
  std::this_thread::sleep_for(30ms);  // past the probe's 10 ms: every spawn looks now
  const auto automatic =
      safeexec::SpawnOptions{}.spawn_strategy(safeexec::SpawnStrategy::automatic);
  const unsigned before = testing_hooks::spawns_through_server();
  EXPECT_EQ(run_exit(2, automatic), 2);
  EXPECT_EQ(testing_hooks::spawns_through_server(), before + 1) << "a large caller spawned direct";
  ::close(at);
  std::this_thread::sleep_for(30ms);  // past the probe's 10 ms
  EXPECT_EQ(run_exit(3, automatic), 3);
  EXPECT_EQ(testing_hooks::spawns_through_server(), before + 1)
      << "the caller closed its descriptors and still went through the server";
  // The server started while the caller's table was full up to the
  // threshold: its socket and pidfd got numbers above it. Once the caller
  // closed its own, they move down at the next spawn, and from then on the
  // caller spawns directly again.
  testing_hooks::reset_spawn_server();
  std::vector<int> fillers;
  for (int i = 0; i < safeexec::kAutomaticServerFd; ++i) {
    const int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    ASSERT_GE(fd, 0);
    fillers.push_back(fd);
  }
  std::this_thread::sleep_for(30ms);
  const unsigned full = testing_hooks::spawns_through_server();
  EXPECT_EQ(run_exit(4, automatic), 4);
  EXPECT_EQ(testing_hooks::spawns_through_server(), full + 1) << "a full table spawned direct";
  for (const int fd : fillers) ::close(fd);
  std::this_thread::sleep_for(30ms);
  EXPECT_EQ(run_exit(5, automatic), 5);  // may still go through the server: it moves its fds
  const unsigned moved = testing_hooks::spawns_through_server();
  std::this_thread::sleep_for(30ms);
  EXPECT_EQ(run_exit(6, automatic), 6);
  EXPECT_EQ(testing_hooks::spawns_through_server(), moved)
      << "the server's own descriptors kept the caller large";
  testing_hooks::forbid_fd_borrow(false);
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &old), 0);
}

}  // namespace
