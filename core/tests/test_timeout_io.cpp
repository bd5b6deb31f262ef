// F14: execute() can run off the caller's thread; all pipes are serviced
// together (no deadlock on full pipes); a timeout kills the child and its
// process group and returns within timeout plus grace; an output cap kills
// the child and names the stream.
//
// Timing assertions are deliberately loose (upper bounds with 1.5 s of
// slack): they catch "waited for the child" (seconds), not scheduler noise.
#include <signal.h>

#include <chrono>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include "leak_check.hpp"
#include "test_child.hpp"

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using safeexec_test::bounded;
using safeexec_test::child_cmd;
using safeexec_test::eventually;
using safeexec_test::live_processes_with_arg;
using TimeoutIo = safeexec_test::LeakChecked;

constexpr auto kSlack = 1500ms;

/// Kills whatever still runs with `token` in its argv and waits (bounded) until
/// it is gone: test cleanup, so that a failing test leaves nothing running.
void kill_tagged(const std::string& token) {
  for (const pid_t pid : live_processes_with_arg(token)) ::kill(pid, SIGKILL);
  EXPECT_TRUE(eventually([&] { return live_processes_with_arg(token).empty(); }, 2s));
}

TEST_F(TimeoutIo, TimeoutKillsAChildThatIgnoresSigterm) {
  const auto start = Clock::now();
  try {
    (void)safeexec::execute(child_cmd({"ignore-term", "10000"}),
                            safeexec::ExecuteOptions{}.timeout(300ms).kill_grace(200ms));
    ADD_FAILURE() << "no timeout";
  } catch (const safeexec::TimeoutError& e) {
    EXPECT_EQ(e.timeout(), 300ms);
    const std::string what = e.what();
    EXPECT_NE(what.find("timed out after 300 ms"), std::string::npos) << what;
    EXPECT_NE(what.find("SIGKILL"), std::string::npos) << what;
  }
  const auto took = Clock::now() - start;
  EXPECT_GE(took, 300ms);
  EXPECT_LT(took, 300ms + 200ms + kSlack);
}

TEST_F(TimeoutIo, TimeoutKillsTheWholeProcessGroup) {
  // timeout(1) in between: it stays alive on SIGTERM (it forwards it and
  // waits), its child ignores SIGTERM. Both must be dead when execute returns.
  const std::string token = safeexec_test::unique_token("group");
  std::vector<std::string> argv = {"/usr/bin/timeout", "30"};
  for (const std::string& a : child_cmd({"ignore-term", "10000", token})) argv.push_back(a);
  const auto start = Clock::now();
  EXPECT_THROW(
      (void)safeexec::execute(argv, safeexec::ExecuteOptions{}.timeout(500ms).kill_grace(200ms)),
      safeexec::TimeoutError);
  EXPECT_LT(Clock::now() - start, 500ms + 200ms + kSlack);
  EXPECT_TRUE(eventually([&] { return live_processes_with_arg(token).empty(); }, 2s))
      << "a member of the timed-out group is still running";
  kill_tagged(token);
}

TEST_F(TimeoutIo, TimeoutKillsGroupMembersThatOutliveTheLeader) {
  // xargs (the leader) dies of SIGTERM at once; the command it started
  // ignores SIGTERM. After the grace period it must be killed too, even
  // though the leader is already gone.
  const std::string token = safeexec_test::unique_token("orphan");
  std::vector<std::string> argv = {"/usr/bin/xargs"};
  for (const std::string& a : child_cmd({"ignore-term", "10000"})) argv.push_back(a);
  const auto start = Clock::now();
  EXPECT_THROW(
      (void)safeexec::execute(
          argv,
          safeexec::ExecuteOptions{}.process_input(token + "\n").timeout(500ms).kill_grace(200ms)),
      safeexec::TimeoutError);
  EXPECT_LT(Clock::now() - start, 500ms + 200ms + kSlack);
  EXPECT_TRUE(eventually([&] { return live_processes_with_arg(token).empty(); }, 2s))
      << "the SIGTERM-ignoring member of the group survived the timeout: "
      << live_processes_with_arg(token).size() << " process(es) left";
  kill_tagged(token);
}

TEST_F(TimeoutIo, DaemonisedGrandchildHoldingThePipesDoesNotHang) {
  // The child exits at once; its grandchild keeps stdout/stderr open for 3 s.
  // execute() reads on for at most kill_grace after the child's exit.
  const std::string token = safeexec_test::unique_token("daemon");
  const auto start = Clock::now();
  const auto r = safeexec::execute(child_cmd({"daemon", "3000", token}),
                                   safeexec::ExecuteOptions{}.timeout(10s).kill_grace(200ms));
  const auto took = Clock::now() - start;
  EXPECT_TRUE(r.status.success());
  EXPECT_LT(took, 200ms + kSlack) << "execute waited for the grandchild";
  kill_tagged(token);
}

