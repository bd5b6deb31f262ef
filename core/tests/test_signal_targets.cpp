// Whom a signal reaches (issue 18 items 4 and 5, H21 and H22).
//
// H21: a child of new_process_group() that moved to another group
// (setpgid(0, <its parent's group>)) leaves no group with its id, so the
// group signal says ESRCH although the child lives: signal_group() must
// reach the child through its handle, terminate() and execute() timeouts
// must still send SIGTERM first, and "gone" is only for a child that is.
// H22: a child that exited but is not reaped yet is gone: a signal to its
// zombie reaches nobody, so send_signal() and signal_group() say `gone`
// (CPython's send_signal polls first) - and the status stays to be reaped.
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <string>

#include "leak_check.hpp"
#include "test_child.hpp"

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using safeexec::ExitStatus;
using safeexec::KillOutcome;
using safeexec_test::child_cmd;
using safeexec_test::eventually;
using SignalTargets = safeexec_test::LeakChecked;

safeexec::Process start_group_leaver() {
  safeexec::Process p =
      safeexec::create_process(child_cmd({"leave-group", "10000"}),
                               safeexec::SpawnOptions{}.stdout_pipe().new_process_group(true));
  EXPECT_EQ(safeexec_test::read_until(p.stdout_fd(), "left\n"), "left\n");
  // The set-up holds: the child now sits in our process group.
  EXPECT_EQ(::getpgid(p.pid()), ::getpgrp());
  return p;
}

TEST_F(SignalTargets, ChildThatLeftItsGroupIsReachedBySignalGroup) {
  safeexec::Process p = start_group_leaver();
  EXPECT_EQ(p.signal_group(0), KillOutcome::delivered) << "a live child was reported gone";
  EXPECT_EQ(p.signal_group(SIGTERM), KillOutcome::delivered);
  EXPECT_EQ(p.wait(), ExitStatus::signaled(SIGTERM));
  EXPECT_EQ(p.signal_group(0), KillOutcome::gone);
}

TEST_F(SignalTargets, ChildThatLeftItsGroupGetsSigtermFromTerminate) {
  safeexec::Process p = start_group_leaver();
  const auto start = Clock::now();
  EXPECT_EQ(p.terminate(3s), ExitStatus::signaled(SIGTERM));
  EXPECT_LT(Clock::now() - start, 2s) << "SIGTERM was not sent: terminate waited out the grace";
}

TEST_F(SignalTargets, ChildThatLeftItsGroupGetsSigtermOnAnExecuteTimeout) {
  const auto start = Clock::now();
  try {
    (void)safeexec::execute(child_cmd({"leave-group", "10000"}),
                            safeexec::ExecuteOptions{}.timeout(300ms).kill_grace(3s));
    ADD_FAILURE() << "no TimeoutError";
  } catch (const safeexec::TimeoutError& e) {
    EXPECT_NE(std::string(e.what()).find("killed by signal 15"), std::string::npos) << e.what();
  }
  EXPECT_LT(Clock::now() - start, 300ms + 1700ms) << "SIGTERM was not sent: the grace ran out";
}

/// A child that has exited and is not reaped (a zombie of ours).
safeexec::Process exited_unreaped(bool group) {
  safeexec::Process p = safeexec::create_process(child_cmd({"exit", "4"}),
                                                 safeexec::SpawnOptions{}.new_process_group(group));
  const pid_t pid = p.pid();
  EXPECT_TRUE(eventually([pid] { return safeexec_test::proc_state(pid) == 'Z'; }, 5s));
  return p;
}

TEST_F(SignalTargets, ExitedUnreapedChildIsGoneForSendSignal) {
  safeexec::Process p = exited_unreaped(false);
  EXPECT_EQ(p.send_signal(SIGTERM), KillOutcome::gone);
  EXPECT_EQ(p.send_signal(0), KillOutcome::gone);
  EXPECT_EQ(p.wait(), ExitStatus::exited(4)) << "the status must still be there to reap";
}

TEST_F(SignalTargets, ExitedUnreapedGroupLeaderIsGoneForSignalGroup) {
  safeexec::Process p = exited_unreaped(true);
  EXPECT_EQ(p.signal_group(SIGTERM), KillOutcome::gone);
  EXPECT_EQ(p.signal_group(0), KillOutcome::gone);
  EXPECT_EQ(p.send_signal(SIGKILL), KillOutcome::gone);
  EXPECT_EQ(p.wait(), ExitStatus::exited(4));
}

}  // namespace
