// F07: pids are validated wherever they enter (positive, within pid_max);
// get_root_helper_child_pid returns a valid pid or none; kill_process and
// process_is_running refuse bad pids without calling kill().
// F08: liveness comes from /proc (a zombie is not running), and a pid read as
// text is parsed strictly ("12; rm -rf /" is an error). The "no shell in the
// core" half of F08 is the static.no_shell_in_core ctest (check_no_shell.cmake).
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <climits>
#include <future>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "leak_check.hpp"
#include "test_child.hpp"

namespace {

using namespace std::chrono_literals;
using safeexec_test::child_cmd;
using safeexec_test::eventually;
using safeexec_test::proc_state;
using Pid = safeexec_test::LeakChecked;

/// True once /proc/<pid>/cmdline reads `argv`. create_process returns when the
/// child's execve has passed the point of no return (CLONE_VFORK releases us
/// there), but the kernel sets the new command line a moment later, while it
/// loads the program: until then the file reads empty. So a test that looks a
/// child up by its command line right after spawning it waits for that first.
bool shows_command_line(pid_t pid, const std::vector<std::string>& argv) {
  return eventually([&] { return safeexec::read_cmdline(pid) == argv; });
}

TEST_F(Pid, PidMaxComesFromTheKernel) {
  std::ifstream in(safeexec_test_support::proc_path("/sys/kernel/pid_max"));
  long expected = 0;
  ASSERT_TRUE(in >> expected);
  // Without /proc the library cannot read the limit: it assumes the kernel's
  // upper bound (PID_MAX_LIMIT on 64-bit), so that no real pid is refused.
  const long want = safeexec_test_support::library_sees_proc() ? expected : 4194304L;
  EXPECT_EQ(safeexec::pid_max(), static_cast<pid_t>(want));
}

TEST_F(Pid, ParsePidAcceptsCanonicalDecimal) {
  EXPECT_EQ(safeexec::parse_pid("1"), 1);
  EXPECT_EQ(safeexec::parse_pid("123"), 123);
  EXPECT_EQ(safeexec::parse_pid(std::to_string(safeexec::pid_max())), safeexec::pid_max());
  EXPECT_EQ(safeexec::parse_pid(std::to_string(::getpid())), ::getpid());
}

TEST_F(Pid, ParsePidRejectsEverythingElse) {
  const std::vector<std::string> bad = {
      "",
      "0",
      "-1",
      " 12",
      "12 ",
      "12\n",
      "\t12",
      "+12",
      "012",
      "00",
      "12; rm -rf /",
      "12 && reboot",
      "$(reboot)",
      "1e3",
      "0x10",
      "1_000",
      "12.0",
      "99999999999",
      "4294967297",  // wraps to 1 in 32 bits
      "2147483648",  // wraps negative in 32 bits
      std::to_string(safeexec::pid_max() + 1),
      std::string("12\0", 3),
      "\xd9\xa1\xd9\xa2",  // Arabic-Indic digits
  };
  for (const std::string& text : bad) {
    SCOPED_TRACE("text: '" + text + "'");
    EXPECT_THROW((void)safeexec::parse_pid(text), safeexec::InvalidArgument);
  }
}

TEST_F(Pid, ParsePidMessageEchoesOnlyABoundedPrefix) {
  const std::string hostile = "1; " + std::string(10000, 'A');
  try {
    (void)safeexec::parse_pid(hostile);
    ADD_FAILURE() << "accepted";
  } catch (const safeexec::InvalidArgument& e) {
    EXPECT_LT(std::string(e.what()).size(), 200U) << e.what();
  }
}

TEST_F(Pid, ValidatePidRejectsNonPositiveAndAbovePidMax) {
  for (const pid_t bad : {0, -1, -2, INT_MIN, safeexec::pid_max() + 1, INT_MAX}) {
    SCOPED_TRACE(bad);
    EXPECT_THROW(safeexec::validate_pid(bad), safeexec::InvalidArgument);
  }
  EXPECT_NO_THROW(safeexec::validate_pid(1));
  EXPECT_NO_THROW(safeexec::validate_pid(safeexec::pid_max()));
}

TEST_F(Pid, EveryEntryPointRefusesBadPids) {
  // Signal 0 only: if validation were missing, kill(0, 0) / kill(-1, 0) would
  // succeed (and the test fail) without harming anything.
  for (const pid_t bad : {0, -1, INT_MIN, safeexec::pid_max() + 1}) {
    SCOPED_TRACE(bad);
    EXPECT_THROW((void)safeexec::kill_process(bad, 0), safeexec::InvalidArgument);
    EXPECT_THROW((void)safeexec::process_is_running(bad), safeexec::InvalidArgument);
    EXPECT_THROW((void)safeexec::read_cmdline(bad), safeexec::InvalidArgument);
    EXPECT_THROW((void)safeexec::pid_invoked_with_cmdline(bad, {"x"}), safeexec::InvalidArgument);
    EXPECT_THROW((void)safeexec::get_root_helper_child_pid(bad, {"x"}, false),
                 safeexec::InvalidArgument);
    EXPECT_THROW((void)safeexec::get_root_helper_child_pid(bad, {"x"}, true),
                 safeexec::InvalidArgument);
  }
  try {
    (void)safeexec::kill_process(0, 0);
    ADD_FAILURE() << "kill_process(0) returned";
  } catch (const safeexec::InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("not positive"), std::string::npos) << e.what();
  }
}

