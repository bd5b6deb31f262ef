// step() on Windows (safeexec/step.hpp): the pump driven from the caller's
// own WaitForMultipleObjects loop over the events step() names. The bytes
// the sinks see equal what the child wrote, a step never blocks, the
// deadline and a callback's exception behave as on POSIX, and a step may be
// followed by a blocking communicate() that picks up the reads and writes
// left in flight.
#include <windows.h>

#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "support/stream_recorder.hpp"
#include "win_test_util.hpp"

namespace {

using namespace std::chrono_literals;
using safeexec::Process;
using safeexec::SpawnOptions;
using safeexec_test::child_cmd;
using safeexec_test_support::record_lines;
using safeexec_test_support::StreamRecord;
using WinStep = safeexec_test::LeakChecked;

struct CallerFailure : std::runtime_error {
  CallerFailure() : std::runtime_error("caller's own failure") {}
};

/// What the helper's write-then-echo writes (safeexec_test_child_win.cpp).
std::string pattern(std::size_t n) {
  std::string p(n, '\0');
  for (std::size_t i = 0; i < n; ++i) p[i] = static_cast<char>(i * 7 % 251 + 1);
  return p;
}

DWORD ms_until(safeexec::Deadline d) {
  const auto left =
      std::chrono::duration_cast<std::chrono::milliseconds>(d - safeexec::Clock::now());
  return static_cast<DWORD>(std::max<long long>(0, left.count()));
}

/// A caller's own loop: WaitForMultipleObjects over what step() names, until
/// done. Checks each wait set as it goes.
safeexec::Output drive_with_waits(Process& p, const safeexec::Streams& io, std::string_view input,
                                  std::size_t* steps) {
  const auto deadline = safeexec::deadline_after(120s);
  safeexec::StepResult r;
  for (*steps = 0;; ++*steps) {
    r = safeexec::step(p, io, input, deadline);
    if (r.done) break;
    std::vector<HANDLE> handles;
    for (const safeexec::WaitHandle& w : r.wait_for) {
      EXPECT_NE(w.handle, nullptr);
      EXPECT_NE(w.readable, w.writable) << "each item is one read or one write";
      handles.push_back(static_cast<HANDLE>(w.handle));
    }
    if (handles.empty()) {
      ADD_FAILURE() << "not done, and nothing to wait for";
      break;
    }
    const DWORD got = ::WaitForMultipleObjects(static_cast<DWORD>(handles.size()), handles.data(),
                                               FALSE, ms_until(*r.wake_at));
    EXPECT_NE(got, WAIT_FAILED) << ::GetLastError();
  }
  EXPECT_TRUE(r.wait_for.empty());
  return r.output;
}

TEST_F(WinStep, WaitLoopDrivesTheChildAndGetsEveryByte) {
  // Output on both streams before the child reads, then its input echoed:
  // the loop must write and read in turns, as the blocking pump does.
  constexpr std::size_t kFirst = 300000;
  const std::string input = pattern(std::size_t{1} << 20);
  Process p = safeexec::create_process(child_cmd({"write-then-echo", std::to_string(kFirst)}),
                                       SpawnOptions{}.all_pipes());
  auto err = std::make_shared<StreamRecord>();
  safeexec::Streams io;
  record_lines(io.err, err);
  std::size_t steps = 0;
  const safeexec::Output o = drive_with_waits(p, io, input, &steps);
  EXPECT_EQ(o.out.size(), kFirst + input.size());
  EXPECT_TRUE(o.out == pattern(kFirst) + input) << "stdout differs from what the child wrote";
  EXPECT_TRUE(err->line_bytes() == pattern(kFirst)) << err->line_bytes().size();
  EXPECT_EQ(o.err, "");
  EXPECT_GT(steps, 2U);
  // Bounded: a broken loop must fail here, not hang on a child still reading.
  const auto st = p.wait_until(safeexec::deadline_after(60s));
  ASSERT_TRUE(st.has_value()) << "the child never got all its input";
  EXPECT_TRUE(st->success());
}

TEST_F(WinStep, StepNeverBlocksAndPassesTheDeadlineAsATimeout) {
  Process p = safeexec::create_process(child_cmd({"sleep", "5000"}), SpawnOptions{}.all_pipes());
  safeexec::Streams io;
  const auto start = std::chrono::steady_clock::now();
  const safeexec::StepResult r = safeexec::step(p, io, {}, safeexec::deadline_after(300ms));
  EXPECT_LT(std::chrono::steady_clock::now() - start, 250ms) << "step() waited";
  EXPECT_FALSE(r.done);
  ASSERT_EQ(r.wait_for.size(), 2U);  // stdout and stderr; stdin was closed (no input)
  EXPECT_TRUE(r.wait_for[0].readable && r.wait_for[1].readable);
  // Nothing has come: the reads in flight are not signalled.
  HANDLE hs[2] = {static_cast<HANDLE>(r.wait_for[0].handle),
                  static_cast<HANDLE>(r.wait_for[1].handle)};
  EXPECT_EQ(::WaitForMultipleObjects(2, hs, FALSE, 0), static_cast<DWORD>(WAIT_TIMEOUT));
  ::Sleep(ms_until(*r.wake_at) + 20);
  EXPECT_THROW(safeexec::step(p, io, {}, r.wake_at), safeexec::TimeoutError);
  // The handle's end cancels the reads left in flight (the fixture checks
  // that no handle and no child is left).
}

TEST_F(WinStep, CallbackExceptionKillsTheChildAndPropagates) {
  Process p =
      safeexec::create_process(child_cmd({"spew", "300000", "0"}), SpawnOptions{}.all_pipes());
  safeexec::Streams io;
  io.out.on_chunk([](std::string_view) { throw CallerFailure(); });
  const auto deadline = safeexec::deadline_after(60s);
  const auto drive = [&] {
    for (;;) {
      const safeexec::StepResult r = safeexec::step(p, io, {}, deadline);
      if (r.done) return;
      std::vector<HANDLE> hs;
      for (const auto& w : r.wait_for) hs.push_back(static_cast<HANDLE>(w.handle));
      (void)::WaitForMultipleObjects(static_cast<DWORD>(hs.size()), hs.data(), FALSE, 1000);
    }
  };
  EXPECT_THROW(drive(), CallerFailure);
  EXPECT_FALSE(p.status().running()) << "the child was left running";
}

TEST_F(WinStep, CommunicateFinishesWhatStepsStarted) {
  // Steps leave a write and reads in flight; communicate() takes them over:
  // no byte is lost or sent twice.
  const std::string input = pattern(std::size_t{3} << 20);
  Process p =
      safeexec::create_process(child_cmd({"write-then-echo", "1000"}), SpawnOptions{}.all_pipes());
  safeexec::Streams io;
  safeexec::StepResult r;
  for (int i = 0; i < 3; ++i) {
    r = safeexec::step(p, io, input, safeexec::deadline_after(60s));
    ASSERT_FALSE(r.done);
    ::Sleep(5);
  }
  EXPECT_FALSE(r.wait_for.empty());
  const safeexec::Output o = p.communicate(io, input, safeexec::deadline_after(120s));
  EXPECT_EQ(o.out.size(), 1000 + input.size());
  EXPECT_TRUE(o.out == pattern(1000) + input) << "bytes lost, reordered or written twice";
  EXPECT_TRUE(o.err == pattern(1000));
  EXPECT_TRUE(p.status().success());
}

TEST_F(WinStep, InputForAStdinThatIsNoPipeIsRefused) {
  Process p = safeexec::create_process(
      child_cmd({"exit", "0"}), SpawnOptions{}.stdin_mode(safeexec::Stdio::null).stdout_pipe());
  safeexec::Streams io;
  EXPECT_THROW(safeexec::step(p, io, "undeliverable", safeexec::deadline_after(60s)),
               safeexec::InvalidArgument);
  bool asked = false;
  io.in = [&](char*, std::size_t) {
    asked = true;
    return std::size_t{0};
  };
  try {
    (void)safeexec::step(p, io, {}, safeexec::deadline_after(60s));
    ADD_FAILURE() << "a source for a stdin that is no pipe was accepted";
  } catch (const safeexec::InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("stdin"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(asked);
  EXPECT_EQ(p.communicate({}, safeexec::deadline_after(60s)).out, "");
}

}  // namespace
