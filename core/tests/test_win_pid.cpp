// process_is_running and kill_process on Windows (F07, F08, F12): no
// tasklist, no shell - OpenProcess and a zero wait; an exited process is
// "not running" and killing it is "gone", never an error; pids are
// validated where they enter.
#include <windows.h>

#include <chrono>
#include <string>

#include "win_test_util.hpp"

namespace {

using namespace std::chrono_literals;
using safeexec::KillOutcome;
using safeexec_test::child_cmd;
using WinPid = safeexec_test::LeakChecked;

TEST_F(WinPid, RunningChildIsRunningAndKillDeliversThenGone) {
  auto p = safeexec::create_process(child_cmd({"sleep", "60000"}));
  EXPECT_TRUE(safeexec::process_is_running(p.pid()));
  EXPECT_EQ(safeexec::kill_process(p.pid(), 0), KillOutcome::delivered);
  EXPECT_TRUE(safeexec::process_is_running(p.pid())) << "signal 0 must only look";
  EXPECT_EQ(safeexec::kill_process(p.pid()), KillOutcome::delivered);
  const auto st = p.wait();
  EXPECT_EQ(st.exit_code(), 128 + 9) << st.str();  // our TerminateProcess's code
  // The handle is still held, so the pid cannot have been reused.
  EXPECT_FALSE(safeexec::process_is_running(p.pid()));
  EXPECT_EQ(safeexec::kill_process(p.pid()), KillOutcome::gone);
}

TEST_F(WinPid, ExitedChildIsNotRunningAndKillingItIsGone) {
  auto p = safeexec::create_process(child_cmd({"exit", "3"}));
  EXPECT_EQ(p.wait().exit_code(), 3);
  EXPECT_FALSE(safeexec::process_is_running(p.pid()));
  EXPECT_EQ(safeexec::kill_process(p.pid()), KillOutcome::gone);
  EXPECT_EQ(p.send_signal(9), KillOutcome::gone);
  EXPECT_EQ(p.terminate(0ms).exit_code(), 3);
}

TEST_F(WinPid, ProcessHandleKillIsTypedAndStatusSaysKilled) {
  auto p = safeexec::create_process(child_cmd({"sleep", "60000"}));
  EXPECT_EQ(p.send_signal(9), KillOutcome::delivered);
  EXPECT_EQ(p.wait().signal(), 9);
  EXPECT_EQ(p.send_signal(9), KillOutcome::gone);
}

TEST_F(WinPid, PidsAreValidatedWhereTheyEnter) {
  EXPECT_THROW(safeexec::process_is_running(0), safeexec::InvalidArgument);
  EXPECT_THROW(safeexec::process_is_running(-1), safeexec::InvalidArgument);
  EXPECT_THROW(safeexec::kill_process(0), safeexec::InvalidArgument);
  EXPECT_THROW(safeexec::kill_process(-1), safeexec::InvalidArgument);
  EXPECT_THROW(safeexec::kill_process(1234, 65), safeexec::InvalidArgument);
  EXPECT_THROW(safeexec::parse_pid("12; del x"), safeexec::InvalidArgument);
  EXPECT_THROW(safeexec::parse_pid("0"), safeexec::InvalidArgument);
  EXPECT_EQ(safeexec::parse_pid("4"), 4);
  // Our own pid is running; a never-issued one (not a multiple of 4) is not.
  EXPECT_TRUE(safeexec::process_is_running(static_cast<pid_t>(GetCurrentProcessId())));
  EXPECT_FALSE(safeexec::process_is_running(0x7FFFFFF3));
  EXPECT_EQ(safeexec::kill_process(0x7FFFFFF3), KillOutcome::gone);
}

TEST_F(WinPid, KillErrorCarriesTheWin32Error) {
  SAFEEXEC_SKIP_UNDER_WINE("Wine lets any process terminate the system's processes (no ACLs)");
  // csrss/System (pid 4) cannot be terminated by a normal user.
  try {
    (void)safeexec::kill_process(4);
    FAIL() << "terminating pid 4 succeeded";
  } catch (const safeexec::KillError& e) {
    EXPECT_EQ(e.error_code(), ERROR_ACCESS_DENIED);
  }
}

}  // namespace