TEST_F(TimeoutIo, ExecuteAsyncRunsOffTheCallersThread) {
  safeexec_test::LogCapture log;
  const auto start = Clock::now();
  auto slow = safeexec::execute_async(child_cmd({"sleep", "800"}), bounded());
  const auto returned_after = Clock::now() - start;
  EXPECT_LT(returned_after, 400ms) << "execute_async blocked its caller";
  EXPECT_EQ(slow.wait_for(0ms), std::future_status::timeout);
  ASSERT_EQ(slow.wait_for(10s), std::future_status::ready);
  const auto r = slow.get();
  EXPECT_TRUE(r.status.success());
  EXPECT_GE(r.duration, 800ms);
  // The run happened on another thread: its "running" log line says so.
  bool saw_running = false;
  for (const auto& line : log.lines()) {
    if (line.text.find("running") == 0) {
      saw_running = true;
      EXPECT_NE(line.thread, std::this_thread::get_id());
    }
  }
  EXPECT_TRUE(saw_running);

  // Results and errors come back through the future.
  auto token = safeexec::execute_async(child_cmd({"argv", "async-token"}), bounded());
  auto failing = safeexec::execute_async(child_cmd({"exit", "9"}), bounded());
  ASSERT_EQ(token.wait_for(10s), std::future_status::ready);
  EXPECT_EQ(token.get().out, std::string("async-token") + '\0');
  ASSERT_EQ(failing.wait_for(10s), std::future_status::ready);
  EXPECT_THROW((void)failing.get(), safeexec::ProcessExecutionError);
}

TEST_F(TimeoutIo, BothPipesFarPastThePipeBufferAreServicedTogether) {
  const auto r = safeexec::execute(child_cmd({"spew", "5000000", "5000000"}), bounded());
  EXPECT_TRUE(r.status.success());
  ASSERT_EQ(r.out.size(), 5000000U);
  ASSERT_EQ(r.err.size(), 5000000U);
  const std::string expected = safeexec_test::helper_pattern(5000000);
  EXPECT_TRUE(r.out == expected);
  EXPECT_TRUE(r.err == expected);
}

TEST_F(TimeoutIo, OutputLimitNamesTheStreamAndKillsTheChild) {
  for (const std::string stream : {"stdout", "stderr"}) {
    SCOPED_TRACE(stream);
    const std::vector<std::string> argv = stream == "stdout" ? child_cmd({"spew", "50000000", "0"})
                                                             : child_cmd({"spew", "0", "50000000"});
    const auto start = Clock::now();
    try {
      (void)safeexec::execute(argv, bounded().max_output_bytes(100000).kill_grace(200ms));
      ADD_FAILURE() << "no output limit";
    } catch (const safeexec::OutputLimitError& e) {
      EXPECT_EQ(e.stream(), stream);
      EXPECT_EQ(e.limit(), 100000U);
      const std::string what = e.what();
      EXPECT_NE(what.find("more than 100000 bytes on " + stream), std::string::npos) << what;
      EXPECT_NE(what.find("killed by signal"), std::string::npos) << what;
    }
    EXPECT_LT(Clock::now() - start, 200ms + kSlack);
  }
}

TEST_F(TimeoutIo, OutputExactlyAtTheLimitIsAccepted) {
  const auto r = safeexec::execute(child_cmd({"spew", "100000", "100000"}),
                                   bounded().max_output_bytes(100000));
  EXPECT_EQ(r.out.size(), 100000U);
  EXPECT_EQ(r.err.size(), 100000U);
}

// Large outputs reserve up to the cap once they pass 1 MiB; the result must
// still be exact at and just under the cap, and a result far below a loose
// cap must not keep the cap's reservation.
TEST_F(TimeoutIo, LargeOutputsUpToTheCapAreExactAndLooseCapsAreGivenBack) {
  constexpr std::size_t kCap = 3 << 20;
  const auto at_cap = safeexec::execute(child_cmd({"spew", std::to_string(kCap), "0"}),
                                        bounded().max_output_bytes(kCap));
  EXPECT_EQ(at_cap.out.size(), kCap);
  std::size_t wrong = 0;  // spew writes 'a' + (i mod 64 KiB) mod 26
  for (std::size_t i = 0; i < at_cap.out.size(); ++i) {
    if (at_cap.out[i] != static_cast<char>('a' + (i % 65536) % 26)) ++wrong;
  }
  EXPECT_EQ(wrong, 0U);
  EXPECT_THROW((void)safeexec::execute(child_cmd({"spew", std::to_string(kCap + 1), "0"}),
                                       bounded().max_output_bytes(kCap)),
               safeexec::OutputLimitError);
  const auto loose = safeexec::execute(child_cmd({"spew", "2000000", "2000000"}),
                                       bounded().max_output_bytes(std::size_t{1} << 30));
  EXPECT_EQ(loose.out.size(), 2000000U);
  EXPECT_EQ(loose.err.size(), 2000000U);
  EXPECT_LT(loose.out.capacity(), 4000000U) << "the 1 GiB reservation was kept";
  EXPECT_LT(loose.err.capacity(), 4000000U) << "the 1 GiB reservation was kept";
}

TEST_F(TimeoutIo, CommunicateHonoursItsDeadline) {
  safeexec::Process p =
      safeexec::create_process(child_cmd({"sleep", "10000"}), safeexec::SpawnOptions{}.all_pipes());
  const auto start = Clock::now();
  EXPECT_THROW((void)p.communicate("in", safeexec::deadline_after(200ms)), safeexec::TimeoutError);
  const auto took = Clock::now() - start;
  EXPECT_GE(took, 200ms);
  EXPECT_LT(took, 200ms + kSlack);
  EXPECT_EQ(p.wait_until(safeexec::deadline_after(10ms)), std::nullopt);
  EXPECT_EQ(p.terminate(1s), safeexec::ExitStatus::signaled(SIGTERM));
}

}  // namespace
