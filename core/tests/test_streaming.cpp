// Issue 21 part 2: streaming. Sinks see every byte exactly once, in order,
// as chunks or as lines (cut at max_line_bytes), with or without capture; a
// stdin source feeds input that is never held whole; a callback's exception
// stops the child and reaches the caller unchanged; deadlines, the output
// cap, linger, the continuation of a timed-out communicate() and masked
// excerpts keep working when nothing is captured.
#include <sys/epoll.h>
#include <unistd.h>

#include <array>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "leak_check.hpp"
#include "support/stream_recorder.hpp"
#include "test_child.hpp"

namespace {

using namespace std::chrono_literals;
using safeexec_test::bounded;
using safeexec_test::child_cmd;
using safeexec_test_support::record_chunks;
using safeexec_test_support::record_lines;
using safeexec_test_support::SeenLine;
using safeexec_test_support::StreamRecord;
using Streaming = safeexec_test::LeakChecked;

/// A type nobody else throws: the caller must get this very one back.
struct CallerFailure : std::runtime_error {
  explicit CallerFailure(int c) : std::runtime_error("caller's own failure"), code(c) {}
  int code;
};

std::shared_ptr<StreamRecord> new_record() {
  return std::make_shared<StreamRecord>();
}

TEST_F(Streaming, LinesOfEchoedInputArriveOnceWithTheLastPartialOneAtEof) {
  const std::string input = std::string("a\nbb\n\nccc\0d\n", 12) + "tail";
  const std::vector<SeenLine> want = {{"a", true, false},
                                      {"bb", true, false},
                                      {"", true, false},
                                      {std::string("ccc\0d", 5), true, false},
                                      {"tail", false, false}};
  {
    auto rec = new_record();
    safeexec::Streams io;
    record_lines(io.out, rec);
    const safeexec::ExecuteResult r =
        safeexec::execute(child_cmd({"echo"}), bounded().process_input(input).streams(io));
    EXPECT_EQ(rec->lines, want);
    EXPECT_EQ(r.out, "") << "a line sink alone does not capture";
  }
  {
    auto rec = new_record();
    safeexec::Streams io;
    record_lines(io.out, rec);
    safeexec::Process p =
        safeexec::create_process(child_cmd({"echo"}), safeexec::SpawnOptions{}.all_pipes());
    const safeexec::Output o =
        p.communicate(io, input, safeexec::deadline_after(safeexec_test::kCommandLimit));
    EXPECT_EQ(rec->lines, want);
    EXPECT_EQ(o.out, "");
  }
}

TEST_F(Streaming, ChunksAndLinesAndCaptureTogetherEachSeeEveryByte) {
  // Many pipe buffers of bytes of every value, so that lines span reads.
  const std::string input = safeexec_test::all_bytes_pattern(3U << 20);
  auto out = new_record();
  auto err = new_record();
  safeexec::Streams io;
  record_chunks(io.out, out);
  record_lines(io.out, out);
  io.out.capture(true).max_line_bytes(100);
  record_chunks(io.err, err);
  const safeexec::ExecuteResult r = safeexec::execute(child_cmd({"write-then-echo", "200000"}),
                                                      bounded().process_input(input).streams(io));
  const std::string want_out = safeexec_test::helper_pattern(200000) + input;
  EXPECT_TRUE(r.out == want_out) << "captured " << r.out.size() << " of " << want_out.size();
  EXPECT_TRUE(out->chunks == want_out) << "chunks " << out->chunks.size();
  EXPECT_TRUE(out->line_bytes() == want_out) << "lines " << out->line_bytes().size();
  EXPECT_LE(out->longest_line, 100U);
  EXPECT_GT(out->chunk_calls, 1U);
  EXPECT_TRUE(err->chunks == safeexec_test::helper_pattern(200000));
  EXPECT_EQ(r.err, "") << "the chunk sink alone does not capture stderr";
}

TEST_F(Streaming, LineLongerThanTheMaximumIsDeliveredCutAndNothingIsLost) {
  auto rec = new_record();
  safeexec::Streams io;
  record_lines(io.out, rec);
  io.out.max_line_bytes(3);
  safeexec::execute(child_cmd({"echo"}), bounded().process_input("abcdefg\nxyz\nlong").streams(io));
  const std::vector<SeenLine> want = {{"abc", false, true}, {"def", false, true},
                                      {"g", true, false},   {"xyz", true, false},
                                      {"lon", false, true}, {"g", false, false}};
  EXPECT_EQ(rec->lines, want);
}

TEST_F(Streaming, ZeroMaxLineBytesIsRefusedBeforeAnythingStarts) {
  safeexec::Streams io;
  io.out.on_line([](const safeexec::Line&) {}).max_line_bytes(0);
  EXPECT_THROW(safeexec::execute(child_cmd({"echo"}), bounded().streams(io)),
               safeexec::InvalidArgument);
  safeexec::Process p =
      safeexec::create_process(child_cmd({"echo"}), safeexec::SpawnOptions{}.all_pipes());
  EXPECT_THROW(p.communicate(io), safeexec::InvalidArgument);
}

// S02: the caller's exception stops the pump, the child is killed and
// reaped at once - not left running for the handle's owner to find.
TEST_F(Streaming, CallbackExceptionInCommunicateKillsAndReapsTheChild) {
  safeexec::Process p =
      safeexec::create_process(child_cmd({"zoo-write-sleep", "10", "30000"}),
                               safeexec::SpawnOptions{}.all_pipes().new_process_group(true));
  safeexec::Streams io;
  io.out.on_chunk([](std::string_view) { throw CallerFailure(7); });
  const auto start = std::chrono::steady_clock::now();
  try {
    (void)p.communicate(io, {}, safeexec::deadline_after(safeexec_test::kCommandLimit));
    ADD_FAILURE() << "the callback's exception did not propagate";
  } catch (const CallerFailure& e) {
    EXPECT_EQ(e.code, 7);
  }
  EXPECT_FALSE(p.status().running()) << "child " << p.pid() << " left running";
  EXPECT_LT(std::chrono::steady_clock::now() - start, 10s);
}

TEST_F(Streaming, CallbackExceptionInExecutePropagatesUnchangedWithinTheKillGrace) {
  safeexec::Streams io;
  io.err.on_line([](const safeexec::Line&) { throw CallerFailure(9); });
  const auto start = std::chrono::steady_clock::now();
  try {
    (void)safeexec::execute(child_cmd({"write-then-echo", "10"}),
                            bounded().kill_grace(100ms).streams(io));  // echo waits on stdin
    ADD_FAILURE() << "the callback's exception did not propagate";
  } catch (const CallerFailure& e) {
    EXPECT_EQ(e.code, 9);
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, 10s);
}

TEST_F(Streaming, SourceFeedsStdinInBatchesUntilItSaysTheEnd) {
  // 48 MiB generated on demand and checked as it comes back: neither side
  // is ever held whole.
  constexpr std::size_t kTotal = std::size_t{48} << 20;
  std::size_t given = 0;
  std::size_t calls = 0;
  const auto byte_at = [](std::size_t i) { return static_cast<char>((i * 7 + i / 4099) & 0xff); };
  safeexec::Streams io;
  io.in = [&](char* buf, std::size_t room) {
    ++calls;
    const std::size_t n = std::min(room, kTotal - given);
    for (std::size_t i = 0; i < n; ++i) buf[i] = byte_at(given + i);
    given += n;
    return n;
  };
  std::size_t back = 0;
  bool same = true;
  io.out.on_chunk([&](std::string_view b) {
    for (std::size_t i = 0; i < b.size() && same; ++i) same = b[i] == byte_at(back + i);
    back += b.size();
  });
  const safeexec::ExecuteResult r =
      safeexec::execute(child_cmd({"echo"}), bounded().process_input("").streams(io));
  EXPECT_EQ(back, kTotal);
  EXPECT_TRUE(same);
  EXPECT_GT(calls, 2U);
  EXPECT_EQ(r.out, "");
}

TEST_F(Streaming, StringInputComesFirstThenTheSource) {
  bool asked = false;
  safeexec::Streams io;
  io.in = [&](char* buf, std::size_t room) -> std::size_t {
    if (asked || room < 4) return 0;
    asked = true;
    std::memcpy(buf, "-src", 4);
    return 4;
  };
  safeexec::Process p =
      safeexec::create_process(child_cmd({"echo"}), safeexec::SpawnOptions{}.all_pipes());
  const safeexec::Output o =
      p.communicate(io, "string", safeexec::deadline_after(safeexec_test::kCommandLimit));
  EXPECT_EQ(o.out, "string-src");
}

TEST_F(Streaming, SourceExceptionKillsTheChildAndPropagates) {
  safeexec::Process p =
      safeexec::create_process(child_cmd({"echo"}), safeexec::SpawnOptions{}.all_pipes());
  safeexec::Streams io;
  io.in = [](char*, std::size_t) -> std::size_t { throw CallerFailure(3); };
  EXPECT_THROW(p.communicate(io, {}, safeexec::deadline_after(safeexec_test::kCommandLimit)),
               CallerFailure);
  EXPECT_FALSE(p.status().running());
}

TEST_F(Streaming, OutputCapCountsOnlyWhatIsCaptured) {
  safeexec::Streams io;
  std::size_t streamed = 0;
  io.out.on_chunk([&](std::string_view b) { streamed += b.size(); });
  const safeexec::ExecuteResult r = safeexec::execute(child_cmd({"spew", "2000000", "100"}),
                                                      bounded().max_output_bytes(1000).streams(io));
  EXPECT_EQ(streamed, 2000000U) << "an uncaptured stream is not cut by the cap";
  EXPECT_EQ(r.err.size(), 100U);
  EXPECT_THROW(safeexec::execute(child_cmd({"spew", "100", "2000000"}),
                                 bounded().max_output_bytes(1000).streams(io)),
               safeexec::OutputLimitError);
}

TEST_F(Streaming, TimedOutCommunicateContinuesTheUnfinishedLine) {
  safeexec::Process p =
      safeexec::create_process({"sh", "-c", "printf 'one\\npar'; sleep 1; printf 'tial\\nend'"},
                               safeexec::SpawnOptions{}.all_pipes());
  auto rec = new_record();
  safeexec::Streams io;
  record_lines(io.out, rec);
  EXPECT_THROW(p.communicate(io, {}, safeexec::deadline_after(300ms)), safeexec::TimeoutError);
  EXPECT_EQ(rec->lines, (std::vector<SeenLine>{{"one", true, false}}));
  // Other sink objects recording into the same place: the line goes on.
  safeexec::Streams again;
  record_lines(again.out, rec);
  (void)p.communicate(again, {}, safeexec::deadline_after(safeexec_test::kCommandLimit));
  EXPECT_EQ(rec->lines,
            (std::vector<SeenLine>{
                {"one", true, false}, {"partial", true, false}, {"end", false, false}}));
}

TEST_F(Streaming, LingeredEndDeliversTheLastPartialLine) {
  auto rec = new_record();
  safeexec::Streams io;
  record_lines(io.out, rec);
  const safeexec::ExecuteResult r = safeexec::execute(
      {"sh", "-c", "printf 'no newline'; sleep 5 &"}, bounded().linger(100ms).streams(io));
  EXPECT_TRUE(r.output_cut);
  EXPECT_EQ(rec->lines, (std::vector<SeenLine>{{"no newline", false, false}}));
}

TEST_F(Streaming, DeadlineHoldsWithOnlyCallbacks) {
  safeexec::Streams io;
  std::size_t n = 0;
  io.out.on_line([&](const safeexec::Line&) { ++n; });
  const auto start = std::chrono::steady_clock::now();
  EXPECT_THROW(
      safeexec::execute(child_cmd({"zoo-yes"}),
                        safeexec::ExecuteOptions{}.timeout(300ms).kill_grace(0ms).streams(io)),
      safeexec::TimeoutError);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
  EXPECT_GT(n, 0U);
}

// S03: an uncaptured stream still gives an excerpt, from the bounded tail,
// with a secret cut at the tail's edge and the echoed input masked.
TEST_F(Streaming, UncapturedStreamExcerptComesFromTheTailMasked) {
  const std::string secret = "hunter2-secret";
  const std::string input = "echoed-input-bytes";
  safeexec::Streams io;
  io.out.on_chunk([](std::string_view) {});
  const std::string script =
      "head -c 100000 /dev/zero | tr '\\0' x; printf '%s-%s-tail' \"$1\" \"$2\"; exit 3";
  try {
    (void)safeexec::execute(
        {"sh", "-c", "cat >/dev/null; " + script, "sh", secret, input},
        bounded().secrets({secret}).process_input(input).excerpt_bytes(30).streams(io));
    FAIL() << "exit 3 is a failure";
  } catch (const safeexec::ProcessExecutionError& e) {
    const std::string x = e.stdout_excerpt();
    EXPECT_NE(x.find("earlier bytes]"), std::string::npos) << x;
    EXPECT_NE(x.find("***-***-tail"), std::string::npos) << x;
    // The 30 bytes shown begin inside the secret: its end is masked too.
    EXPECT_EQ(x.find("cret"), std::string::npos) << x;
    EXPECT_EQ(x.find("echoed"), std::string::npos) << x;
  }
}

}  // namespace

