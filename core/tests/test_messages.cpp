// F13: the error's text and every log line leave out process_input, cut
// stdout/stderr to a bounded, escaped excerpt, and mask secrets in argv.
#include <string>
#include <vector>

#include "leak_check.hpp"
#include "test_child.hpp"

namespace {

using namespace std::chrono_literals;
using safeexec::LogLevel;
using safeexec_test::bounded;
using safeexec_test::child_cmd;
using Messages = safeexec_test::LeakChecked;

/// Runs argv expecting ProcessExecutionError; returns it.
safeexec::ProcessExecutionError failure_of(const std::vector<std::string>& argv,
                                           const safeexec::ExecuteOptions& options) {
  try {
    (void)safeexec::execute(argv, options);
  } catch (const safeexec::ProcessExecutionError& e) {
    return e;
  }
  ADD_FAILURE() << "the command did not fail";
  return safeexec::ProcessExecutionError("", safeexec::ExitStatus(), "", "");
}

/// True when `text` holds no raw control byte other than newline and tab.
bool printable_text(const std::string& text) {
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if ((c < 0x20 && c != '\n' && c != '\t') || c == 0x7f) return false;
  }
  return true;
}

TEST_F(Messages, FailureMessageHoldsMaskedArgvAndStatus) {
  safeexec_test::LogCapture log;
  const auto e = failure_of(child_cmd({"exit", "3", "--password=hunter2", "user"}),
                            bounded().secrets({"hunter2"}));
  const std::string what = e.what();
  EXPECT_EQ(e.exit_code(), 3);
  EXPECT_EQ(e.status(), safeexec::ExitStatus::exited(3));
  EXPECT_NE(what.find("'--password=***'"), std::string::npos) << what;
  EXPECT_NE(what.find("'user'"), std::string::npos) << what;
  EXPECT_NE(what.find(safeexec_test::child_path()), std::string::npos) << what;
  EXPECT_NE(what.find("exited with code 3"), std::string::npos) << what;
  EXPECT_EQ(what.find("hunter2"), std::string::npos) << what;

  // Logged once at error level with the same text; the debug "running" line
  // is masked as well.
  EXPECT_EQ(log.count(LogLevel::error), 1U);
  EXPECT_EQ(log.count(LogLevel::error, what), 1U);
  EXPECT_GE(log.count(LogLevel::debug, "--password=***"), 1U);
  EXPECT_FALSE(log.any_contains("hunter2"));
}

TEST_F(Messages, SecretsAreMaskedWhereverTheyAppearInArgv) {
  const std::string described = safeexec::describe_argv(
      {"tool", "hunter2", "--key=hunter2hunter2", "pre-hunter2-post", "other"}, {"hunter2", ""});
  EXPECT_EQ(described, "'tool' '***' '--key=******' 'pre-***-post' 'other'");
  // Secrets elsewhere in the options, e.g. in a timeout message, are masked too.
  try {
    (void)safeexec::execute(
        child_cmd({"sleep", "10000", "token=hunter2"}),
        safeexec::ExecuteOptions{}.timeout(100ms).kill_grace(100ms).secrets({"hunter2"}));
    ADD_FAILURE() << "no timeout";
  } catch (const safeexec::TimeoutError& e) {
    EXPECT_EQ(std::string(e.what()).find("hunter2"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("token=***"), std::string::npos) << e.what();
  }
}

TEST_F(Messages, LogFailAsErrorFalseLogsAtDebug) {
  safeexec_test::LogCapture log;
  (void)failure_of(child_cmd({"exit", "4"}), bounded().log_fail_as_error(false));
  EXPECT_EQ(log.count(LogLevel::error), 0U);
  EXPECT_EQ(log.count(LogLevel::debug, "exited with code 4"), 1U);
}

TEST_F(Messages, OutputExcerptsAreCutWithAMoreBytesMarker) {
  safeexec_test::TempDir dir;
  const std::string file = dir.write_file("out.txt", std::string(5000, 'A'));
  safeexec_test::LogCapture log;
  // cat prints the file on stdout, complains about the missing one on stderr, exits 1.
  const auto e = failure_of({"cat", file, dir.path() + "/missing"}, bounded().excerpt_bytes(100));
  EXPECT_EQ(e.exit_code(), 1);
  EXPECT_EQ(e.stdout_excerpt(), std::string(100, 'A') + "...[4900 more bytes]");
  const std::string what = e.what();
  EXPECT_NE(what.find(std::string(100, 'A') + "...[4900 more bytes]"), std::string::npos);
  EXPECT_EQ(what.find(std::string(101, 'A')), std::string::npos) << "excerpt not cut";
  EXPECT_LT(what.size(), 1000U);
  for (const auto& line : log.lines()) {
    EXPECT_EQ(line.text.find(std::string(101, 'A')), std::string::npos) << "log line not cut";
  }

  // stderr is cut the same way: the helper's usage line is 43 bytes.
  const auto usage = failure_of(child_cmd({"no-such-mode"}), bounded().excerpt_bytes(10));
  EXPECT_EQ(usage.exit_code(), 64);
  EXPECT_EQ(usage.stderr_excerpt(), "safeexec-t...[33 more bytes]");
  EXPECT_NE(std::string(usage.what()).find("safeexec-t...[33 more bytes]"), std::string::npos);
}

TEST_F(Messages, StderrExcerptIsKeptEvenWithoutReturnStderr) {
  const auto e = failure_of(child_cmd({"no-such-mode"}), bounded().return_stderr(false));
  EXPECT_EQ(e.stderr_excerpt(), "safeexec-test-child: bad mode or arguments\n");
}

TEST_F(Messages, BinaryOutputIsEscaped) {
  safeexec_test::TempDir dir;
  const std::string file =
      dir.write_file("bin.dat", std::string("\x00\x01\x1b[31m\xff ok\\\n", 13));
  safeexec_test::LogCapture log;
  const auto e = failure_of({"cat", file, dir.path() + "/missing"}, bounded());
  EXPECT_EQ(e.stdout_excerpt(), "\\x00\\x01\\x1b[31m\\xff ok\\x5c\n");
  EXPECT_TRUE(printable_text(e.what())) << "raw control bytes in the message";
  for (const auto& line : log.lines()) {
    EXPECT_TRUE(printable_text(line.text)) << "raw control bytes in a log line";
  }
  EXPECT_EQ(safeexec::excerpt(std::string("\x00\x7f\x80", 3), 10), "\\x00\\x7f\\x80");
}

TEST_F(Messages, ExcerptBoundaries) {
  EXPECT_EQ(safeexec::excerpt("", 3), "");
  EXPECT_EQ(safeexec::excerpt("abc", 3), "abc");
  EXPECT_EQ(safeexec::excerpt("abcd", 3), "abc...[1 more bytes]");
  EXPECT_EQ(safeexec::excerpt("abcdef", 0), "...[6 more bytes]");
}

TEST_F(Messages, ProcessInputIsNeverInTheMessageOrLog) {
  const std::string input = "stdin-secret-" + std::string(5000, 's') + "-end";
  safeexec_test::LogCapture log;
  const auto e = failure_of(child_cmd({"exit", "3"}), bounded().process_input(input));
  const std::string what = e.what();
  EXPECT_EQ(what.find("stdin-secret"), std::string::npos) << what;
  EXPECT_EQ(what.find("sss"), std::string::npos) << what;
  EXPECT_FALSE(log.any_contains("stdin-secret"));
  EXPECT_FALSE(log.any_contains("sss"));
}

}  // namespace
