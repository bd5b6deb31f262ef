// F09: process_input reaches the child byte-exact, on stdin only: NUL bytes,
// every byte value, non-UTF-8, sizes around and far past the pipe buffer; no
// deadlock when the child writes a lot before reading; a child that never
// reads is not an error and never costs the host a SIGPIPE; and the input
// never reaches argv, an error message or a log line.
#include <signal.h>

#include <string>
#include <vector>

#include "leak_check.hpp"
#include "test_child.hpp"

namespace {

using namespace std::chrono_literals;
using safeexec_test::bounded;
using safeexec_test::child_cmd;
using safeexec_test::helper_pattern;
using ProcessInput = safeexec_test::LeakChecked;

std::string echo_through_execute(const std::string& input) {
  return safeexec::execute(child_cmd({"echo"}), bounded().process_input(input)).out;
}

std::string echo_through_communicate(const std::string& input) {
  safeexec::Process p =
      safeexec::create_process(child_cmd({"echo"}), safeexec::SpawnOptions{}.all_pipes());
  safeexec::Output o = p.communicate(input, safeexec::deadline_after(safeexec_test::kCommandLimit));
  EXPECT_TRUE(p.wait().success());
  return o.out;
}

TEST_F(ProcessInput, EdgeSizesAndBytesArriveExactly) {
  std::string every_byte;
  for (int c = 0; c < 256; ++c) every_byte.push_back(static_cast<char>(c));
  const std::vector<std::pair<std::string, std::string>> inputs = {
      {"empty", ""},
      {"one byte", "x"},
      {"one NUL", std::string(1, '\0')},
      {"NULs inside", std::string("a\0b\0\0c\0", 7)},
      {"every byte value", every_byte},
      {"invalid UTF-8", "\xc3\x28\xa0\xa1\xe2\x28\xa1\xf0\x28\x8c\xbc\xff\xfe\xed\xa0\x80"},
      {"pipe buffer - 1", safeexec_test::all_bytes_pattern(65535)},
      {"pipe buffer", safeexec_test::all_bytes_pattern(65536)},
      {"pipe buffer + 1", safeexec_test::all_bytes_pattern(65537)},
  };
  for (const auto& [name, input] : inputs) {
    SCOPED_TRACE(name);
    EXPECT_EQ(echo_through_execute(input), input);
    EXPECT_EQ(echo_through_communicate(input), input);
  }
}

TEST_F(ProcessInput, EightMiBArriveExactly) {
  const std::string input = safeexec_test::all_bytes_pattern(8U << 20);
  const std::string out = echo_through_execute(input);
  EXPECT_EQ(out.size(), input.size());
  EXPECT_TRUE(out == input) << "8 MiB round trip differs";
  EXPECT_TRUE(echo_through_communicate(input) == input);
}

TEST_F(ProcessInput, NoDeadlockWhenChildWritesBeforeReading) {
  // The child writes 1 MB to stdout and to stderr before it reads anything:
  // far more than a pipe holds. A parent that writes all the input first
  // deadlocks; ours services all pipes together. Bounded by the timeout.
  const std::string input = safeexec_test::all_bytes_pattern(4U << 20);
  const auto r = safeexec::execute(child_cmd({"write-then-echo", "1000000"}),
                                   safeexec::ExecuteOptions{}.process_input(input).timeout(20s));
  EXPECT_TRUE(r.status.success());
  EXPECT_EQ(r.out.size(), 1000000U + input.size());
  EXPECT_TRUE(r.out == helper_pattern(1000000) + input);
  EXPECT_TRUE(r.err == helper_pattern(1000000));
}

TEST_F(ProcessInput, ChildThatNeverReadsIsNotAnErrorAndCostsNoSigpipe) {
  // Default SIGPIPE disposition: if the library let a SIGPIPE through, this
  // test process would die of it.
  // (A runner may start us with SIGPIPE ignored; make it deadly for this test.)
  struct sigaction deadly {};
  deadly.sa_handler = SIG_DFL;
  struct sigaction inherited {};
  ASSERT_EQ(::sigaction(SIGPIPE, &deadly, &inherited), 0);
  sigset_t mask_before;
  ASSERT_EQ(::pthread_sigmask(SIG_SETMASK, nullptr, &mask_before), 0);

  const std::string input(4U << 20, 'q');
  for (int i = 0; i < 3; ++i) {
    const auto r = safeexec::execute(child_cmd({"ignore-stdin"}), bounded().process_input(input));
    EXPECT_TRUE(r.status.success());
    EXPECT_TRUE(r.out.empty());
  }
  safeexec::Process p =
      safeexec::create_process(child_cmd({"ignore-stdin"}), safeexec::SpawnOptions{}.all_pipes());
  (void)p.communicate(input, safeexec::deadline_after(safeexec_test::kCommandLimit));
  EXPECT_TRUE(p.wait().success());

  // Nothing process-wide changed: same disposition, same mask, no SIGPIPE pending.
  struct sigaction after {};
  ASSERT_EQ(::sigaction(SIGPIPE, nullptr, &after), 0);
  EXPECT_EQ(after.sa_handler, SIG_DFL);
  sigset_t mask_after;
  ASSERT_EQ(::pthread_sigmask(SIG_SETMASK, nullptr, &mask_after), 0);
  EXPECT_EQ(::sigismember(&mask_after, SIGPIPE), ::sigismember(&mask_before, SIGPIPE));
  sigset_t pending;
  ASSERT_EQ(::sigpending(&pending), 0);
  EXPECT_EQ(::sigismember(&pending, SIGPIPE), 0);
  ::sigaction(SIGPIPE, &inherited, nullptr);
}

TEST_F(ProcessInput, ChildThatReadsSomeThenClosesStdin) {
  const std::string input = safeexec_test::all_bytes_pattern(4U << 20);
  const auto r = safeexec::execute(child_cmd({"read-some", "10"}), bounded().process_input(input));
  EXPECT_TRUE(r.status.success());
  EXPECT_EQ(r.out, input.substr(0, 10));
}

TEST_F(ProcessInput, InputNeverReachesArgvMessagesOrLogs) {
  const std::string sentinel = "INPUT-SENTINEL-7f3a9c";
  const std::string input = "password=" + sentinel + "\n" + std::string(100000, 'z') + sentinel;
  safeexec_test::LogCapture log;

  // argv: the child's arguments are exactly what we passed.
  const std::vector<std::string> args =
      safeexec_test::argv_seen_by_child({"a", "b"}, bounded().process_input(input));
  EXPECT_EQ(args, (std::vector<std::string>{"a", "b"}));

  // A failing command: the message and the log carry argv, status, output
  // excerpts - not the input.
  try {
    (void)safeexec::execute(child_cmd({"exit", "3"}), bounded().process_input(input));
    ADD_FAILURE() << "no exception";
  } catch (const safeexec::ProcessExecutionError& e) {
    EXPECT_EQ(std::string(e.what()).find(sentinel), std::string::npos) << e.what();
    EXPECT_EQ(e.stdout_excerpt().find(sentinel), std::string::npos);
  }
  // A timeout and a spawn failure: same.
  try {
    (void)safeexec::execute(
        child_cmd({"sleep", "10000"}),
        safeexec::ExecuteOptions{}.process_input(input).timeout(100ms).kill_grace(100ms));
    ADD_FAILURE() << "no timeout";
  } catch (const safeexec::TimeoutError& e) {
    EXPECT_EQ(std::string(e.what()).find(sentinel), std::string::npos) << e.what();
  }
  try {
    (void)safeexec::execute({"/nonexistent/safeexec-prog"}, bounded().process_input(input));
    ADD_FAILURE() << "no spawn error";
  } catch (const safeexec::SpawnError& e) {
    EXPECT_EQ(std::string(e.what()).find(sentinel), std::string::npos) << e.what();
  }

  const auto lines = log.lines();
  EXPECT_GE(lines.size(), 3U) << "the failures were not logged";
  for (const auto& line : lines) {
    EXPECT_EQ(line.text.find(sentinel), std::string::npos) << "log line: " << line.text;
    EXPECT_EQ(line.text.find("password="), std::string::npos) << "log line: " << line.text;
  }
}

}  // namespace
