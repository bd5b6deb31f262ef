// F13: the error's text and every log line leave out process_input, cut
// stdout/stderr to a bounded, escaped excerpt, and mask secrets in argv.
#include <algorithm>
#include <string>
#include <vector>

#include "../src/text_internal.hpp"

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
  EXPECT_NE(what.find("'--password=***' user"), std::string::npos) << what;
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
  // Adjacent matches merge into one "***": not even their count shows.
  EXPECT_EQ(described, "tool '***' '--key=***' 'pre-***-post' other");
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
  EXPECT_EQ(e.stderr_excerpt(), "safeexec-test-child: bad mode or arguments\\n");
}

TEST_F(Messages, BinaryOutputIsEscaped) {
  safeexec_test::TempDir dir;
  const std::string file =
      dir.write_file("bin.dat", std::string("\x00\x01\x1b[31m\xff ok\\\n", 13));
  safeexec_test::LogCapture log;
  const auto e = failure_of({"cat", file, dir.path() + "/missing"}, bounded());
  EXPECT_EQ(e.stdout_excerpt(), "\\x00\\x01\\x1b[31m\\xff ok\\\\\\n");
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

// Item 15: secrets masked one after the other left pieces of the longer one
// ("--***word=***word123"); every match is now found first and the union of
// the ranges masked.
TEST_F(Messages, NestedAndOverlappingSecretsAreMaskedAsOneRange) {
  EXPECT_EQ(safeexec::describe_argv({"--password=password123"}, {"pass", "password123"}),
            "'--***word=***'");
  EXPECT_EQ(safeexec::describe_argv({"--password=password123"}, {"password123", "pass"}),
            "'--***word=***'");
  // Overlapping, not nested: "abcd" and "cdef" share "cd".
  EXPECT_EQ(safeexec::describe_argv({"xabcdefx"}, {"abcd", "cdef"}), "'x***x'");
  EXPECT_EQ(safeexec::describe_argv({"xabcdefx"}, {"cdef", "abcd"}), "'x***x'");
  // A secret overlapping itself: "aa" in "aaa".
  EXPECT_EQ(safeexec::describe_argv({"baaab"}, {"aa"}), "'b***b'");
}

// Item 15: a secret the program prints on stderr (cat names the file it
// cannot open) was shown raw in the stderr excerpt and the message.
TEST_F(Messages, SecretEchoedOnStderrIsMaskedInTheExcerptAndLog) {
  safeexec_test::TempDir dir;
  safeexec_test::LogCapture log;
  const auto e =
      failure_of({"cat", dir.path() + "/token-hunter2-file"}, bounded().secrets({"hunter2"}));
  EXPECT_EQ(e.exit_code(), 1);
  EXPECT_NE(e.stderr_excerpt().find("token-***-file"), std::string::npos) << e.stderr_excerpt();
  EXPECT_EQ(e.stderr_excerpt().find("hunter2"), std::string::npos) << e.stderr_excerpt();
  EXPECT_EQ(std::string(e.what()).find("hunter2"), std::string::npos) << e.what();
  EXPECT_FALSE(log.any_contains("hunter2"));
}

// Item 15: process_input echoed by the child showed in the stdout excerpt,
// the message and the log, although F13 promises it never does.
TEST_F(Messages, EchoedProcessInputIsMaskedEvenWhenCutByTheLimit) {
  safeexec_test::TempDir dir;
  const std::string input = "stdin-secret-" + std::string(5000, 's') + "-end";
  safeexec_test::LogCapture log;
  // cat echoes stdin, then fails on the missing file: exit 1.
  // Something else first, then the echo.
  const std::string before = dir.write_file("before.txt", "before:");
  const auto e = failure_of({"cat", before, "-", dir.path() + "/missing"},
                            bounded().process_input(input).excerpt_bytes(100));
  EXPECT_EQ(e.stdout_excerpt(), "before:***...[4924 more bytes]");
  const auto cut = failure_of({"cat", "-", dir.path() + "/missing"},
                              bounded().process_input(input).excerpt_bytes(100));
  // The echo starts inside the excerpt and runs past its end: still masked.
  EXPECT_EQ(cut.stdout_excerpt(), "***...[4917 more bytes]");
  const auto whole = failure_of({"cat", "-", dir.path() + "/missing"},
                                bounded().process_input(input).excerpt_bytes(8000));
  EXPECT_EQ(whole.stdout_excerpt(), "***");
  for (const auto* err : {&cut, &whole}) {
    EXPECT_EQ(std::string(err->what()).find("stdin-secret"), std::string::npos) << err->what();
    EXPECT_EQ(std::string(err->what()).find("sss"), std::string::npos) << err->what();
  }
  EXPECT_FALSE(log.any_contains("stdin-secret"));
  EXPECT_FALSE(log.any_contains("sss"));
}

// Item 15: the masking is on raw bytes before the cut; below 4 bytes the
// input is not masked (a 1-byte input would mask every copy of that byte).
TEST_F(Messages, RedactedExcerptMasksAcrossTheCut) {
  using safeexec::detail::redacted_excerpt;
  EXPECT_EQ(redacted_excerpt("abcSECRETdef", 5, {"SECRET"}, {}), "abc***...[7 more bytes]");
  EXPECT_EQ(redacted_excerpt("abcSECRETdef", 3, {"SECRET"}, {}), "abc...[9 more bytes]");
  EXPECT_EQ(redacted_excerpt("xx\nINPUTyy", 100, {}, "INPUT"), "xx\\n***yy");
  EXPECT_EQ(redacted_excerpt("a\nb", 100, {}, "a"), "a\\nb");
  EXPECT_EQ(redacted_excerpt("abab", 100, {}, "abab"), "***");
  EXPECT_EQ(redacted_excerpt("abcdef", 100, {"bc"}, "cdef"), "a***");
  // A secret holding a control byte is matched raw, before escaping.
  EXPECT_EQ(redacted_excerpt("k=\x1bz!", 100, {"\x1bz"}, {}), "k=***!");
}

// Item 16: arguments with quotes and spaces rendered the same as other argv,
// and control bytes reached the message raw.
TEST_F(Messages, DescribeArgvQuotesUnambiguouslyAndEscapesControls) {
  EXPECT_EQ(safeexec::describe_argv({"a' 'b"}), R"('a'"'"' '"'"'b')");
  EXPECT_EQ(safeexec::describe_argv({"a", "b"}), "a b");
  EXPECT_NE(safeexec::describe_argv({"a' 'b"}), safeexec::describe_argv({"a", "b"}));
  EXPECT_EQ(safeexec::describe_argv({"a b"}), "'a b'");
  EXPECT_EQ(safeexec::describe_argv({"", "x"}), "'' x");
  EXPECT_EQ(safeexec::describe_argv({"line\nFAKE: ok", "\x1b[31mred", "t\tr\r", "\\'"}),
            R"($'line\nFAKE: ok' $'\x1b[31mred' $'t\tr\r' '\'"'"'')");
  EXPECT_EQ(safeexec::describe_argv({std::string("nul\0\xff", 5)}), R"($'nul\x00\xff')");
  EXPECT_EQ(safeexec::describe_argv({"$'x\\'"}, {}), R"('$'"'"'x\'"'"'')");
  EXPECT_EQ(safeexec::describe_argv({"q'\n"}), R"($'q\'\n')");
  const std::string text = safeexec::describe_argv({"a\nb", "c\x7f", "\x80"});
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    EXPECT_TRUE(c >= 0x20 && c < 0x7f) << text;
  }
}

// Item 16: SpawnError put argv[0] into its message raw; env keys in
// InvalidArgument messages were quoted with ' but not escaped.
TEST_F(Messages, CallerStringsInErrorMessagesAreQuotedAndEscaped) {
  safeexec_test::LogCapture log;
  try {
    (void)safeexec::execute({"/nonexistent/x\nstatus: exited with code 0"}, bounded());
    ADD_FAILURE() << "no SpawnError";
  } catch (const safeexec::SpawnError& e) {
    EXPECT_EQ(e.program(), "/nonexistent/x\nstatus: exited with code 0");
    EXPECT_NE(std::string(e.what()).find(R"(cannot start $'/nonexistent/x\nstatus: exited)"),
              std::string::npos)
        << e.what();
    EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << e.what();
  }
  for (const auto& line : log.lines()) {
    EXPECT_EQ(line.text.find('\n'), std::string::npos) << line.text;
  }
  try {
    safeexec::validate_env_key("A\x1b]0;owned\x07=B");
    ADD_FAILURE() << "key accepted";
  } catch (const safeexec::InvalidArgument& e) {
    EXPECT_EQ(std::string(e.what()), R"(environment key $'A\x1b]0;owned\x07=B' holds '=')");
  }
  try {
    safeexec::validate_env_value("K\r", std::string("v\0", 2));
    ADD_FAILURE() << "value accepted";
  } catch (const safeexec::InvalidArgument& e) {
    EXPECT_EQ(std::string(e.what()), R"(value of environment key $'K\r' holds a NUL byte)");
  }
}

TEST_F(Messages, ExcerptEscapesEveryControlByte) {
  EXPECT_EQ(safeexec::excerpt("a\nb\tc\rd\x1b\\e", 100), R"(a\nb\tc\rd\x1b\\e)");
  // The failure message keeps its four lines whatever the child prints.
  safeexec_test::TempDir dir;
  const std::string file = dir.write_file("x", "out\nstatus: exited with code 0\n");
  const auto e = failure_of({"cat", file, dir.path() + "/missing"}, bounded());
  const std::string what = e.what();
  EXPECT_EQ(std::count(what.begin(), what.end(), '\n'), 3) << what;
}

}  // namespace
