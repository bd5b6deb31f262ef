// The Windows backend's spawn: argv reaches the child's C runtime intact
// (F11), only the three stdio handles are inherited (F06 on Windows: the
// handle list), the child runs inside its job from its first instruction
// (suspended -> assigned -> resumed) so the whole tree dies with the job,
// the current directory is never searched for the program, and batch files
// go through cmd.exe with every argument kept an argument (BatBadBut).
#include <windows.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "safeexec/testing/windows_hooks.hpp"
#include "win_cmdline.hpp"
#include "win_test_util.hpp"
// shellapi.h (CommandLineToArgvW) needs windows.h first.
#include <shellapi.h>

namespace {

using namespace std::chrono_literals;
using safeexec::execute;
using safeexec::ExecuteOptions;
using safeexec_test::child_cmd;
using safeexec_test::helper;
using safeexec_test::split_nul;
using safeexec_test::TempDir;
using WinSpawn = safeexec_test::LeakChecked;

const std::vector<std::string> kTricky = {"",
                                          " ",
                                          "\t",
                                          "a b",
                                          "\"",
                                          "\\",
                                          "\\\\",
                                          "a\\",
                                          "a b\\",
                                          "a\\\"b",
                                          "a\\\\\"b",
                                          "\"a b\"",
                                          "\"\"",
                                          "x\"\"y",
                                          "a\nb",
                                          "%PATH%",
                                          "&calc",
                                          "|",
                                          "^",
                                          "!x!",
                                          "é ü",
                                          "\xF0\x9F\x98\x80",
                                          "C:\\Program Files\\x\\",
                                          "-c",
                                          "'single'",
                                          "\\ \\",
                                          "trailing\\\\\\"};

TEST_F(WinSpawn, ArgumentsReachTheChildsWargvIntact) {
  std::vector<std::string> argv = child_cmd({"argv"});
  argv.insert(argv.end(), kTricky.begin(), kTricky.end());
  const auto r = execute(argv, ExecuteOptions{}.timeout(60s));
  EXPECT_EQ(split_nul(r.out), kTricky);
}

TEST_F(WinSpawn, RealCommandLineToArgvWSplitsTheLineTheChildGot) {
  std::vector<std::string> argv = child_cmd({"cmdline"});
  argv.insert(argv.end(), kTricky.begin(), kTricky.end());
  const auto r = execute(argv, ExecuteOptions{}.timeout(60s));
  const std::u16string wide = safeexec::detail::win::utf8_to_utf16(r.out);
  int argc = 0;
  LPWSTR* wargv = CommandLineToArgvW(reinterpret_cast<const wchar_t*>(wide.c_str()), &argc);
  ASSERT_NE(wargv, nullptr);
  std::vector<std::string> seen;
  for (int i = 2; i < argc; ++i) {
    seen.push_back(
        safeexec::detail::win::utf16_to_utf8(reinterpret_cast<const char16_t*>(wargv[i])));
  }
  LocalFree(wargv);
  EXPECT_EQ(seen, kTricky) << r.out;
  EXPECT_EQ(safeexec::detail::win::parse_command_line(r.out), argv) << r.out;
}

TEST_F(WinSpawn, OnlyTheStdioHandlesAreInherited) {
  // An inheritable handle of the parent: without PROC_THREAD_ATTRIBUTE_HANDLE_LIST,
  // CreateProcess(bInheritHandles=TRUE) would hand it to the child.
  SECURITY_ATTRIBUTES sa{sizeof sa, nullptr, TRUE};
  HANDLE ev = CreateEventW(&sa, TRUE, FALSE, nullptr);
  ASSERT_NE(ev, nullptr);
  const std::string value = std::to_string(reinterpret_cast<ULONG_PTR>(ev));
  const auto r = execute(child_cmd({"has-handle", value}), ExecuteOptions{}.timeout(60s));
  CloseHandle(ev);
  EXPECT_EQ(r.out, "0") << "inheritable handle " << value << " leaked into the child";
  // And the stdio handles themselves did arrive (the child wrote through one).
}

TEST_F(WinSpawn, ChildIsInsideItsJobFromItsFirstInstruction) {
  // Hold create_process between CreateProcessW and the job assignment: a
  // child that was not created suspended, or was resumed before being
  // assigned, runs meanwhile and reports that it is in no job.
  safeexec::testing::set_after_create_hook([] { Sleep(1500); });
  std::string out;
  try {
    out = execute(child_cmd({"in-job"}), ExecuteOptions{}.timeout(60s)).out;
  } catch (...) {
    safeexec::testing::set_after_create_hook({});
    throw;
  }
  safeexec::testing::set_after_create_hook({});
  EXPECT_EQ(out, "1");
}

// Starts the helper's "grandchild" mode and opens the grandchild it
// reports, once it is inside the job (Wine adds a new process to its
// parent's job while it initialises, a moment after CreateProcess returns).
HANDLE start_tree(safeexec::Process& p) {
  std::string line;
  HANDLE out = reinterpret_cast<HANDLE>(static_cast<std::intptr_t>(p.stdout_fd()));
  OVERLAPPED ov{};
  ov.hEvent = CreateEventW(nullptr, TRUE, FALSE, nullptr);
  while (line.find('\n') == std::string::npos) {
    char c = 0;
    DWORD n = 0;
    ResetEvent(ov.hEvent);
    if (!ReadFile(out, &c, 1, nullptr, &ov) && GetLastError() != ERROR_IO_PENDING) break;
    if (!GetOverlappedResult(out, &ov, &n, TRUE) || n == 0) break;
    line.push_back(c);
  }
  CloseHandle(ov.hEvent);
  if (line.empty()) return nullptr;
  const auto pid = static_cast<DWORD>(std::stoul(line));
  HANDLE g = OpenProcess(SYNCHRONIZE | PROCESS_QUERY_INFORMATION, FALSE, pid);
  if (g == nullptr) return nullptr;
  BOOL in_job = FALSE;
  for (int i = 0; i < 250 && !in_job; ++i) {
    if (!IsProcessInJob(g, static_cast<HANDLE>(p.job_handle()), &in_job)) {
      ADD_FAILURE() << "IsProcessInJob failed: " << GetLastError();
      break;
    }
    if (!in_job) Sleep(20);
  }
  EXPECT_TRUE(in_job) << "the grandchild " << pid << " is not in the child's job";
  return g;
}

TEST_F(WinSpawn, TerminateEndsTheWholeTree) {
  auto p = safeexec::create_process(child_cmd({"grandchild", "60000"}),
                                    safeexec::SpawnOptions{}.stdout_pipe());
  HANDLE g = start_tree(p);
  ASSERT_NE(g, nullptr);
  EXPECT_EQ(WaitForSingleObject(g, 0), static_cast<DWORD>(WAIT_TIMEOUT));
  const auto st = p.terminate(0ms);
  EXPECT_EQ(st.signal(), 9);
  EXPECT_EQ(WaitForSingleObject(g, 10000), WAIT_OBJECT_0) << "the grandchild outlived terminate()";
  CloseHandle(g);
}

TEST_F(WinSpawn, DestroyingTheHandleEndsTheWholeTree) {
  HANDLE g = nullptr;
  {
    auto p = safeexec::create_process(child_cmd({"grandchild", "60000"}),
                                      safeexec::SpawnOptions{}.stdout_pipe());
    g = start_tree(p);
    ASSERT_NE(g, nullptr);
  }
  EXPECT_EQ(WaitForSingleObject(g, 10000), WAIT_OBJECT_0) << "the grandchild outlived the handle";
  CloseHandle(g);
}

TEST_F(WinSpawn, TheCurrentDirectoryIsNeverSearched) {
  TempDir dir;
  const auto planted = dir.path() / "planted_prog.exe";
  std::filesystem::copy_file(helper(), planted);
  wchar_t old_cwd[MAX_PATH];
  GetCurrentDirectoryW(MAX_PATH, old_cwd);
  ASSERT_TRUE(SetCurrentDirectoryW(dir.path().wstring().c_str()));
  auto run = [&](safeexec::EnvMap env) {
    return safeexec::create_process({"planted_prog", "exit", "0"},
                                    safeexec::SpawnOptions{}.cwd(dir.str()).addl_env(env));
  };
  try {
    EXPECT_THROW(run({}), safeexec::SpawnError);
    // Nor through a relative PATH entry, which names the current directory too.
    EXPECT_THROW(run({{"PATH", ".;bin;"}}), safeexec::SpawnError);
    try {
      run({});
    } catch (const safeexec::SpawnError& e) {
      EXPECT_EQ(e.stage(), safeexec::SpawnStage::exec);
      EXPECT_EQ(e.error_code(), ERROR_FILE_NOT_FOUND);
    }
    // An explicit relative path is a path, not a search: it runs.
    auto p = safeexec::create_process({".\\planted_prog.exe", "exit", "7"},
                                      safeexec::SpawnOptions{}.cwd(dir.str()));
    EXPECT_EQ(p.wait().exit_code(), 7);
    // And an absolute PATH entry is searched.
    auto q = run({{"PATH", dir.str()}});
    EXPECT_EQ(q.wait().exit_code(), 0);
  } catch (...) {
    SetCurrentDirectoryW(old_cwd);
    throw;
  }
  SetCurrentDirectoryW(old_cwd);
}

TEST_F(WinSpawn, MissingProgramIsATypedSpawnError) {
  try {
    (void)execute({"safeexec-no-such-program-xyz"});
    FAIL() << "no error";
  } catch (const safeexec::SpawnError& e) {
    EXPECT_EQ(e.stage(), safeexec::SpawnStage::exec);
    EXPECT_EQ(e.error_code(), ERROR_FILE_NOT_FOUND);
    EXPECT_NE(std::string(e.what()).find("Win32 error 2"), std::string::npos) << e.what();
  }
  EXPECT_THROW((void)execute({helper(), std::string("a\0b", 3)}), safeexec::InvalidArgument);
  EXPECT_THROW((void)execute({"a\"b.exe"}), safeexec::InvalidArgument);
  EXPECT_THROW(
      (void)execute({helper(), "exit", "0"},
                    ExecuteOptions{}.spawn(safeexec::SpawnOptions{}.cwd("C:\\no\\such\\dir"))),
      safeexec::SpawnError);
}

// A batch file that prints each of its first two arguments on a line of
// its own; an argument that became a command would print INJECTED alone.
std::filesystem::path write_batch(const TempDir& dir, const std::string& name) {
  const auto path = dir.path() / name;
  std::ofstream f(path, std::ios::binary);
  f << "@echo off\r\necho [%~1]\r\necho [%~2]\r\n";
  return path;
}

bool has_line(const std::string& out, const std::string& line) {
  std::size_t start = 0;
  while (start <= out.size()) {
    std::size_t end = out.find('\n', start);
    if (end == std::string::npos) end = out.size();
    std::string l = out.substr(start, end - start);
    while (!l.empty() && (l.back() == '\r' || l.back() == ' ')) l.pop_back();
    while (!l.empty() && l.front() == ' ') l.erase(0, 1);
    if (l == line) return true;
    start = end + 1;
  }
  return false;
}

TEST_F(WinSpawn, BatchArgumentsNeverBecomeCommands) {
  TempDir dir;
  const auto bat = write_batch(dir, "args.bat");
  for (const std::string arg : {"&echo INJECTED", "|echo INJECTED", "a b&echo INJECTED",
                                "^&echo INJECTED", "\\&echo INJECTED", "x\\", "(echo INJECTED)"}) {
    const auto r = execute({bat.string(), arg, "second"}, ExecuteOptions{}.timeout(60s));
    EXPECT_FALSE(has_line(r.out, "INJECTED")) << "[" << arg << "] ran a command:\n" << r.out;
    EXPECT_TRUE(has_line(r.out, "[second]")) << "[" << arg << "] moved the next argument:\n"
                                             << r.out;
  }
}

TEST_F(WinSpawn, BatchFileFoundByNameAndThroughTrailingDots) {
  TempDir dir;
  const auto bat = write_batch(dir, "named.cmd");
  // Found in PATH through PATHEXT, and run through cmd.exe.
  const auto r =
      execute({"named", "one"}, ExecuteOptions{}
                                    .spawn(safeexec::SpawnOptions{}.addl_env({{"PATH", dir.str()}}))
                                    .timeout(60s));
  EXPECT_TRUE(has_line(r.out, "[one]")) << r.out;
  // "named.cmd." is named.cmd to Windows: still recognised as a batch file.
  const auto t = execute({bat.string() + ".", "two"}, ExecuteOptions{}.timeout(60s));
  EXPECT_TRUE(has_line(t.out, "[two]")) << t.out;
  // What cannot be said to cmd.exe safely is refused before anything starts.
  EXPECT_THROW((void)execute({bat.string(), "a\nb"}), safeexec::InvalidArgument);
}

TEST_F(WinSpawn, BatchPercentNamesDoNotExpand) {
  SAFEEXEC_SKIP_UNDER_WINE("Wine's cmd.exe expands %VAR% a second time inside a batch parameter");
  TempDir dir;
  const auto bat = write_batch(dir, "pct.bat");
  const auto r =
      execute({bat.string(), "%SAFEEXEC_SECRET%", "!SAFEEXEC_SECRET!"},
              ExecuteOptions{}
                  .spawn(safeexec::SpawnOptions{}.addl_env({{"SAFEEXEC_SECRET", "leaked"}}))
                  .timeout(60s));
  EXPECT_EQ(r.out.find("leaked"), std::string::npos) << r.out;
  EXPECT_TRUE(has_line(r.out, "[%SAFEEXEC_SECRET%]")) << r.out;
}

}  // namespace

// Issue 19: the POSIX-only containment options have no Windows meaning and
// are refused by name before anything starts, as keep_fd() is (the cgroup
// limits map to the job: test_win_containment).
TEST_F(WinSpawn, PosixContainmentOptionsAreRefusedNamingTheOption) {
  using safeexec::Containment;
  const std::vector<std::pair<Containment, std::string>> cases = {
      {Containment{}.rlimit(0, 1, 1), "rlimit()"},
      {Containment{}.umask(022), "umask()"},
      {Containment{}.no_new_privs(true), "no_new_privs()"},
      {Containment{}.parent_death_signal(15), "parent_death_signal()"},
      {Containment{}.setsid(true), "setsid()"},
      {Containment{}.credentials({1, 1, {}}), "credentials()"},
  };
  for (const auto& [c, name] : cases) {
    SCOPED_TRACE(name);
    try {
      (void)safeexec::create_process(child_cmd({"exit", "0"}),
                                     safeexec::SpawnOptions{}.containment(c));
      ADD_FAILURE() << "accepted";
    } catch (const safeexec::InvalidArgument& e) {
      EXPECT_NE(std::string(e.what()).find(name), std::string::npos) << e.what();
    }
  }
}