TEST_F(Pid, KillProcessZeroNeverSignalsTheCallersGroup) {
  // kill(0, SIGTERM) would hit our whole process group. Run the call in a
  // copy of this process that leads a group of its own, so that a missing
  // check kills only that copy - which the test then reports.
  const int status = safeexec_test::run_forked([] {
    if (::setpgid(0, 0) != 0) return 3;
    try {
      (void)safeexec::kill_process(0, SIGTERM);
      return 1;
    } catch (const safeexec::InvalidArgument&) {
      return 0;
    }
  });
  ASSERT_FALSE(WIFSIGNALED(status)) << "kill_process(0, SIGTERM) signalled its own process group";
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "1: no exception; 3: setpgid failed";
}

TEST_F(Pid, KillProcessRefusesSignalsOutOfRange) {
  safeexec::Process p = safeexec::create_process(child_cmd({"sleep", "10000"}));
  EXPECT_THROW((void)safeexec::kill_process(p.pid(), -1), safeexec::InvalidArgument);
  EXPECT_THROW((void)safeexec::kill_process(p.pid(), 65), safeexec::InvalidArgument);
  EXPECT_TRUE(safeexec::process_is_running(p.pid()));
  EXPECT_EQ(safeexec::kill_process(p.pid(), 0), safeexec::KillOutcome::delivered);
}

TEST_F(Pid, ProcessIsRunningLiveZombieAndReaped) {
  EXPECT_TRUE(safeexec::process_is_running(::getpid()));

  safeexec::Process live = safeexec::create_process(child_cmd({"sleep", "10000"}));
  EXPECT_TRUE(safeexec::process_is_running(live.pid()));

  // A child that has exited but is not reaped is a zombie: not running,
  // although kill(pid, 0) would still succeed on it.
  safeexec::Process done = safeexec::create_process(child_cmd({"exit", "0"}));
  const pid_t pid = done.pid();
  ASSERT_TRUE(eventually([&] { return proc_state(pid) == 'Z'; }))
      << "child never became a zombie (state " << proc_state(pid) << ")";
  EXPECT_EQ(::kill(pid, 0), 0) << "precondition: a zombie still has its pid";
  EXPECT_FALSE(safeexec::process_is_running(pid));
  EXPECT_EQ(done.wait(), safeexec::ExitStatus::exited(0));
  EXPECT_FALSE(safeexec::process_is_running(pid));  // reaped
  live.terminate(1s);
}

TEST_F(Pid, ReadCmdlineAndPidInvokedWithCmdline) {
  if (!safeexec_test_support::library_sees_proc()) {
    GTEST_SKIP() << "needs /proc: a command line is only readable from /proc/<pid>/cmdline "
                    "(ci/kernels' no-proc profile hides it)";
  }
  const std::vector<std::string> argv = child_cmd({"sleep", "10000", "with space", ""});
  safeexec::Process p = safeexec::create_process(argv);
  ASSERT_TRUE(shows_command_line(p.pid(), argv)) << "read_cmdline never gave the argv back";
  EXPECT_EQ(safeexec::read_cmdline(p.pid()), argv);
  EXPECT_TRUE(safeexec::pid_invoked_with_cmdline(p.pid(), argv));
  EXPECT_FALSE(safeexec::pid_invoked_with_cmdline(p.pid(), child_cmd({"sleep", "10000"})));
  EXPECT_FALSE(safeexec::pid_invoked_with_cmdline(
      p.pid(), child_cmd({"sleep", "10000", "with space", "", "extra"})));
  EXPECT_FALSE(safeexec::pid_invoked_with_cmdline(p.pid(), {"sleep"}));
  p.terminate(1s);
  EXPECT_FALSE(safeexec::pid_invoked_with_cmdline(p.pid(), argv));  // reaped
}

TEST_F(Pid, RootHelperChildWithoutRootIsThePidWhileItRuns) {
  safeexec::Process p = safeexec::create_process(child_cmd({"sleep", "10000"}));
  const pid_t pid = p.pid();
  EXPECT_EQ(safeexec::get_root_helper_child_pid(pid, {"ignored"}, false), pid);
  p.terminate(1s);
  EXPECT_EQ(safeexec::get_root_helper_child_pid(pid, {"ignored"}, false), std::nullopt);
}

