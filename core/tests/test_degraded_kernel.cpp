// The handle on kernels (or seccomp filters) without some pidfd features
// (issue 12, item 8). The test-only switch disable_kernel_features() makes
// the library see them as absent, as the probe would on such a kernel;
// ci/kernels runs the whole suite under real seccomp profiles as well.
#include <signal.h>

#include <cerrno>
#include <chrono>
#include <string>

#include "leak_check.hpp"
#include "test_child.hpp"

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using safeexec::testing::Call;
using safeexec::testing::KernelFeature;
using safeexec_test::child_cmd;
using DegradedKernel = safeexec_test::LeakChecked;

unsigned bits(KernelFeature f) {
  return static_cast<unsigned>(f);
}

// pidfd_send_signal refused by a filter (EPERM or ENOSYS) after the probe:
// destroying a live handle must still kill the child, through kill() on the
// unreaped pid, and promptly.
TEST_F(DegradedKernel, DestroyKillsWhenPidfdSendSignalIsRefused) {
  if (!safeexec_test_support::kernel_has_pidfd()) {
    GTEST_SKIP() << "needs pidfds: it fails pidfd_send_signal on a handle that has one "
                    "(this kernel has none; LingerBoundHoldsWithoutAnyPidfd covers that case)";
  }
  if (!safeexec_test_support::kernel_has_pidfd_send_signal()) {
    GTEST_SKIP() << "needs pidfd_send_signal: the library then signals by pid alone, and the "
                    "fault this test injects would hit kill() instead (covered by "
                    "SignalsThroughThePidWithoutPidfdSendSignal)";
  }
  for (const int refusal : {ENOSYS, EPERM}) {
    safeexec::Process p = safeexec::create_process(child_cmd({"sleep", "30000"}));
    ASSERT_GE(p.pidfd(), 0);
    // Only pidfd_send_signal goes through this wrapper first; fail it, not kill().
    safeexec::testing::inject_fault(Call::signal, 1, refusal, 1);
    const auto start = Clock::now();
    { safeexec::Process gone = std::move(p); }
    EXPECT_LT(Clock::now() - start, 1s) << "errno " << refusal;
    EXPECT_EQ(safeexec::testing::faults_fired(), 1U);
    safeexec::testing::clear_faults();
  }
}

// The same when the probe itself found no pidfd_send_signal.
TEST_F(DegradedKernel, SignalsThroughThePidWithoutPidfdSendSignal) {
  safeexec::testing::disable_kernel_features(bits(KernelFeature::pidfd_send_signal));
  safeexec::Process p = safeexec::create_process(child_cmd({"sleep", "30000"}));
  EXPECT_EQ(p.send_signal(SIGTERM), safeexec::KillOutcome::delivered);
  const safeexec::ExitStatus st = p.wait();
  EXPECT_EQ(st.signal(), SIGTERM);
}

// Linux 5.3: pidfds, but waitid(P_PIDFD) is EINVAL. Everything waits by pid.
TEST_F(DegradedKernel, ExecuteWorksWithoutWaitidPidfd) {
  safeexec::testing::disable_kernel_features(bits(KernelFeature::waitid_pidfd));
  const safeexec::ExecuteResult r = safeexec::execute({"sh", "-c", "echo out; exit 0"});
  EXPECT_EQ(r.out, "out\n");
  try {
    (void)safeexec::execute({"sh", "-c", "exit 3"});
    ADD_FAILURE() << "no error";
  } catch (const safeexec::ProcessExecutionError& e) {
    EXPECT_EQ(e.exit_code(), 3);
  }
  EXPECT_THROW((void)safeexec::execute(child_cmd({"sleep", "30000"}),
                                       safeexec::ExecuteOptions{}.timeout(100ms).kill_grace(50ms)),
               safeexec::TimeoutError);
}

// No pidfd at all (before 5.2, or every pidfd call refused): the handle has
// only the pid, and the linger bound after exit still holds.
TEST_F(DegradedKernel, LingerBoundHoldsWithoutAnyPidfd) {
  safeexec::testing::disable_kernel_features(bits(KernelFeature::all));
  {
    safeexec::Process p = safeexec::create_process({"true"});
    EXPECT_EQ(p.pidfd(), -1);
    EXPECT_EQ(p.wait().exit_code(), 0);
  }
  const auto start = Clock::now();
  const safeexec::ExecuteResult r = safeexec::execute(
      {"sh", "-c", "sleep 3 & echo done"}, safeexec::ExecuteOptions{}.timeout(10s).linger(200ms));
  EXPECT_LT(Clock::now() - start, 200ms + 400ms);
  EXPECT_EQ(r.out, "done\n");
  EXPECT_TRUE(r.output_cut);
  EXPECT_THROW((void)safeexec::execute(child_cmd({"sleep", "30000"}),
                                       safeexec::ExecuteOptions{}.timeout(100ms).kill_grace(50ms)),
               safeexec::TimeoutError);
}

}  // namespace
