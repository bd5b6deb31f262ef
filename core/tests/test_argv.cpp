// F11: argv is handed to execve verbatim - no shell, no splitting, no
// globbing, no expansion; shell metacharacters arrive literally; an empty
// argv, an empty program name or an argument holding NUL is refused before
// anything starts; a bare program name is searched in PATH (no shell either).
#include <string>
#include <vector>

#include "leak_check.hpp"
#include "test_child.hpp"

namespace {

using safeexec::testing::Call;
using safeexec::testing::call_count;
using safeexec_test::argv_seen_by_child;
using safeexec_test::bounded;
using safeexec_test::child_cmd;
using Argv = safeexec_test::LeakChecked;

TEST_F(Argv, ShellMetacharactersArriveLiterally) {
  const std::vector<std::string> args = {
      ";",        "|",          "&",    "&&",          "||",    "$(reboot)", "`reboot`", "${HOME}",
      "$HOME",    "*",          "?",    "~",           "~root", ">",         "<",        ">/tmp/x",
      "2>&1",     "a;b",        "a|b",  "a && b",      "!",     "#comment",  "\\",       "\\n",
      "'single'", "\"double\"", "'",    "\"",          "{a,b}", "[ab]",      "-c",       "--",
      "-",        "=",          "%s%n", "\x1b[31mred",
  };
  EXPECT_EQ(argv_seen_by_child(args), args);
}

TEST_F(Argv, WhitespaceNewlinesAndEmptyStringsAreNotSplitOrDropped) {
  const std::vector<std::string> args = {"", "a b",  " ",    "\t", "line1\nline2",
                                         "", "\r\n", "x  y", ""};
  EXPECT_EQ(argv_seen_by_child(args), args);
}

TEST_F(Argv, HundredKiBArgumentArrivesWhole) {
  std::string big(100 * 1024, '\0');
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>('!' + i % 90);
  const std::vector<std::string> args = {"before", big, "after"};
  EXPECT_EQ(argv_seen_by_child(args), args);
}

TEST_F(Argv, EveryNonNulByteArrives) {
  std::string bytes;
  for (int c = 1; c < 256; ++c) bytes.push_back(static_cast<char>(c));
  EXPECT_EQ(argv_seen_by_child({bytes}), std::vector<std::string>{bytes});
}

// `argv` must be refused with InvalidArgument before any pipe or child exists.
std::string refused(const std::vector<std::string>& argv) {
  safeexec::testing::clear_faults();
  std::string message;
  try {
    safeexec::Process p = safeexec::create_process(argv, safeexec::SpawnOptions{}.all_pipes());
    ADD_FAILURE() << "create_process accepted the argv";
  } catch (const safeexec::InvalidArgument& e) {
    message = e.what();
  }
  EXPECT_EQ(call_count(Call::clone), 0U);
  EXPECT_EQ(call_count(Call::pipe2), 0U);
  safeexec::testing::clear_faults();
  EXPECT_THROW((void)safeexec::execute(argv, bounded()), safeexec::InvalidArgument);
  EXPECT_EQ(call_count(Call::clone), 0U);
  return message;
}

TEST_F(Argv, EmptyArgvIsRefused) {
  EXPECT_NE(refused({}).find("empty"), std::string::npos);
}

TEST_F(Argv, EmptyProgramNameIsRefused) {
  EXPECT_NE(refused({""}).find("argv[0]"), std::string::npos);
  EXPECT_NE(refused({"", "arg"}).find("argv[0]"), std::string::npos);
}

TEST_F(Argv, ArgumentWithNulIsRefused) {
  // execve would silently cut "rm\0-rf" to "rm": refuse rather than run
  // something other than what was asked.
  const std::string message = refused(child_cmd({"argv", "ok", std::string("cut\0here", 8)}));
  EXPECT_NE(message.find("argv[3]"), std::string::npos) << message;
  EXPECT_NE(message.find("NUL"), std::string::npos) << message;
  EXPECT_NE(refused({std::string("/bin/true\0x", 11)}).find("argv[0]"), std::string::npos);
}

TEST_F(Argv, NoGlobbingOrTildeOrVariableExpansion) {
  safeexec_test::TempDir dir;
  dir.write_file("alpha", "");
  dir.write_file("beta", "");
  dir.write_file("*", "");
  const std::vector<std::string> args = {"*", "?lpha", "[ab]*", "~", "$HOME", "*.none"};
  EXPECT_EQ(argv_seen_by_child(args, bounded().spawn(safeexec::SpawnOptions{}.cwd(dir.path()))),
            args);
}

TEST_F(Argv, BareNameIsSearchedInPath) {
  EXPECT_TRUE(safeexec::execute({"true"}, bounded()).status.success());
  try {
    (void)safeexec::execute({"false"}, bounded());
    ADD_FAILURE() << "false succeeded";
  } catch (const safeexec::ProcessExecutionError& e) {
    EXPECT_EQ(e.exit_code(), 1);
  }
  // PATH is the child's: an addition decides where a bare name is found.
  const std::string dir =
      safeexec_test::child_path().substr(0, safeexec_test::child_path().rfind('/'));
  const auto r = safeexec::execute(
      {"safeexec-test-child", "argv", "found"},
      bounded().spawn(safeexec::SpawnOptions{}.addl_env({{"PATH", "/nonexistent:" + dir}})));
  EXPECT_EQ(r.out, std::string("found") + '\0');
}

TEST_F(Argv, ScriptWithoutShebangIsNotRunThroughAShell) {
  // execvp would retry an ENOEXEC file with /bin/sh; we report it instead.
  safeexec_test::TempDir dir;
  const std::string marker = dir.path() + "/ran";
  const std::string script = dir.write_file("script", "touch " + marker + "\n", 0755);
  try {
    (void)safeexec::execute({script}, bounded());
    ADD_FAILURE() << "a shebang-less script was run";
  } catch (const safeexec::SpawnError& e) {
    EXPECT_EQ(e.stage(), safeexec::SpawnStage::exec);
    EXPECT_EQ(e.error_code(), ENOEXEC);
  }
  EXPECT_NE(::access(marker.c_str(), F_OK), 0) << "the script ran";
}

}  // namespace