TEST_F(Pid, RootHelperChildIsFoundUnderTheHelper) {
  if (!safeexec_test_support::library_sees_proc()) {
    GTEST_SKIP() << "needs /proc: a process's children are only listed in "
                    "/proc/<pid>/task/*/children (ci/kernels' no-proc profile hides it)";
  }
  // This test process plays the root helper: its child runs the command.
  const std::vector<std::string> argv = child_cmd({"sleep", "10000"});
  safeexec::Process p = safeexec::create_process(argv);
  ASSERT_TRUE(shows_command_line(p.pid(), argv));
  const auto found = safeexec::get_root_helper_child_pid(::getpid(), argv, true);
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(*found, p.pid());
  EXPECT_EQ(safeexec::get_root_helper_child_pid(::getpid(), child_cmd({"sleep", "1"}), true),
            std::nullopt);
  p.terminate(1s);
  EXPECT_EQ(safeexec::get_root_helper_child_pid(::getpid(), argv, true), std::nullopt);
}

TEST_F(Pid, RootHelperChildIsFoundBesideOtherChildren) {
  if (!safeexec_test_support::library_sees_proc()) {
    GTEST_SKIP() << "needs /proc: a process's children are only listed in "
                    "/proc/<pid>/task/*/children (ci/kernels' no-proc profile hides it)";
  }
  // A daemon-like helper serves several commands: the one we want is not its
  // first child.
  safeexec::Process other = safeexec::create_process(child_cmd({"sleep", "10000", "other"}));
  const std::vector<std::string> argv = child_cmd({"sleep", "10000", "wanted"});
  safeexec::Process wanted = safeexec::create_process(argv);
  ASSERT_TRUE(shows_command_line(other.pid(), child_cmd({"sleep", "10000", "other"})));
  ASSERT_TRUE(shows_command_line(wanted.pid(), argv));
  EXPECT_EQ(safeexec::get_root_helper_child_pid(::getpid(), argv, true), wanted.pid());
  wanted.terminate(1s);
  other.terminate(1s);
  EXPECT_EQ(safeexec::get_root_helper_child_pid(::getpid(), argv, true), std::nullopt);
}

TEST_F(Pid, RootHelperChildOfAWorkerThreadIsFound) {
  if (!safeexec_test_support::library_sees_proc()) {
    GTEST_SKIP() << "needs /proc: a process's children are only listed in "
                    "/proc/<pid>/task/*/children (ci/kernels' no-proc profile hides it)";
  }
  // A helper that spawns from worker threads: while the spawning thread
  // lives, the kernel lists the child under that thread's /proc task, not
  // the main thread's (once the thread exits, its children move to another
  // thread of the process - so the worker waits here until we have looked).
  const std::vector<std::string> argv = child_cmd({"sleep", "10000", "from-a-worker"});
  std::promise<pid_t> spawned;
  std::future<pid_t> spawned_pid = spawned.get_future();
  std::promise<void> looked;
  std::future<void> may_finish = looked.get_future();
  std::thread worker([&] {
    try {
      safeexec::Process p = safeexec::create_process(argv);
      spawned.set_value(shows_command_line(p.pid(), argv) ? p.pid() : -1);
      may_finish.wait();
      p.terminate(1s);
    } catch (const std::exception&) {
      spawned.set_value(-1);
    }
  });
  const pid_t pid = spawned_pid.get();
  const std::optional<pid_t> found = safeexec::get_root_helper_child_pid(::getpid(), argv, true);
  looked.set_value();
  worker.join();
  ASSERT_GT(pid, 0) << "the worker could not spawn, or its child never showed its command line";
  EXPECT_EQ(found, pid);
}

TEST_F(Pid, RootHelperChildIsFoundDownAChain) {
  if (!safeexec_test_support::library_sees_proc()) {
    GTEST_SKIP() << "needs /proc: a process's children are only listed in "
                    "/proc/<pid>/task/*/children (ci/kernels' no-proc profile hides it)";
  }
  // A real helper in between: timeout(1) forks and waits for the command,
  // as sudo does. The command is our grandchild.
  const std::vector<std::string> command = child_cmd({"sleep", "10000"});
  std::vector<std::string> argv = {"/usr/bin/timeout", "30"};
  argv.insert(argv.end(), command.begin(), command.end());
  safeexec::Process helper =
      safeexec::create_process(argv, safeexec::SpawnOptions{}.new_process_group(true));
  std::optional<pid_t> found;
  ASSERT_TRUE(eventually([&] {
    found = safeexec::get_root_helper_child_pid(helper.pid(), command, true);
    return found.has_value();
  })) << "the command never showed up under the helper";
  EXPECT_NE(*found, helper.pid());
  EXPECT_TRUE(safeexec::pid_invoked_with_cmdline(*found, command));
  EXPECT_TRUE(safeexec::process_is_running(*found));
  // Not found when the helper runs something else.
  EXPECT_EQ(safeexec::get_root_helper_child_pid(helper.pid(), child_cmd({"sleep", "9"}), true),
            std::nullopt);
  const pid_t grandchild = *found;
  helper.terminate(2s);
  EXPECT_TRUE(eventually([&] { return !safeexec::process_is_running(grandchild); }))
      << "grandchild " << grandchild << " outlived the helper";
}

}  // namespace
