// Process::detach() (issue 21 part 3, R09): the handle gives its child up
// on purpose. The destructor then neither kills nor waits; the child runs
// on, and when it exits a background reaper reaps it (no zombie is left).
// After detach() the handle's methods throw DetachedError.
#include <signal.h>

#include <chrono>
#include <string>

#include "leak_check.hpp"
#include "test_child.hpp"

namespace {

using namespace std::chrono_literals;
using safeexec_test::child_cmd;
using safeexec_test::eventually;
using safeexec_test::proc_state;
using Detach = safeexec_test::LeakChecked;

TEST_F(Detach, TheChildOutlivesTheHandleAndIsReapedWhenItExits) {
  pid_t pid = -1;
  {
    safeexec::Process p = safeexec::create_process(
        child_cmd({"sleep", "700"}),
        safeexec::SpawnOptions{}.stdin_pipe().stdout_pipe().new_process_group(true));
    pid = p.detach();
    EXPECT_GT(pid, 0);
    EXPECT_EQ(p.pid(), -1);
    EXPECT_EQ(p.stdout_fd(), -1);  // the pipes are closed (the fixture checks the table)
  }
  // The handle is gone; the child is not.
  const char state = proc_state(pid);
  EXPECT_TRUE(state == 'S' || state == 'R') << "state '" << state << "'";
  // It exits by itself and is reaped: gone from /proc, not a zombie.
  EXPECT_TRUE(eventually([&] { return proc_state(pid) == '\0'; }, 5s))
      << "state '" << proc_state(pid) << "'";
}

TEST_F(Detach, AnExitedChildIsReapedToo) {
  safeexec::Process p = safeexec::create_process(child_cmd({"exit", "3"}));
  const pid_t pid = p.pid();
  ASSERT_TRUE(eventually([&] { return proc_state(pid) == 'Z'; }));
  EXPECT_EQ(p.detach(), pid);
  EXPECT_TRUE(eventually([&] { return proc_state(pid) == '\0'; }, 5s));
}

TEST_F(Detach, MethodsOfADetachedHandleThrowDetachedError) {
  safeexec::Process p = safeexec::create_process(child_cmd({"exit", "0"}));
  const pid_t pid = p.detach();
  EXPECT_THROW((void)p.wait(), safeexec::DetachedError);
  EXPECT_THROW((void)p.try_wait(), safeexec::DetachedError);
  EXPECT_THROW((void)p.wait_until(safeexec::deadline_after(1s)), safeexec::DetachedError);
  EXPECT_THROW((void)p.send_signal(SIGTERM), safeexec::DetachedError);
  EXPECT_THROW((void)p.signal_group(SIGTERM), safeexec::DetachedError);
  EXPECT_THROW((void)p.terminate(), safeexec::DetachedError);
  EXPECT_THROW((void)p.communicate(), safeexec::DetachedError);
  EXPECT_THROW((void)p.detach(), safeexec::DetachedError);
  try {
    (void)p.wait();
  } catch (const safeexec::DetachedError& e) {
    EXPECT_NE(std::string(e.what()).find("Process::wait: the child was detached"),
              std::string::npos)
        << e.what();
  }
  EXPECT_TRUE(p.status().running());  // unknown to this handle
  p.cancel();                         // nothing to cancel: no effect, no throw
  // Moving keeps the state: the new handle is detached as well.
  safeexec::Process q = std::move(p);
  EXPECT_THROW((void)q.wait(), safeexec::DetachedError);
  EXPECT_TRUE(eventually([&] { return proc_state(pid) == '\0'; }, 5s));
}

}  // namespace
