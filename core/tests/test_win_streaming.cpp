// Streaming over the Windows pump (issue 21 part 2): the sinks, the stdin
// source and the callback-exception rule hold as on POSIX - the bytes go
// through the same StreamDelivery/InputFeed, fed by overlapped reads and
// writes instead of poll().
#include <windows.h>

#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>

#include "support/stream_recorder.hpp"
#include "win_test_util.hpp"

namespace {

using namespace std::chrono_literals;
using safeexec_test::child_cmd;
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
  safeexec::Process p =
      safeexec::create_process(child_cmd({"echo"}), safeexec::SpawnOptions{}.all_pipes());
  safeexec::Streams io;
  io.out.on_chunk([](std::string_view) { throw CallerFailure(); });
  EXPECT_THROW(p.communicate(io, "some input", safeexec::deadline_after(60s)), CallerFailure);
  EXPECT_FALSE(p.status().running());
}

}  // namespace
