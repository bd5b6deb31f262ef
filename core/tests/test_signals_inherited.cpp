// Signal state across a spawn (issue 12, item 7): what the host ignores stays
// ignored in the child by default (posix_spawn and CPython semantics: a
// nohup'd host's children keep SIGHUP ignored), handled signals start as
// SIG_DFL, reset_ignored_signals(true) resets everything; and the caller's
// signal mask comes back bit for bit, libc's reserved 32 and 33 included.
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <array>
#include <cstdint>
#include <cstdio>
#include <string>

#include "leak_check.hpp"
#include "test_child.hpp"

namespace {

using namespace std::chrono_literals;
using safeexec::ExitStatus;
using safeexec_test::bounded;
using safeexec_test::child_cmd;
using SignalsInherited = safeexec_test::LeakChecked;

/// Saves SIGHUP's, SIGUSR1's and SIGINT's dispositions; restores them at scope end.
class DispositionGuard {
 public:
  DispositionGuard() {
    for (std::size_t i = 0; i < kSignals.size(); ++i) ::sigaction(kSignals[i], nullptr, &saved_[i]);
  }
  DispositionGuard(const DispositionGuard&) = delete;
  DispositionGuard& operator=(const DispositionGuard&) = delete;
  ~DispositionGuard() {
    for (std::size_t i = 0; i < kSignals.size(); ++i) ::sigaction(kSignals[i], &saved_[i], nullptr);
  }

 private:
  static constexpr std::array<int, 3> kSignals{SIGHUP, SIGUSR1, SIGINT};
  std::array<struct sigaction, 3> saved_{};
};

void set_disposition(int sig, void (*handler)(int)) {
  struct sigaction sa {};
  sa.sa_handler = handler;
  ASSERT_EQ(::sigaction(sig, &sa, nullptr), 0);
}

void on_signal(int /*unused*/) {}

std::uint64_t bit(int sig) {
  return std::uint64_t{1} << (sig - 1);
}

/// The helper's SigIgn as a number (it writes "blocked=<hex> ignored=<hex>").
std::uint64_t ignored_in(const std::string& helper_output) {
  unsigned long long blocked = 0;
  unsigned long long ignored = 0;
  EXPECT_EQ(std::sscanf(helper_output.c_str(), "blocked=%llx ignored=%llx", &blocked, &ignored), 2)
      << helper_output;
  EXPECT_EQ(blocked, 0ULL) << "the child must start with nothing blocked";
  return ignored;
}

std::uint64_t our_ignored() {
  return std::stoull(safeexec_test::proc_status_field(::getpid(), "SigIgn"), nullptr, 16);
}

std::uint64_t ignored_via_spawn(safeexec::SpawnOptions o) {
  safeexec::Process p = safeexec::create_process(child_cmd({"signals"}), o.stdout_pipe());
  const std::string out = p.communicate({}, safeexec::deadline_after(10s)).out;
  EXPECT_EQ(p.wait(), ExitStatus::exited(0));
  return ignored_in(out);
}

TEST_F(SignalsInherited, IgnoredSighupStaysIgnoredInTheChild) {
  const DispositionGuard guard;
  set_disposition(SIGHUP, SIG_IGN);  // as nohup does
  const std::uint64_t parent = our_ignored();
  ASSERT_NE(parent & bit(SIGHUP), 0U);

  const std::uint64_t via_execute =
      ignored_in(safeexec::execute(child_cmd({"signals"}), bounded()).out);
  EXPECT_NE(via_execute & bit(SIGHUP), 0U) << "SIGHUP lost its SIG_IGN in the child";
  EXPECT_EQ(via_execute, parent) << "the child ignores exactly what the host ignores";

  const std::uint64_t via_spawn = ignored_via_spawn({});
  EXPECT_NE(via_spawn & bit(SIGHUP), 0U);
  EXPECT_EQ(via_spawn, parent);
}

TEST_F(SignalsInherited, HandledSignalStartsAsDefault) {
  const DispositionGuard guard;
  set_disposition(SIGUSR1, on_signal);
  // Not turned into SIG_IGN...
  EXPECT_EQ(ignored_via_spawn({}) & bit(SIGUSR1), 0U);
  // ...but SIG_DFL: the child dies of it, as a fresh program would.
  safeexec::Process p = safeexec::create_process(child_cmd({"sleep", "10000"}));
  // create_process returned, so the child has exec'd (CLONE_VFORK).
  EXPECT_EQ(p.send_signal(SIGUSR1), safeexec::KillOutcome::delivered);
  EXPECT_EQ(p.wait(), ExitStatus::signaled(SIGUSR1));
}

TEST_F(SignalsInherited, ResetIgnoredSignalsResetsEverything) {
  const DispositionGuard guard;
  set_disposition(SIGHUP, SIG_IGN);
  set_disposition(SIGINT, SIG_IGN);
  set_disposition(SIGUSR1, on_signal);
  EXPECT_EQ(ignored_via_spawn(safeexec::SpawnOptions{}.reset_ignored_signals(true)), 0U);
  EXPECT_EQ(ignored_in(safeexec::execute(
                           child_cmd({"signals"}),
                           bounded().spawn(safeexec::SpawnOptions{}.reset_ignored_signals(true)))
                           .out),
            0U);
  // And the default keeps both.
  const std::uint64_t kept = ignored_via_spawn({});
  EXPECT_EQ(kept & (bit(SIGHUP) | bit(SIGINT)), bit(SIGHUP) | bit(SIGINT));
}

TEST_F(SignalsInherited, CallersMaskIsRestoredBitForBit) {
  // A thread that blocked signals 32 and 33 with the raw syscall (as glibc
  // does internally) or a real-time signal must find its mask exactly as it
  // was: restoring it through pthread_sigmask() silently unblocked 32 and 33.
  const std::uint64_t wanted = bit(32) | bit(33) | bit(SIGRTMIN + 1) | bit(SIGUSR2);
  std::uint64_t before = 0;
  ASSERT_EQ(::syscall(SYS_rt_sigprocmask, SIG_SETMASK, &wanted, &before, sizeof wanted), 0);
  safeexec::Process p = safeexec::create_process(child_cmd({"exit", "0"}));
  std::uint64_t after = 0;
  ASSERT_EQ(::syscall(SYS_rt_sigprocmask, SIG_SETMASK, &before, &after, sizeof before), 0);
  EXPECT_EQ(p.wait(), ExitStatus::exited(0));
  EXPECT_EQ(after, wanted) << std::hex << "mask after the spawn: 0x" << after;
}

}  // namespace
