// Time bounds against children that do not behave (issue 12, items 1-4):
// a child that never stops writing, a command whose background job keeps
// the pipes, durations at the edges of the clock, and a communicate() that
// times out and is continued.
//
// Bounds are upper bounds with generous slack: they catch "overran by a
// second" or "waited for the background job", not scheduler noise.
#include <signal.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <string>
#include <vector>

#include "leak_check.hpp"
#include "support/sanitizers.hpp"
#include "test_child.hpp"

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using safeexec_test::child_cmd;
using safeexec_test::eventually;
using safeexec_test::proc_state;
using TimeBounds = safeexec_test::LeakChecked;

// Item 1: `yes` keeps stdout readable at every poll; the deadline must be
// looked at on every pass. The old loop overran by a random 0.2-1.2 s
// (depending on when poll happened to find the pipe empty): the median of
// five runs, with and without an output cap, must stay within the bound.
TEST_F(TimeBounds, NeverEndingWriterTimesOutOnTime) {
  for (const std::size_t cap : {static_cast<std::size_t>(-1), std::size_t{1} << 30}) {
    std::vector<Clock::duration> took;
    for (int run = 0; run < 5; ++run) {
      const auto start = Clock::now();
      EXPECT_THROW(
          (void)safeexec::execute(
              {"yes"},
              safeexec::ExecuteOptions{}.timeout(200ms).kill_grace(100ms).max_output_bytes(cap)),
          safeexec::TimeoutError);
      took.push_back(Clock::now() - start);
    }
    std::sort(took.begin(), took.end());
    EXPECT_LT(took[2], 200ms + 100ms + 200ms)
        << "cap " << cap << ": median "
        << std::chrono::duration_cast<std::chrono::milliseconds>(took[2]).count() << " ms";
  }
}

// Item 1 made exact: every read of the child's output is refused with
// EAGAIN (as after a spurious wake-up), so the full pipe stays readable and
// poll() is never idle, however fast this machine reads. Only a deadline
// looked at on every pass ends the run on time; the old loop (it looked only
// after an idle poll) spun until the refusals ran out, seconds later.
TEST_F(TimeBounds, DeadlineHoldsWhilePollIsNeverIdle) {
  // Spawned first: under TSan the spawn reads its failure report from a
  // pipe, which the refusals below must not hit.
  safeexec::Process p = safeexec::create_process({"yes"}, safeexec::SpawnOptions{}.stdout_pipe());
  safeexec::testing::inject_fault(safeexec::testing::Call::read, 1, EAGAIN, 20000000);
  const auto start = Clock::now();
  EXPECT_THROW((void)p.communicate({}, safeexec::deadline_after(200ms)), safeexec::TimeoutError);
  const auto took = Clock::now() - start;
  safeexec::testing::clear_faults();
  (void)p.terminate(100ms);
  const auto slack = safeexec_test_support::kSanitized ? 2000ms : 400ms;
  EXPECT_LT(took, 200ms + slack)
      << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms";
}

// Item 1, the same for the linger deadline: a command that exits at once
// while its background job writes without end. Made exact the same way:
// from the first chunk on, every read is refused with EAGAIN, so the pipe
// `yes` fills stays readable and poll() is never idle; only a linger bound
// looked at on every pass ends the run (a loop that looks only after an
// idle poll spins to the 10 s timeout). The output is streamed to a counter,
// not captured: a captured `yes` made the time measured that of growing a
// string by a gigabyte a second (1.2 s on a loaded machine), not the bound.
// The shell's own line goes to stderr: on stdout it could find the pipe
// already full of `yes` (reads refused from the first chunk on), block
// there, and the command would never exit (seen once in a ci/kernels cell:
// the 10 s timeout, not the linger bound, ended it).
TEST_F(TimeBounds, NeverEndingBackgroundWriterIsCutAtTheLingerBound) {
  std::size_t seen = 0;
  safeexec::Streams io;
  io.out.on_chunk([&](std::string_view bytes) {
    if (seen == 0)
      safeexec::testing::inject_fault(safeexec::testing::Call::read, 1, EAGAIN, 20000000);
    seen += bytes.size();
  });
  const auto start = Clock::now();
  safeexec::ExecuteResult r;
  try {
    r = safeexec::execute({"sh", "-c", "yes & echo started >&2"},
                          safeexec::ExecuteOptions{}.timeout(10s).linger(200ms).streams(io));
  } catch (...) {
    safeexec::testing::clear_faults();
    throw;
  }
  const auto took = Clock::now() - start;
  const unsigned refused = safeexec::testing::faults_fired();
  safeexec::testing::clear_faults();
  EXPECT_GT(seen, 0u);
  EXPECT_GT(refused, 0u) << "no read was refused: the pipe may have been idle";
  EXPECT_TRUE(r.output_cut);
  EXPECT_EQ(r.exit_code(), 0);
  const auto slack = safeexec_test_support::kSanitized ? 2000ms : 800ms;
  EXPECT_LT(took, 200ms + slack)
      << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms";
}

