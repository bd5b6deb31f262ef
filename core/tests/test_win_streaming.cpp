// Streaming over the Windows pump (issue 21 part 2): the sinks, the stdin
// source and the callback-exception rule hold as on POSIX - the bytes go
// through the same StreamDelivery/InputFeed, fed by overlapped reads and
// writes instead of poll().
#include <windows.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>

#include "support/stream_recorder.hpp"
#include "win_test_util.hpp"

namespace {

using namespace std::chrono_literals;
using safeexec_test::child_cmd;
using safeexec_test::TempDir;
using safeexec_test_support::record_chunks;
using safeexec_test_support::record_lines;
using safeexec_test_support::SeenLine;
using safeexec_test_support::StreamRecord;
using WinStreaming = safeexec_test::LeakChecked;

struct CallerFailure : std::runtime_error {
  CallerFailure() : std::runtime_error("caller's own failure") {}
};

TEST_F(WinStreaming, LinesOfEchoedInputArriveOnceWithTheLastPartialOne) {
  auto rec = std::make_shared<StreamRecord>();
  safeexec::Streams io;
  record_lines(io.out, rec);
  io.out.max_line_bytes(3);
  const auto r = safeexec::execute(
      child_cmd({"echo"}),
      safeexec::ExecuteOptions{}.process_input("ab\nabcdefg\n\ntail").timeout(60s).streams(io));
  const std::vector<SeenLine> want = {
      {"ab", true, false}, {"abc", false, true}, {"def", false, true}, {"g", true, false},
      {"", true, false},   {"tai", false, true}, {"l", false, false}};
  EXPECT_EQ(rec->lines, want);
  EXPECT_EQ(r.out, "");
}

TEST_F(WinStreaming, ChunksTeeAndTheSourceFeedStdin) {
  // 4 MiB from the source, checked as it comes back; stderr teed.
  constexpr std::size_t kTotal = std::size_t{4} << 20;
  std::size_t given = 0;
  safeexec::Streams io;
  io.in = [&](char* buf, std::size_t room) {
    const std::size_t n = std::min(room, kTotal - given);
    for (std::size_t i = 0; i < n; ++i) buf[i] = static_cast<char>((given + i) * 31 % 251);
    given += n;
    return n;
  };
  std::size_t back = 0;
  bool same = true;
  io.out.on_chunk([&](std::string_view b) {
    for (std::size_t i = 0; i < b.size() && same; ++i) {
      same = b[i] == static_cast<char>((back + i) * 31 % 251);
    }
    back += b.size();
  });
  const auto r =
      safeexec::execute(child_cmd({"echo"}), safeexec::ExecuteOptions{}.timeout(120s).streams(io));
  EXPECT_EQ(back, kTotal);
  EXPECT_TRUE(same);
  EXPECT_EQ(r.out, "");

  auto err = std::make_shared<StreamRecord>();
  safeexec::Streams tee;
  record_chunks(tee.err, err);
  tee.err.capture(true);
  const auto s = safeexec::execute(child_cmd({"spew", "1000", "300000"}),
                                   safeexec::ExecuteOptions{}.timeout(60s).streams(tee));
  EXPECT_EQ(s.err.size(), 300000u);
  EXPECT_TRUE(err->chunks == s.err);
  EXPECT_EQ(s.out.size(), 1000u);
}

TEST_F(WinStreaming, CallbackExceptionKillsTheChildAndPropagates) {
  // More input than the pipes hold: left alone, the child would still be
  // echoing (blocked on a stdout nobody reads) when the exception arrives,
  // so only a kill ends it.
  safeexec::Process p = safeexec::create_process(child_cmd({"write-then-echo", "1000"}),
                                                 safeexec::SpawnOptions{}.all_pipes());
  safeexec::Streams io;
  io.out.on_chunk([](std::string_view) { throw CallerFailure(); });
  const std::string input(std::size_t{8} << 20, 'i');
  EXPECT_THROW(p.communicate(io, input, safeexec::deadline_after(60s)), CallerFailure);
  EXPECT_FALSE(p.status().running());
}

TEST_F(WinStreaming, ALineSplitAcrossTwoReadsArrivesWhole) {
  // The child writes "first-ha", pauses, then "lf\n...": two reads.
  auto rec = std::make_shared<StreamRecord>();
  safeexec::Streams io;
  record_lines(io.out, rec);
  auto chunks = std::make_shared<StreamRecord>();
  safeexec::Streams raw;
  record_chunks(raw.out, chunks);
  (void)safeexec::execute(child_cmd({"split-lines", "300"}),
                          safeexec::ExecuteOptions{}.timeout(60s).streams(raw));
  ASSERT_GE(chunks->chunk_calls, 2U) << "the pause did not split the output: no proof";
  (void)safeexec::execute(child_cmd({"split-lines", "300"}),
                          safeexec::ExecuteOptions{}.timeout(60s).streams(io));
  const std::vector<SeenLine> want = {{"first-half", true, false}, {"second", true, false}};
  EXPECT_EQ(rec->lines, want);
}

TEST_F(WinStreaming, TheSourceIsAskedOnlyWhenThePipeTakesMore) {
  // 16 MiB into a child that reads slowly and echoes: the source must wait
  // for each write to complete, so what it handed out and the child has not
  // echoed back stays within the pipes' and buffers' few 64 KiB - not the
  // whole input.
  constexpr std::size_t kTotal = std::size_t{16} << 20;
  constexpr std::size_t kBound = std::size_t{1} << 20;
  std::size_t given = 0;
  std::size_t back = 0;
  std::size_t most_ahead = 0;
  safeexec::Streams io;
  io.in = [&](char* buf, std::size_t room) {
    most_ahead = std::max(most_ahead, given - back);
    const std::size_t n = std::min(room, kTotal - given);
    for (std::size_t i = 0; i < n; ++i) buf[i] = static_cast<char>((given + i) % 253);
    given += n;
    return n;
  };
  bool same = true;
  io.out.on_chunk([&](std::string_view b) {
    for (std::size_t i = 0; i < b.size() && same; ++i) {
      same = b[i] == static_cast<char>((back + i) % 253);
    }
    back += b.size();
  });
  (void)safeexec::execute(child_cmd({"slow-echo", "1"}),
                          safeexec::ExecuteOptions{}.timeout(240s).streams(io));
  EXPECT_EQ(given, kTotal);
  EXPECT_EQ(back, kTotal);
  EXPECT_TRUE(same);
  EXPECT_LE(most_ahead, kBound) << "the source was asked ahead of the pipe";
}

TEST_F(WinStreaming, InputForAStdinThatIsNoPipeIsRefusedBeforeAnything) {
  TempDir dir;
  const std::string in = dir.str() + "\\in";
  {
    HANDLE f = ::CreateFileW(std::filesystem::path(in).wstring().c_str(), GENERIC_WRITE, 0, nullptr,
                             CREATE_ALWAYS, FILE_ATTRIBUTE_NORMAL, nullptr);
    ASSERT_NE(f, INVALID_HANDLE_VALUE);
    ::CloseHandle(f);
  }
  HANDLE lent =
      ::CreateFileW(std::filesystem::path(in).wstring().c_str(), GENERIC_READ, FILE_SHARE_READ,
                    nullptr, OPEN_EXISTING, FILE_ATTRIBUTE_NORMAL, nullptr);
  ASSERT_NE(lent, INVALID_HANDLE_VALUE);
  const std::vector<std::pair<const char*, safeexec::StdioRoute>> routes = {
      {"null", safeexec::StdioRoute::null()},
      {"file", safeexec::StdioRoute::file(in)},
      {"borrowed", safeexec::StdioRoute::borrow(lent)}};
  for (const auto& [name, route] : routes) {
    SCOPED_TRACE(name);
    safeexec::Process p = safeexec::create_process(
        child_cmd({"exit", "0"}), safeexec::SpawnOptions{}.stdin_from(route).stdout_pipe());
    bool asked = false;
    safeexec::Streams io;
    io.in = [&](char*, std::size_t) {
      asked = true;
      return std::size_t{0};
    };
    try {
      (void)p.communicate(io, {}, safeexec::deadline_after(60s));
      ADD_FAILURE() << "a source for a stdin that is no pipe was accepted";
    } catch (const safeexec::InvalidArgument& e) {
      EXPECT_NE(std::string(e.what()).find("stdin"), std::string::npos) << e.what();
    }
    EXPECT_FALSE(asked) << "the source was asked";
    EXPECT_THROW((void)p.communicate("bytes", safeexec::deadline_after(60s)),
                 safeexec::InvalidArgument);
    // The refusal left the handle as it was.
    EXPECT_EQ(p.communicate({}, safeexec::deadline_after(60s)).out, "");
    EXPECT_TRUE(p.status().success());
  }
  ::CloseHandle(lent);
}

}  // namespace
