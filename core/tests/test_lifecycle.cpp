// F05: on every path - success, non-zero exit, exec failure, timeout, output
// limit, an error in the middle of I/O, early destruction of a handle, moves,
// failures while creating pipes or the child - the parent's descriptors
// afterwards equal those before, and no child is left unreaped.
//
// The LeakChecked fixture checks descriptors and children after every test;
// tests that go through several paths also compare the descriptor table after
// each one, so that a failure names the path that leaked.
#include <signal.h>
#include <string.h>
#include <sys/stat.h>

#include <cerrno>
#include <chrono>
#include <string>

#include "leak_check.hpp"
#include "support/sanitizers.hpp"
#include "test_child.hpp"

namespace {

using namespace std::chrono_literals;
using safeexec::SpawnStage;
using safeexec::testing::Call;
using safeexec::testing::call_count;
using safeexec::testing::faults_fired;
using safeexec::testing::inject_fault;
using safeexec_test::bounded;
using safeexec_test::child_cmd;
using safeexec_test::open_fds;
using Lifecycle = safeexec_test::LeakChecked;

bool pid_is_gone(pid_t pid) {
  return ::kill(pid, 0) == -1 && errno == ESRCH;
}

TEST_F(Lifecycle, SuccessLeavesNothingBehind) {
  const auto r = safeexec::execute(child_cmd({"argv", "ok"}), bounded().process_input("in"));
  EXPECT_TRUE(r.status.success());
  EXPECT_EQ(open_fds(), fds_at_start());
}

TEST_F(Lifecycle, NonZeroExitLeavesNothingBehind) {
  try {
    (void)safeexec::execute(child_cmd({"exit", "3"}), bounded());
    ADD_FAILURE() << "no exception";
  } catch (const safeexec::ProcessExecutionError& e) {
    EXPECT_EQ(e.exit_code(), 3);
    EXPECT_EQ(e.status(), safeexec::ExitStatus::exited(3));
  }
  EXPECT_EQ(open_fds(), fds_at_start());
}

// Starting `argv` must fail at the exec stage with `error`.
void expect_exec_failure(const std::vector<std::string>& argv, int error) {
  SCOPED_TRACE(argv[0]);
  try {
    (void)safeexec::execute(argv, bounded());
    ADD_FAILURE() << "execute started " << argv[0];
  } catch (const safeexec::SpawnError& e) {
    EXPECT_EQ(e.stage(), SpawnStage::exec);
    EXPECT_EQ(e.error_code(), error) << e.what();
    EXPECT_EQ(e.program(), argv[0]);
    const std::string what = e.what();
    EXPECT_NE(what.find(argv[0]), std::string::npos) << what;
    EXPECT_NE(what.find("exec"), std::string::npos) << what;
    EXPECT_NE(what.find(::strerrorname_np(error)), std::string::npos) << what;
  }
  // create_process takes the same path.
  try {
    safeexec::Process p = safeexec::create_process(argv, safeexec::SpawnOptions{}.all_pipes());
    ADD_FAILURE() << "create_process started " << argv[0];
  } catch (const safeexec::SpawnError& e) {
    EXPECT_EQ(e.stage(), SpawnStage::exec);
    EXPECT_EQ(e.error_code(), error);
  }
}

TEST_F(Lifecycle, ExecFailureMissingProgram) {
  expect_exec_failure({"/nonexistent/safeexec-no-such-program"}, ENOENT);
  expect_exec_failure({"safeexec-no-such-program-in-path"}, ENOENT);
  EXPECT_EQ(open_fds(), fds_at_start());
}

TEST_F(Lifecycle, ExecFailureNotExecutable) {
  safeexec_test::TempDir dir;
  // Even root needs an execute bit to execve a file.
  const std::string file = dir.write_file("plain-file", "not a program\n", 0644);
  expect_exec_failure({file}, EACCES);
  expect_exec_failure({dir.path()}, EACCES);  // a directory
  EXPECT_EQ(open_fds(), fds_at_start());
}

TEST_F(Lifecycle, TimeoutLeavesNothingBehind) {
  try {
    (void)safeexec::execute(child_cmd({"sleep", "10000"}),
                            safeexec::ExecuteOptions{}.timeout(200ms).kill_grace(200ms));
    ADD_FAILURE() << "no timeout";
  } catch (const safeexec::TimeoutError& e) {
    EXPECT_EQ(e.timeout(), 200ms);
  }
  EXPECT_EQ(open_fds(), fds_at_start());
}

TEST_F(Lifecycle, OutputLimitLeavesNothingBehind) {
  EXPECT_THROW((void)safeexec::execute(child_cmd({"spew", "1000000", "0"}),
                                       bounded().max_output_bytes(1000).kill_grace(200ms)),
               safeexec::OutputLimitError);
  EXPECT_EQ(open_fds(), fds_at_start());
}

TEST_F(Lifecycle, ReadErrorMidIoInExecute) {
  // Read 2 is a read of the child's output: the second one (in the TSan
  // build, whose spawn reads its report pipe first, the first one).
  inject_fault(Call::read, 2, EIO);
  try {
    (void)safeexec::execute(child_cmd({"spew", "100000", "100000"}), bounded());
    ADD_FAILURE() << "no exception";
  } catch (const safeexec::IoError& e) {
    EXPECT_EQ(e.error_code(), EIO);
    EXPECT_NE(std::string(e.what()).find("read from child"), std::string::npos) << e.what();
  }
  EXPECT_EQ(faults_fired(), 1U);
  EXPECT_EQ(open_fds(), fds_at_start());
}

TEST_F(Lifecycle, WriteErrorMidIoInExecute) {
  inject_fault(Call::write, 1, EIO);
  try {
    (void)safeexec::execute(child_cmd({"echo"}),
                            bounded().process_input(std::string(1 << 20, 'x')));
    ADD_FAILURE() << "no exception";
  } catch (const safeexec::IoError& e) {
    EXPECT_EQ(e.error_code(), EIO);
    EXPECT_NE(std::string(e.what()).find("write to child"), std::string::npos) << e.what();
  }
  EXPECT_EQ(faults_fired(), 1U);
  EXPECT_EQ(open_fds(), fds_at_start());
}

TEST_F(Lifecycle, PollErrorMidIoInCommunicate) {
  pid_t pid = -1;
  {
    safeexec::Process p = safeexec::create_process(child_cmd({"sleep", "10000"}),
                                                   safeexec::SpawnOptions{}.all_pipes());
    pid = p.pid();
    inject_fault(Call::poll, 1, ENOMEM);
    try {
      (void)p.communicate("input", safeexec::deadline_after(10s));
      ADD_FAILURE() << "no exception";
    } catch (const safeexec::IoError& e) {
      EXPECT_EQ(e.error_code(), ENOMEM);
    }
    EXPECT_TRUE(p.status().running());  // the handle still owns the child
  }
  EXPECT_TRUE(pid_is_gone(pid)) << "the destructor did not kill and reap " << pid;
  EXPECT_EQ(open_fds(), fds_at_start());
}

// A waitid failure other than ECHILD (not documented for a child we own; the
// seam injects it) must not make the handle forget its child: wait() throws,
// the child stays ours, and the destructor still kills and reaps it (F05).
TEST_F(Lifecycle, WaitErrorKeepsTheChildOwnedUntilReaped) {
  pid_t pid = -1;
  {
    safeexec::Process p = safeexec::create_process(child_cmd({"sleep", "10000"}));
    pid = p.pid();
    inject_fault(Call::waitid, 1, ENOMEM);
    try {
      (void)p.wait();
      ADD_FAILURE() << "no exception";
    } catch (const safeexec::IoError& e) {
      EXPECT_EQ(e.error_code(), ENOMEM);
    }
    EXPECT_TRUE(p.status().running());
    EXPECT_TRUE(safeexec::process_is_running(pid));
    inject_fault(Call::waitid, 1, EAGAIN);  // the destructor's own reap fails too
  }
  EXPECT_EQ(faults_fired(), 2U);
  EXPECT_TRUE(pid_is_gone(pid)) << "the destructor did not kill and reap " << pid;
  EXPECT_EQ(open_fds(), fds_at_start());
}

TEST_F(Lifecycle, EarlyDestructionKillsAndReaps) {
  pid_t pid = -1;
  const auto start = std::chrono::steady_clock::now();
  {
    safeexec::Process p = safeexec::create_process(child_cmd({"sleep", "10000"}),
                                                   safeexec::SpawnOptions{}.all_pipes());
    pid = p.pid();
    ASSERT_GT(pid, 0);
    EXPECT_TRUE(safeexec::process_is_running(pid));
  }
  EXPECT_TRUE(pid_is_gone(pid)) << "child " << pid << " survived its handle";
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
  // The same with a child that leads its own group and ignores SIGTERM.
  {
    safeexec::Process p =
        safeexec::create_process(child_cmd({"ignore-term", "10000"}),
                                 safeexec::SpawnOptions{}.stdout_pipe().new_process_group(true));
    pid = p.pid();
  }
  EXPECT_TRUE(pid_is_gone(pid)) << "group leader " << pid << " survived its handle";
  EXPECT_EQ(open_fds(), fds_at_start());
}

TEST_F(Lifecycle, MovedFromHandlesOwnNothing) {
  safeexec::Process a =
      safeexec::create_process(child_cmd({"sleep", "10000"}), safeexec::SpawnOptions{}.all_pipes());
  const pid_t pid_a = a.pid();
  const int out_a = a.stdout_fd();

  safeexec::Process b(std::move(a));
  EXPECT_EQ(a.pid(), -1);  // NOLINT(bugprone-use-after-move): checking the moved-from state
  EXPECT_EQ(a.pidfd(), -1);
  EXPECT_EQ(a.stdin_fd(), -1);
  EXPECT_EQ(a.stdout_fd(), -1);
  EXPECT_EQ(a.stderr_fd(), -1);
  EXPECT_EQ(b.pid(), pid_a);
  EXPECT_EQ(b.stdout_fd(), out_a);
  EXPECT_TRUE(safeexec::process_is_running(pid_a));

  // Move-assigning onto a live handle kills and reaps the child it held.
  safeexec::Process c =
      safeexec::create_process(child_cmd({"sleep", "10000"}), safeexec::SpawnOptions{}.all_pipes());
  const pid_t pid_c = c.pid();
  c = std::move(b);
  EXPECT_TRUE(pid_is_gone(pid_c)) << "the overwritten child " << pid_c << " survived";
  EXPECT_EQ(c.pid(), pid_a);
  EXPECT_TRUE(safeexec::process_is_running(pid_a));
  EXPECT_EQ(b.pid(), -1);  // NOLINT(bugprone-use-after-move)

  // Moved-from handles can be waited on, signalled and destroyed harmlessly.
  EXPECT_EQ(a.send_signal(SIGKILL), safeexec::KillOutcome::gone);
  EXPECT_TRUE(a.wait().running());
  c.close_stdin();
  EXPECT_EQ(c.send_signal(SIGKILL), safeexec::KillOutcome::delivered);
  EXPECT_EQ(c.wait(), safeexec::ExitStatus::signaled(SIGKILL));
}

TEST_F(Lifecycle, PipeCreationFailureLeaksNothing) {
  // create_process with all pipes makes three: stdin, stdout, stderr; the
  // TSan build (a forked child) a fourth to report a failure through.
  constexpr unsigned kPipes = safeexec_test_support::kUnderTsan ? 4 : 3;
  for (unsigned nth = 1; nth <= kPipes; ++nth) {
    SCOPED_TRACE("pipe2 call " + std::to_string(nth) + " fails");
    safeexec::testing::clear_faults();
    inject_fault(Call::pipe2, nth, EMFILE);
    try {
      safeexec::Process p =
          safeexec::create_process(child_cmd({"exit", "0"}), safeexec::SpawnOptions{}.all_pipes());
      ADD_FAILURE() << "spawned despite the pipe failure";
    } catch (const safeexec::SpawnError& e) {
      EXPECT_EQ(e.stage(), SpawnStage::pipes);
      EXPECT_EQ(e.error_code(), EMFILE);
      EXPECT_NE(std::string(e.what()).find("EMFILE"), std::string::npos) << e.what();
    }
    EXPECT_EQ(faults_fired(), 1U);
    EXPECT_EQ(call_count(Call::clone), 0U);
    EXPECT_EQ(open_fds(), fds_at_start());

    safeexec::testing::clear_faults();
    inject_fault(Call::pipe2, nth, EMFILE);
    EXPECT_THROW((void)safeexec::execute(child_cmd({"exit", "0"}), bounded()),
                 safeexec::SpawnError);
    EXPECT_EQ(call_count(Call::clone), 0U);
    EXPECT_EQ(open_fds(), fds_at_start());
  }
}

TEST_F(Lifecycle, DevNullOpenFailureLeaksNothing) {
  inject_fault(Call::open, 1, EMFILE);
  try {
    safeexec::Process p = safeexec::create_process(
        child_cmd({"exit", "0"}),
        safeexec::SpawnOptions{}.stdin_mode(safeexec::Stdio::null).stdout_pipe());
    ADD_FAILURE() << "spawned despite the open failure";
  } catch (const safeexec::SpawnError& e) {
    EXPECT_EQ(e.stage(), SpawnStage::pipes);
    EXPECT_EQ(e.error_code(), EMFILE);
  }
  EXPECT_EQ(call_count(Call::clone), 0U);
  EXPECT_EQ(open_fds(), fds_at_start());
}

TEST_F(Lifecycle, CloneFailureLeaksNothing) {
  inject_fault(Call::clone, 1, EAGAIN);
  try {
    safeexec::Process p =
        safeexec::create_process(child_cmd({"exit", "0"}), safeexec::SpawnOptions{}.all_pipes());
    ADD_FAILURE() << "spawned despite the clone failure";
  } catch (const safeexec::SpawnError& e) {
    EXPECT_EQ(e.stage(), SpawnStage::clone);
    EXPECT_EQ(e.error_code(), EAGAIN);
    EXPECT_NE(std::string(e.what()).find("clone"), std::string::npos) << e.what();
  }
  EXPECT_EQ(faults_fired(), 1U);
  EXPECT_EQ(open_fds(), fds_at_start());

  safeexec::testing::clear_faults();
  inject_fault(Call::clone, 1, EAGAIN);
  EXPECT_THROW((void)safeexec::execute(child_cmd({"exit", "0"}), bounded()), safeexec::SpawnError);
  EXPECT_EQ(open_fds(), fds_at_start());
}

TEST_F(Lifecycle, ChildSideFailureLeaksNothing) {
  // chdir fails in the child: the child reports and exits, the parent reaps it.
  try {
    (void)safeexec::execute(
        child_cmd({"exit", "0"}),
        bounded().spawn(safeexec::SpawnOptions{}.cwd("/nonexistent/safeexec-dir")));
    ADD_FAILURE() << "no exception";
  } catch (const safeexec::SpawnError& e) {
    EXPECT_EQ(e.stage(), SpawnStage::chdir);
    EXPECT_EQ(e.error_code(), ENOENT);
  }
  EXPECT_EQ(open_fds(), fds_at_start());
}

TEST_F(Lifecycle, CommunicateTimeoutThenDestruction) {
  pid_t pid = -1;
  {
    safeexec::Process p = safeexec::create_process(child_cmd({"sleep", "10000"}),
                                                   safeexec::SpawnOptions{}.all_pipes());
    pid = p.pid();
    EXPECT_THROW((void)p.communicate("x", safeexec::deadline_after(100ms)), safeexec::TimeoutError);
    EXPECT_TRUE(safeexec::process_is_running(pid));  // documented: left as it is
  }
  EXPECT_TRUE(pid_is_gone(pid));
  EXPECT_EQ(open_fds(), fds_at_start());
}

TEST_F(Lifecycle, WaitIsIdempotentAndClosesThePidfd) {
  safeexec::Process p = safeexec::create_process(child_cmd({"exit", "7"}));
  // A kernel without pidfds (ci/kernels' no-pidfd profile): the handle has
  // none, and waiting must work all the same.
  if (safeexec_test_support::kernel_has_pidfd()) {
    EXPECT_GE(p.pidfd(), 0);
  } else {
    EXPECT_EQ(p.pidfd(), -1);
  }
  EXPECT_EQ(p.wait(), safeexec::ExitStatus::exited(7));
  EXPECT_EQ(p.wait(), safeexec::ExitStatus::exited(7));
  EXPECT_EQ(p.try_wait(), safeexec::ExitStatus::exited(7));
  EXPECT_EQ(p.pidfd(), -1);
  EXPECT_EQ(open_fds(), fds_at_start());
}

}  // namespace
