// The general API of create_process() and execute(): exit statuses, the
// execute() options, the child's starting state (working directory, signal
// mask and dispositions, process group), and transparent retry of system
// calls interrupted by a signal.
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <string>
#include <vector>

#include "leak_check.hpp"
#include "test_child.hpp"

namespace {

using namespace std::chrono_literals;
using safeexec::ExitStatus;
using safeexec::testing::Call;
using safeexec::testing::call_count;
using safeexec::testing::faults_fired;
using safeexec::testing::inject_fault;
using safeexec_test::bounded;
using safeexec_test::child_cmd;
using Spawn = safeexec_test::LeakChecked;

TEST_F(Spawn, ExitCodesAreReported) {
  for (const int code : {0, 1, 42, 255}) {
    safeexec::Process p = safeexec::create_process(child_cmd({"exit", std::to_string(code)}));
    EXPECT_EQ(p.wait(), ExitStatus::exited(code));
    EXPECT_EQ(p.status().exit_code(), code);
    EXPECT_EQ(p.status().success(), code == 0);
  }
}

TEST_F(Spawn, DeathBySignalIsReported) {
  try {
    (void)safeexec::execute(child_cmd({"signal", "9"}), bounded());
    ADD_FAILURE() << "no exception";
  } catch (const safeexec::ProcessExecutionError& e) {
    EXPECT_EQ(e.status().signal(), 9);
    EXPECT_EQ(e.status().kind(), ExitStatus::Kind::signaled);
    EXPECT_EQ(e.exit_code(), -1);
    EXPECT_NE(std::string(e.what()).find("killed by signal 9 (SIGKILL)"), std::string::npos)
        << e.what();
  }
  safeexec::Process p = safeexec::create_process(child_cmd({"signal", "15"}));
  EXPECT_EQ(p.wait(), ExitStatus::signaled(SIGTERM));
}

TEST_F(Spawn, ExitStatusText) {
  EXPECT_EQ(ExitStatus().str(), "running");
  EXPECT_EQ(ExitStatus::exited(3).str(), "exited with code 3");
  EXPECT_EQ(ExitStatus::signaled(9).str(), "killed by signal 9 (SIGKILL)");
  EXPECT_TRUE(ExitStatus().running());
  EXPECT_FALSE(ExitStatus::signaled(9).success());
}

TEST_F(Spawn, ExtraOkCodesAreAccepted) {
  const auto r = safeexec::execute(child_cmd({"exit", "3"}), bounded().extra_ok_codes({1, 3}));
  EXPECT_EQ(r.exit_code(), 3);
  EXPECT_THROW((void)safeexec::execute(child_cmd({"exit", "4"}), bounded().extra_ok_codes({1, 3})),
               safeexec::ProcessExecutionError);
  // A signal is never an "ok code".
  EXPECT_THROW(
      (void)safeexec::execute(child_cmd({"signal", "9"}), bounded().extra_ok_codes({-1, 9, 137})),
      safeexec::ProcessExecutionError);
}

TEST_F(Spawn, CheckExitCodeFalseReturnsAnyStatus) {
  const auto r = safeexec::execute(child_cmd({"exit", "5"}), bounded().check_exit_code(false));
  EXPECT_EQ(r.status, ExitStatus::exited(5));
  const auto k = safeexec::execute(child_cmd({"signal", "9"}), bounded().check_exit_code(false));
  EXPECT_EQ(k.status, ExitStatus::signaled(9));
}

TEST_F(Spawn, ReturnStderrControlsTheResult) {
  const auto with = safeexec::execute(child_cmd({"spew", "10", "20"}), bounded());
  EXPECT_EQ(with.out.size(), 10U);
  EXPECT_EQ(with.err.size(), 20U);
  const auto without =
      safeexec::execute(child_cmd({"spew", "10", "20"}), bounded().return_stderr(false));
  EXPECT_EQ(without.out.size(), 10U);
  EXPECT_TRUE(without.err.empty());
}

TEST_F(Spawn, WorkingDirectory) {
  safeexec_test::TempDir dir;
  char* real = ::realpath(dir.path().c_str(), nullptr);
  ASSERT_NE(real, nullptr);
  const std::string expected = std::string(real) + "\n";
  std::free(real);
  EXPECT_EQ(safeexec::execute(child_cmd({"cwd"}),
                              bounded().spawn(safeexec::SpawnOptions{}.cwd(dir.path())))
                .out,
            expected);
  char here[PATH_MAX];
  ASSERT_NE(::getcwd(here, sizeof here), nullptr);
  EXPECT_EQ(safeexec::execute(child_cmd({"cwd"}), bounded()).out, std::string(here) + "\n");
}

TEST_F(Spawn, BadWorkingDirectoryIsASpawnError) {
  safeexec_test::TempDir dir;
  const std::string file = dir.write_file("file", "");
  const std::vector<std::pair<std::string, int>> cases = {{"/nonexistent/safeexec-dir", ENOENT},
                                                          {file, ENOTDIR}};
  for (const auto& [cwd, error] : cases) {
    SCOPED_TRACE(cwd);
    try {
      (void)safeexec::execute(child_cmd({"cwd"}),
                              bounded().spawn(safeexec::SpawnOptions{}.cwd(cwd)));
      ADD_FAILURE() << "no exception";
    } catch (const safeexec::SpawnError& e) {
      EXPECT_EQ(e.stage(), safeexec::SpawnStage::chdir);
      EXPECT_EQ(e.error_code(), error);
      EXPECT_NE(std::string(e.what()).find("chdir"), std::string::npos) << e.what();
    }
  }
  EXPECT_THROW((void)safeexec::execute(
                   child_cmd({"cwd"}),
                   bounded().spawn(safeexec::SpawnOptions{}.cwd(std::string("/t\0mp", 5)))),
               safeexec::InvalidArgument);
}

TEST_F(Spawn, RunAsRootPrefixesTheRootHelper) {
  // env(1) as the "root helper": it execs the rest of the command line.
  const auto r = safeexec::execute(child_cmd({"argv", "as-root"}),
                                   bounded().run_as_root(true).root_helper({"/usr/bin/env"}));
  EXPECT_EQ(r.out, std::string("as-root") + '\0');
  // The helper appears in failure messages, as it is part of what ran.
  try {
    (void)safeexec::execute(child_cmd({"exit", "2"}),
                            bounded().run_as_root(true).root_helper({"/usr/bin/env"}));
    ADD_FAILURE() << "no exception";
  } catch (const safeexec::ProcessExecutionError& e) {
    EXPECT_EQ(std::string(e.what()).find(
                  safeexec::describe_argv({"/usr/bin/env", safeexec_test::child_path()})),
              std::string("command failed: ").size())
        << e.what();
  }
  // Without run_as_root the helper is not used.
  EXPECT_EQ(
      safeexec::execute(child_cmd({"argv", "x"}), bounded().root_helper({"/nonexistent"})).out,
      std::string("x") + '\0');
}

TEST_F(Spawn, RunAsRootWithoutRootHelperIsRefused) {
  EXPECT_THROW((void)safeexec::execute(child_cmd({"exit", "0"}), bounded().run_as_root(true)),
               safeexec::InvalidArgument);
  EXPECT_EQ(call_count(Call::clone), 0U);
}

/// Restores this thread's signal mask and SIGPIPE/SIGUSR2 dispositions.
class SignalStateGuard {
 public:
  SignalStateGuard() {
    ::pthread_sigmask(SIG_SETMASK, nullptr, &mask_);
    ::sigaction(SIGPIPE, nullptr, &pipe_);
    ::sigaction(SIGUSR2, nullptr, &usr2_);
  }
  SignalStateGuard(const SignalStateGuard&) = delete;
  SignalStateGuard& operator=(const SignalStateGuard&) = delete;
  ~SignalStateGuard() {
    ::sigaction(SIGPIPE, &pipe_, nullptr);
    ::sigaction(SIGUSR2, &usr2_, nullptr);
    ::pthread_sigmask(SIG_SETMASK, &mask_, nullptr);
  }