namespace {

/// A caller's own event loop: epoll over what step() asks for, until done.
safeexec::Output drive_with_epoll(safeexec::Process& p, const safeexec::Streams& io,
                                  std::string_view input, std::size_t* steps) {
  const int ep = ::epoll_create1(EPOLL_CLOEXEC);
  EXPECT_GE(ep, 0);
  std::vector<int> watched;
  const auto deadline = safeexec::deadline_after(safeexec_test::kCommandLimit);
  safeexec::StepResult r;
  for (*steps = 0;; ++*steps) {
    r = safeexec::step(p, io, input, deadline);
    if (r.done) break;
    for (const int fd : watched) (void)::epoll_ctl(ep, EPOLL_CTL_DEL, fd, nullptr);
    watched.clear();
    for (const safeexec::WaitFd& w : r.wait_for) {
      epoll_event ev{};
      ev.events = (w.readable ? EPOLLIN : 0U) | (w.writable ? EPOLLOUT : 0U);
      ev.data.fd = w.fd;
      EXPECT_EQ(::epoll_ctl(ep, EPOLL_CTL_ADD, w.fd, &ev), 0);
      watched.push_back(w.fd);
    }
    std::array<epoll_event, 4> ready{};
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(*r.wake_at - safeexec::Clock::now());
    (void)::epoll_wait(ep, ready.data(), static_cast<int>(ready.size()),
                       static_cast<int>(std::max<long long>(0, left.count())));
  }
  ::close(ep);
  EXPECT_TRUE(r.wait_for.empty());
  return r.output;
}

TEST_F(Streaming, EpollLoopDrivesTheChildThroughStep) {
  // Output on both streams before the child reads, then its input echoed:
  // the loop must write and read in turns, as the blocking pump does.
  const std::string input = safeexec_test::all_bytes_pattern(1U << 20);
  safeexec::Process p = safeexec::create_process(child_cmd({"write-then-echo", "300000"}),
                                                 safeexec::SpawnOptions{}.all_pipes());
  auto err = new_record();
  safeexec::Streams io;
  record_lines(io.err, err);
  std::size_t steps = 0;
  const safeexec::Output o = drive_with_epoll(p, io, input, &steps);
  EXPECT_TRUE(o.out == safeexec_test::helper_pattern(300000) + input) << o.out.size();
  EXPECT_TRUE(err->line_bytes() == safeexec_test::helper_pattern(300000));
  EXPECT_EQ(o.err, "");
  EXPECT_GT(steps, 2U);
  EXPECT_TRUE(p.wait().success());
}

TEST_F(Streaming, StepNeverBlocksAndPassesTheDeadlineAsATimeout) {
  safeexec::Process p =
      safeexec::create_process(child_cmd({"sleep", "5000"}), safeexec::SpawnOptions{}.all_pipes());
  safeexec::Streams io;
  const auto start = std::chrono::steady_clock::now();
  const safeexec::StepResult r = safeexec::step(p, io, {}, safeexec::deadline_after(50ms));
  EXPECT_LT(std::chrono::steady_clock::now() - start, 40ms) << "step() waited";
  EXPECT_FALSE(r.done);
  EXPECT_EQ(r.wait_for.size(), 2U);  // stdout and stderr; stdin was closed (no input)
  std::this_thread::sleep_for(60ms);
  EXPECT_THROW(safeexec::step(p, io, {}, r.wake_at), safeexec::TimeoutError);
}

}  // namespace
