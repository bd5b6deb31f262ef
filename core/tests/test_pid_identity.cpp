// Issue 18 item 8 (H25): what a pid must name to count. A thread id of some
// process is not a process (/proc/<tid> exists, hidden from listings); a
// zombie is not running and has no command line; an empty expected command
// line matches nothing (kernel threads and zombies read as an empty one).
// Without /proc (ci/kernels' no-proc profile) the documented fallback is
// checked instead: getpgid() cannot tell a thread id or a zombie.
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <iterator>
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
using safeexec_test_support::library_sees_proc;
using PidIdentity = safeexec_test::LeakChecked;

/// A second thread of this process, alive for the scope; tid() is its id.
class SecondThread {
 public:
  SecondThread()
      : thread_([this] {
          tid_.store(static_cast<pid_t>(::syscall(SYS_gettid)));
          while (!stop_.load()) std::this_thread::sleep_for(1ms);
        }) {
    while (tid_.load() == 0) std::this_thread::sleep_for(1ms);
  }
  SecondThread(const SecondThread&) = delete;
  SecondThread& operator=(const SecondThread&) = delete;
  ~SecondThread() {
    stop_ = true;
    thread_.join();
  }
  pid_t tid() const { return tid_.load(); }

 private:
  std::atomic<pid_t> tid_{0};
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

TEST_F(PidIdentity, ThreadIdIsNotAProcess) {
  const SecondThread t;
  const pid_t tid = t.tid();
  ASSERT_NE(tid, ::getpid());
  ASSERT_EQ(::kill(tid, 0), 0) << "precondition: kill() accepts a thread id";
  const std::optional<std::vector<std::string>> own = safeexec::read_cmdline(::getpid());
  if (!library_sees_proc()) {
    // Documented (pid.hpp): getpgid() answers for a thread id too.
    EXPECT_TRUE(safeexec::process_is_running(tid));
    return;
  }
  ASSERT_TRUE(own.has_value());
  EXPECT_TRUE(safeexec::process_is_running(::getpid()));
  EXPECT_FALSE(safeexec::process_is_running(tid));
  EXPECT_EQ(safeexec::get_root_helper_child_pid(tid, {"ignored"}, false), std::nullopt);
  EXPECT_EQ(safeexec::get_root_helper_child_pid(tid, *own, true), std::nullopt);
  EXPECT_EQ(safeexec::read_cmdline(tid), std::nullopt);
  EXPECT_FALSE(safeexec::pid_invoked_with_cmdline(tid, *own));
  EXPECT_TRUE(safeexec::pid_invoked_with_cmdline(::getpid(), *own));
}

TEST_F(PidIdentity, ZombieIsNotRunningAndHasNoCommandLine) {
  safeexec::Process done = safeexec::create_process(child_cmd({"exit", "0"}));
  const pid_t pid = done.pid();
  // Exited, not reaped (WNOWAIT leaves it a zombie).
  ASSERT_TRUE(eventually([&] {
    siginfo_t info{};
    return ::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0 &&
           info.si_pid == pid;
  })) << "the child never exited";
  if (library_sees_proc()) {
    EXPECT_FALSE(safeexec::process_is_running(pid));
    EXPECT_EQ(safeexec::read_cmdline(pid), std::nullopt);
    EXPECT_FALSE(safeexec::pid_invoked_with_cmdline(pid, {}));
    EXPECT_EQ(safeexec::get_root_helper_child_pid(pid, {}, true), std::nullopt);
  } else {
    EXPECT_TRUE(safeexec::process_is_running(pid));  // documented: getpgid() cannot tell
    EXPECT_EQ(safeexec::read_cmdline(pid), std::nullopt);
  }
  EXPECT_EQ(safeexec::get_root_helper_child_pid(pid, {"ignored"}, false),
            library_sees_proc() ? std::nullopt : std::optional<pid_t>(pid));
  EXPECT_EQ(done.wait(), safeexec::ExitStatus::exited(0));
}

TEST_F(PidIdentity, EmptyExpectedCommandLineMatchesNothing) {
  EXPECT_FALSE(safeexec::pid_invoked_with_cmdline(::getpid(), {}));
  EXPECT_EQ(safeexec::get_root_helper_child_pid(::getpid(), {}, true), std::nullopt);
  if (!library_sees_proc()) return;
  // A kernel thread (kthreadd is pid 2 outside a pid namespace): its
  // cmdline file is empty, which is no command line.
  std::ifstream status("/proc/2/status");
  const std::string text((std::istreambuf_iterator<char>(status)), {});
  std::ifstream cmdline("/proc/2/cmdline");
  const std::string raw((std::istreambuf_iterator<char>(cmdline)), {});
  if (text.find("Name:\tkthreadd") != std::string::npos && raw.empty()) {
    EXPECT_EQ(safeexec::read_cmdline(2), std::nullopt);
    EXPECT_FALSE(safeexec::pid_invoked_with_cmdline(2, {}));
  }  // else a pid namespace: no kernel thread to point at, the checks above ran
}

}  // namespace
