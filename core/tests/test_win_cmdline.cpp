// Windows command lines as pure functions (win_cmdline.hpp), run natively on
// Linux and under Wine: argv -> command line -> argv round-trips by the
// msvcrt rules (F11 on Windows: an argument never splits, merges or
// vanishes), refusals are InvalidArgument, batch-file lines keep every
// argument quoted against cmd.exe (BatBadBut). On Windows the same lines are
// also split by the real CommandLineToArgvW (a differential check of the
// model parser).
#include <cstdint>
#include <string>
#include <vector>

#include "safeexec/errors.hpp"
#include "support/win_batch_oracle.hpp"
#include "win_cmdline.hpp"

#ifdef _WIN32
#include "win_leak_check.hpp"
// shellapi.h (CommandLineToArgvW) needs windows.h first.
#include <shellapi.h>
#else
#include "leak_check.hpp"
#endif

namespace {

namespace win = safeexec::detail::win;
using safeexec::InvalidArgument;
using safeexec_test::batch_line_violation;
using WinCmdline = safeexec_test::LeakChecked;

std::string quoted(std::string_view arg) {
  std::string out;
  win::append_quoted_arg(out, arg);
  return out;
}

// The tricky arguments of the quoting rules, and of the known wrong answers
// of other libraries (reproc drops "", Boost.Process v2 turns a\"b into a\b).
const std::vector<std::string> kTricky = {"",
                                          " ",
                                          "\t",
                                          "a b",
                                          "a\tb",
                                          "\"",
                                          "\\",
                                          "\\\\",
                                          "a\\",
                                          "a\\\\",
                                          "a b\\",
                                          "a b\\\\",
                                          "\\\"",
                                          "a\\\"b",
                                          "a\\\\\"b",
                                          "\"a b\"",
                                          "\\\\\"\\",
                                          "\"\"",
                                          "x\"\"y",
                                          "\\a\\b\\",
                                          "a\nb",
                                          "a\vb",
                                          "%PATH%",
                                          "&calc",
                                          "|",
                                          "^",
                                          "!x!",
                                          "é ü",
                                          "\xF0\x9F\x98\x80",
                                          "C:\\Program Files\\x\\",
                                          "-c",
                                          "--",
                                          "'single'",
                                          "a\"b c\"d",
                                          "\\ \\",
                                          "\" \\\" \"",
                                          "\r\n",
                                          "trailing\\\\\\"};

TEST_F(WinCmdline, QuotesByTheMsvcrtRules) {
  EXPECT_EQ(quoted("abc"), "abc");
  EXPECT_EQ(quoted(""), "\"\"");  // reproc's mistake: an empty argument vanishes
  EXPECT_EQ(quoted("a b"), "\"a b\"");
  EXPECT_EQ(quoted("a\tb"), "\"a\tb\"");
  EXPECT_EQ(quoted("a\\b"), "a\\b");                // backslashes not before a quote stay
  EXPECT_EQ(quoted("a\"b"), "a\\\"b");              // 0 backslashes + quote -> 1 + \"
  EXPECT_EQ(quoted("a\\\"b"), "a\\\\\\\"b");        // 1 -> 3 (Boost.Process v2 writes 1)
  EXPECT_EQ(quoted("a\\\\\"b"), "a\\\\\\\\\\\"b");  // 2 -> 5
  EXPECT_EQ(quoted("a b\\"), "\"a b\\\\\"");        // trailing backslash doubled before the quote
  EXPECT_EQ(quoted("ab\\"), "ab\\");                // unquoted: nothing follows, nothing doubled
}

TEST_F(WinCmdline, ParsesTheDocumentedExamples) {
  // Microsoft's "Parsing C++ command-line arguments" table (ucrt rules).
  using V = std::vector<std::string>;
  EXPECT_EQ(win::parse_command_line("p \"abc\" d e"), (V{"p", "abc", "d", "e"}));
  EXPECT_EQ(win::parse_command_line("p a\\\\b d\"e f\"g h"), (V{"p", "a\\\\b", "de fg", "h"}));
  EXPECT_EQ(win::parse_command_line("p a\\\\\\\"b c d"), (V{"p", "a\\\"b", "c", "d"}));
  EXPECT_EQ(win::parse_command_line("p a\\\\\\\\\"b c\" d e"), (V{"p", "a\\\\b c", "d", "e"}));
  EXPECT_EQ(win::parse_command_line("p a\"b\"\" c d"), (V{"p", "ab\" c d"}));
  // The program name: quotes toggle, backslashes are literal.
  EXPECT_EQ(win::parse_command_line("\"C:\\a b\\\" x"), (V{"C:\\a b\\", "x"}));
  EXPECT_EQ(win::parse_command_line("  "), (V{
                                               "",
                                           }));
}

TEST_F(WinCmdline, TrickyArgumentsRoundTrip) {
  std::vector<std::string> argv = {"C:\\Program Files\\prog.exe"};
  argv.insert(argv.end(), kTricky.begin(), kTricky.end());
  const std::string line = win::make_command_line(argv);
  EXPECT_EQ(win::parse_command_line(line), argv) << line;
  for (const auto& arg : kTricky) {
    const std::vector<std::string> one = {"prog", arg};
    EXPECT_EQ(win::parse_command_line(win::make_command_line(one)), one) << "[" << arg << "]";
  }
}

TEST_F(WinCmdline, GeneratedArgumentsRoundTrip) {
  // Every argument drawn from the characters the rules treat specially.
  const char alphabet[] = {'\\', '"', ' ', '\t', 'a', '%', '\n'};
  std::uint32_t state = 12345;
  auto next = [&state] {
    state = state * 1103515245u + 12345u;
    return (state >> 16) & 0x7fff;
  };
  for (int round = 0; round < 2000; ++round) {
    std::vector<std::string> argv = {"prog"};
    const unsigned nargs = next() % 5;
    for (unsigned a = 0; a < nargs; ++a) {
      std::string arg;
      const unsigned len = next() % 8;
      for (unsigned k = 0; k < len; ++k) arg.push_back(alphabet[next() % sizeof alphabet]);
      argv.push_back(arg);
    }
    const std::string line = win::make_command_line(argv);
    ASSERT_EQ(win::parse_command_line(line), argv) << line;
  }
}

TEST_F(WinCmdline, RefusesWhatCannotBeSaid) {
  EXPECT_THROW(win::make_command_line({}), InvalidArgument);
  EXPECT_THROW(win::make_command_line({"a\"b.exe"}), InvalidArgument);
  EXPECT_THROW(win::make_command_line({"prog", std::string("a\0b", 3)}), InvalidArgument);
  EXPECT_THROW(win::make_command_line({std::string("p\0q", 3)}), InvalidArgument);
  EXPECT_THROW(win::make_command_line({"prog", "\xC3"}), InvalidArgument);  // truncated UTF-8
  // "p" quoted is 3 units, the space 1: 32766 units fit with the NUL, 32767 do not.
  EXPECT_NO_THROW(win::make_command_line({"p", std::string(32766 - 4, 'a')}));
  EXPECT_THROW(win::make_command_line({"p", std::string(32767 - 4, 'a')}), InvalidArgument);
  // The limit counts UTF-16 units, not bytes: U+00E9 is 2 bytes, 1 unit.
  std::string e_acute;
  for (int i = 0; i < 32766 - 4; ++i) e_acute += "\xC3\xA9";
  EXPECT_NO_THROW(win::make_command_line({"p", e_acute}));
}

TEST_F(WinCmdline, Utf8AndUtf16ConvertBothWays) {
  const std::string text = "a\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80z";  // a é € 😀 z
  const std::u16string wide = win::utf8_to_utf16(text);
  EXPECT_EQ(wide, (std::u16string{u'a', 0xE9, 0x20AC, 0xD83D, 0xDE00, u'z'}));
  EXPECT_EQ(win::utf16_to_utf8(wide), text);
  EXPECT_THROW(win::utf8_to_utf16("\xC0\xAF"), InvalidArgument);          // overlong '/'
  EXPECT_THROW(win::utf8_to_utf16("\xED\xA0\x80"), InvalidArgument);      // a surrogate
  EXPECT_THROW(win::utf8_to_utf16("\xF4\x90\x80\x80"), InvalidArgument);  // > U+10FFFF
  EXPECT_THROW(win::utf8_to_utf16("\x80"), InvalidArgument);              // stray byte
  EXPECT_THROW(win::utf16_to_utf8(std::u16string{0xD800}), InvalidArgument);
  EXPECT_THROW(win::utf16_to_utf8(std::u16string{0xDC00, u'a'}), InvalidArgument);
}

TEST_F(WinCmdline, BatchLinesKeepEveryArgumentQuotedAgainstCmd) {
  const std::string cmd = "C:\\windows\\system32\\cmd.exe";
  const std::vector<std::string> hostile = {
      "&calc", "%PATH%", "%%PATH%%", "!PATH!", "^",        "a|b",       "<x",          ">x",
      "(x)",   "x\\",    "",         "a b",    "a,b",      "a;b",       "a=b",         "%",
      "%cd%",  "100%",   "\t",       "é&",     "\xC2\x85", "\\&whoami", "trailing\\\\"};
  for (const auto& arg : hostile) {
    const std::string line = win::make_batch_command_line(cmd, "C:\\s\\x.bat", {arg, "next"});
    EXPECT_EQ(batch_line_violation(line, 2), "") << "[" << arg << "] -> " << line;
  }
  EXPECT_EQ(win::make_batch_command_line(cmd, "C:\\s\\x.bat", {"a", "b c", "%X%", "q\\"}),
            "\"" + cmd +
                "\" /e:ON /v:OFF /d /c \"\"C:\\s\\x.bat\" a \"b c\" "
                "\"%%cd:~,%X%%cd:~,%\" \"q\\\\\"\"");
}

TEST_F(WinCmdline, TheOracleCatchesNaiveBatchQuoting) {
  // The oracle must be able to fail: msvcrt quoting is not cmd quoting.
  const std::string naive =
      "\"cmd.exe\" /e:ON /v:OFF /d /c \"\"x.bat\" " + quoted("\"&calc") + "\"";
  EXPECT_NE(batch_line_violation(naive, 1), "");
  EXPECT_NE(batch_line_violation("\"cmd.exe\" /e:ON /v:OFF /d /c \"\"x.bat\" \"%PATH%\"\"", 1), "");
}

TEST_F(WinCmdline, BatchRefusals) {
  const std::string cmd = "cmd.exe";
  EXPECT_THROW(win::make_batch_command_line(cmd, "C:\\a\"b.bat", {}), InvalidArgument);
  EXPECT_THROW(win::make_batch_command_line(cmd, "C:\\dir\\", {}), InvalidArgument);
  // Found by fuzz_win_cmdline: cmd expands %NAME% in the quoted script name.
  EXPECT_THROW(win::make_batch_command_line(cmd, "C:\\d\\s%PATH%.bat", {}), InvalidArgument);
  EXPECT_THROW(win::make_batch_command_line(cmd, "x.bat", {"a\nb"}), InvalidArgument);
  EXPECT_THROW(win::make_batch_command_line(cmd, "x.bat", {"a\rb"}), InvalidArgument);
  EXPECT_THROW(win::make_batch_command_line(cmd, "x.bat", {"a\"&calc"}), InvalidArgument);
  EXPECT_THROW(win::make_batch_command_line(cmd, "x.bat", {"\""}), InvalidArgument);
  EXPECT_THROW(win::make_batch_command_line(cmd, "x.bat", {std::string("a\0b", 3)}),
               InvalidArgument);
  EXPECT_THROW(win::make_batch_command_line(cmd, "x.bat", {std::string(40000, '%')}),
               InvalidArgument);
}

TEST_F(WinCmdline, BatchFileNamesAreRecognisedInAnyCase) {
  EXPECT_TRUE(win::is_batch_file_name("C:\\x\\run.bat"));
  EXPECT_TRUE(win::is_batch_file_name("C:\\x\\RUN.CMD"));
  EXPECT_TRUE(win::is_batch_file_name("r.Bat"));
  EXPECT_FALSE(win::is_batch_file_name("run.exe"));
  EXPECT_FALSE(win::is_batch_file_name("bat"));
  EXPECT_FALSE(win::is_batch_file_name("x.bat.exe"));
}

#ifdef _WIN32
// The model parser against the real one. CommandLineToArgvW differs from
// msvcrt only on "" inside quotes, which make_command_line never writes.
std::vector<std::string> command_line_to_argv(const std::string& line) {
  const std::u16string wide = win::utf8_to_utf16(line);
  int argc = 0;
  LPWSTR* wargv = CommandLineToArgvW(reinterpret_cast<const wchar_t*>(wide.c_str()), &argc);
  std::vector<std::string> out;
  if (wargv == nullptr) return out;
  for (int i = 0; i < argc; ++i) {
    out.push_back(win::utf16_to_utf8(reinterpret_cast<const char16_t*>(wargv[i])));
  }
  LocalFree(wargv);
  return out;
}

TEST_F(WinCmdline, RealCommandLineToArgvWAgrees) {
  std::vector<std::string> argv = {"C:\\Program Files\\prog.exe"};
  argv.insert(argv.end(), kTricky.begin(), kTricky.end());
  const std::string line = win::make_command_line(argv);
  EXPECT_EQ(command_line_to_argv(line), argv) << line;
  EXPECT_EQ(command_line_to_argv(line), win::parse_command_line(line));
}
#endif

}  // namespace