 private:
  sigset_t mask_{};
  struct sigaction pipe_ {};
  struct sigaction usr2_ {};
};

void on_usr2(int /*unused*/) {}

TEST_F(Spawn, ChildStartsWithEmptyMaskAndDefaultDispositions) {
  const SignalStateGuard guard;
  struct sigaction ignore {};
  ignore.sa_handler = SIG_IGN;
  ASSERT_EQ(::sigaction(SIGPIPE, &ignore, nullptr), 0);
  struct sigaction handler {};
  handler.sa_handler = on_usr2;
  ASSERT_EQ(::sigaction(SIGUSR2, &handler, nullptr), 0);
  sigset_t block;
  sigemptyset(&block);
  sigaddset(&block, SIGUSR1);
  sigaddset(&block, SIGCHLD);
  ASSERT_EQ(::pthread_sigmask(SIG_BLOCK, &block, nullptr), 0);

  // The ignored SIGPIPE stays ignored (bit 13 = 0x1000), as with
  // posix_spawn; the handled SIGUSR2 starts as SIG_DFL (execve resets it, and
  // it is not turned into SIG_IGN); nothing is blocked.
  const std::string expected = "blocked=0000000000000000 ignored=0000000000001000\n";
  EXPECT_EQ(safeexec::execute(child_cmd({"signals"}), bounded()).out, expected);
  safeexec::Process p =
      safeexec::create_process(child_cmd({"signals"}), safeexec::SpawnOptions{}.stdout_pipe());
  EXPECT_EQ(p.communicate({}, safeexec::deadline_after(10s)).out, expected);

  // Asked to, the child starts with every disposition at SIG_DFL.
  const std::string all_default = "blocked=0000000000000000 ignored=0000000000000000\n";
  EXPECT_EQ(safeexec::execute(child_cmd({"signals"}),
                              bounded().spawn(safeexec::SpawnOptions{}.reset_ignored_signals(true)))
                .out,
            all_default);
  safeexec::Process q = safeexec::create_process(
      child_cmd({"signals"}), safeexec::SpawnOptions{}.stdout_pipe().reset_ignored_signals(true));
  EXPECT_EQ(q.communicate({}, safeexec::deadline_after(10s)).out, all_default);

  // The caller's own state is as it set it.
  sigset_t now;
  ASSERT_EQ(::pthread_sigmask(SIG_SETMASK, nullptr, &now), 0);
  EXPECT_EQ(::sigismember(&now, SIGUSR1), 1);
}

TEST_F(Spawn, ProcessGroups) {
  // execute() always starts a new group, led by the child.
  const std::string out = safeexec::execute(child_cmd({"pgid"}), bounded()).out;
  pid_t pid = 0;
  pid_t pgid = 0;
  ASSERT_EQ(std::sscanf(out.c_str(), "%d %d", &pid, &pgid), 2) << out;
  EXPECT_EQ(pid, pgid);

  // create_process: in our group by default, its own on request.
  {
    safeexec::Process p =
        safeexec::create_process(child_cmd({"pgid"}), safeexec::SpawnOptions{}.stdout_pipe());
    EXPECT_FALSE(p.leads_process_group());
    const std::string o = p.communicate({}, safeexec::deadline_after(10s)).out;
    EXPECT_EQ(o, std::to_string(p.pid()) + " " + std::to_string(::getpgrp()) + "\n");
  }
  {
    safeexec::Process p = safeexec::create_process(
        child_cmd({"pgid"}), safeexec::SpawnOptions{}.stdout_pipe().new_process_group(true));
    EXPECT_TRUE(p.leads_process_group());
    const std::string o = p.communicate({}, safeexec::deadline_after(10s)).out;
    EXPECT_EQ(o, std::to_string(p.pid()) + " " + std::to_string(p.pid()) + "\n");
  }
}

TEST_F(Spawn, CommunicateWithDeadline) {
  safeexec::Process p =
      safeexec::create_process(child_cmd({"echo"}), safeexec::SpawnOptions{}.all_pipes());
  const safeexec::Output o = p.communicate("hello\n", safeexec::deadline_after(10s));
  EXPECT_EQ(o.out, "hello\n");
  EXPECT_EQ(o.err, "");
  EXPECT_EQ(p.status(), ExitStatus::exited(0));  // communicate reaped it
}

TEST_F(Spawn, NullAndInheritedStdio) {
  safeexec::Process p = safeexec::create_process(
      child_cmd({"echo"}),
      safeexec::SpawnOptions{}.stdin_mode(safeexec::Stdio::null).stdout_pipe());
  EXPECT_EQ(p.stdin_fd(), -1);
  EXPECT_EQ(p.stderr_fd(), -1);
  EXPECT_EQ(p.communicate({}, safeexec::deadline_after(10s)).out, "");
  EXPECT_EQ(p.status(), ExitStatus::exited(0));
}

TEST_F(Spawn, WaitUntilAndTryWaitOnARunningChild) {
  safeexec::Process p = safeexec::create_process(child_cmd({"sleep", "10000"}));
  EXPECT_EQ(p.try_wait(), std::nullopt);
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(p.wait_until(safeexec::deadline_after(100ms)), std::nullopt);
  EXPECT_GE(std::chrono::steady_clock::now() - start, 100ms);
  EXPECT_TRUE(p.status().running());
  p.terminate(1s);
}

// An EINTR from `call` on the first `times` attempts must be invisible.
void expect_eintr_retried(Call call, unsigned times) {
  safeexec::testing::clear_faults();
  inject_fault(call, 1, EINTR, times);
  const std::string input = safeexec_test::all_bytes_pattern(300000);
  const auto r = safeexec::execute(child_cmd({"echo"}), bounded().process_input(input));
  EXPECT_TRUE(r.out == input);
  EXPECT_EQ(faults_fired(), times);
}

TEST_F(Spawn, InterruptedSystemCallsAreRetried) {
  {
    SCOPED_TRACE("poll");
    expect_eintr_retried(Call::poll, 3);
  }
  {
    SCOPED_TRACE("read");  // stdout's (the TSan build reads its report pipe first)
    expect_eintr_retried(Call::read, 3);
  }
  {
    SCOPED_TRACE("write");
    expect_eintr_retried(Call::write, 3);
  }
  {
    SCOPED_TRACE("waitid");
    safeexec::testing::clear_faults();
    safeexec::Process p = safeexec::create_process(child_cmd({"exit", "6"}));
    inject_fault(Call::waitid, 1, EINTR, 2);
    EXPECT_EQ(p.wait(), ExitStatus::exited(6));
    EXPECT_EQ(faults_fired(), 2U);
  }
  // Without pidfds (ci/kernels' no-pidfd profile) wait_until has no pidfd
  // to poll: that case does not exist there.
  if (safeexec_test_support::kernel_has_pidfd()) {
    SCOPED_TRACE("poll on the pidfd in wait_until");
    safeexec::testing::clear_faults();
    safeexec::Process p = safeexec::create_process(child_cmd({"sleep", "200"}));
    inject_fault(Call::poll, 1, EINTR, 2);
    const auto st = p.wait_until(safeexec::deadline_after(10s));
    EXPECT_EQ(st, ExitStatus::exited(0));
    EXPECT_EQ(faults_fired(), 2U);
  }
}

TEST_F(Spawn, SpawnErrorNamesStageAndProgram) {
  const safeexec::SpawnError e(safeexec::SpawnStage::chdir, ENOENT, "prog");
  EXPECT_EQ(e.stage(), safeexec::SpawnStage::chdir);
  EXPECT_EQ(e.program(), "prog");
  EXPECT_EQ(e.error_code(), ENOENT);
  EXPECT_STREQ(safeexec::to_string(safeexec::SpawnStage::exec), "exec");
  EXPECT_STREQ(safeexec::to_string(safeexec::SpawnStage::close_fds), "close_fds");
  const std::string what = e.what();
  EXPECT_NE(what.find("cannot start prog: chdir failed"), std::string::npos) << what;
  EXPECT_NE(what.find("ENOENT"), std::string::npos) << what;
}

}  // namespace