// Item 2: the command finished at once; its background job holds the pipe
// past the deadline. A successful exit is success, not a timeout.
TEST_F(TimeBounds, BackgroundJobHoldingThePipeIsNotATimeout) {
  const auto start = Clock::now();
  const safeexec::ExecuteResult r =
      safeexec::execute({"sh", "-c", "sleep 3 & echo $!"}, safeexec::ExecuteOptions{}.timeout(1s));
  const auto took = Clock::now() - start;
  EXPECT_EQ(r.exit_code(), 0);
  EXPECT_TRUE(r.output_cut);
  EXPECT_LT(took, 1s);  // the linger (200 ms), not the deadline
  // What was left of the command's group was killed, not left running.
  const pid_t job = static_cast<pid_t>(std::stol(r.out));
  EXPECT_TRUE(eventually(
      [&] {
        const char st = proc_state(job);
        return st == 0 || st == 'Z';
      },
      2s))
      << "background job " << job << " still runs";
}

// Item 2: without a background job nothing is marked cut.
TEST_F(TimeBounds, PlainCommandIsNotMarkedCut) {
  const safeexec::ExecuteResult r = safeexec::execute({"echo", "hi"});
  EXPECT_FALSE(r.output_cut);
  EXPECT_EQ(r.out, "hi\n");
}

// Item 3: milliseconds::max() must saturate, not wrap into the past.
TEST_F(TimeBounds, HugeTimeoutSaturates) {
  const safeexec::ExecuteResult r = safeexec::execute(
      {"echo", "ok"}, safeexec::ExecuteOptions{}.timeout(std::chrono::milliseconds::max()));
  EXPECT_EQ(r.out, "ok\n");
}

// Item 3: kill_grace(max) means "SIGTERM and wait": the child that exits on
// SIGTERM must die of SIGTERM, not be SIGKILLed at once by a wrapped deadline.
TEST_F(TimeBounds, HugeKillGraceStillSendsSigtermFirst) {
  try {
    (void)safeexec::execute(
        child_cmd({"sleep", "10000"}),
        safeexec::ExecuteOptions{}.timeout(200ms).kill_grace(std::chrono::milliseconds::max()));
    ADD_FAILURE() << "no timeout";
  } catch (const safeexec::TimeoutError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("SIGTERM"), std::string::npos) << what;
    EXPECT_EQ(what.find("SIGKILL"), std::string::npos) << what;
  }
}

TEST_F(TimeBounds, ZeroOrNegativeTimesAreRefused) {
  EXPECT_THROW((void)safeexec::execute({"true"}, safeexec::ExecuteOptions{}.timeout(0ms)),
               safeexec::InvalidArgument);
  EXPECT_THROW((void)safeexec::execute({"true"}, safeexec::ExecuteOptions{}.timeout(-5ms)),
               safeexec::InvalidArgument);
  EXPECT_THROW((void)safeexec::execute({"true"}, safeexec::ExecuteOptions{}.kill_grace(-1ms)),
               safeexec::InvalidArgument);
  // A zero grace is meaningful: SIGKILL right after SIGTERM.
  EXPECT_THROW((void)safeexec::execute(child_cmd({"sleep", "10000"}),
                                       safeexec::ExecuteOptions{}.timeout(50ms).kill_grace(0ms)),
               safeexec::TimeoutError);
}

TEST_F(TimeBounds, DeadlineAfterSaturates) {
  const auto far = safeexec::deadline_after(std::chrono::milliseconds::max());
  EXPECT_GT(far, Clock::now() + std::chrono::hours(24 * 365));
  const auto past = safeexec::deadline_after(std::chrono::milliseconds::min());
  EXPECT_LT(past, Clock::now());
}

// Item 4: a timed-out communicate() reports the time it was given and the
// output so far; a second call continues the input where it stopped and
// returns all the output, byte for byte.
TEST_F(TimeBounds, CommunicateContinuesAfterATimeout) {
  std::string input;
  for (int i = 0; input.size() < 300000; ++i) input += std::to_string(i) + "\n";
  // Echo the first read (up to 1000 bytes), pause, then echo the rest.
  safeexec::Process p =
      safeexec::create_process({"sh", "-c", "dd bs=1000 count=1 status=none; sleep 0.4; cat"},
                               safeexec::SpawnOptions{}.stdin_pipe().stdout_pipe());
  std::string partial;
  try {
    (void)p.communicate(input, safeexec::deadline_after(150ms));
    ADD_FAILURE() << "no timeout";
  } catch (const safeexec::TimeoutError& e) {
    EXPECT_GE(e.timeout(), 140ms);
    EXPECT_LE(e.timeout(), 160ms);
    partial = e.partial_stdout();
  }
  EXPECT_EQ(partial, input.substr(0, partial.size()));
  EXPECT_FALSE(partial.empty());
  const safeexec::Output all = p.communicate(input, safeexec::deadline_after(20s));
  EXPECT_EQ(all.out.size(), input.size());
  EXPECT_TRUE(all.out == input) << "output differs from the input";
  EXPECT_EQ(p.wait().exit_code(), 0);
}

TEST_F(TimeBounds, CommunicateContinuationRefusesOtherInput) {
  safeexec::Process p = safeexec::create_process(
      {"sh", "-c", "sleep 0.3; cat"}, safeexec::SpawnOptions{}.stdin_pipe().stdout_pipe());
  EXPECT_THROW((void)p.communicate("abc", safeexec::deadline_after(50ms)), safeexec::TimeoutError);
  EXPECT_THROW((void)p.communicate("xyz", safeexec::deadline_after(5s)), safeexec::InvalidArgument);
  EXPECT_EQ(p.communicate({}, safeexec::deadline_after(5s)).out, "abc");
}

}  // namespace
